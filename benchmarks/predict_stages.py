"""Where a 640x512 frame's CPU time goes in ``predict``, stage by stage (issue 21, ADR 0036).

Each stage of ``predict``'s per-frame work runs on this one thread with one-thread ONNX Runtime
sessions, and ``time.thread_time`` counts only that thread's own CPU time, so the figures survive
a loaded machine far better than wall time (they still grow somewhat with cache and memory
contention). Stages: read (file read + PNG decode), prepare (gray, bad pixels, padding, the
shrunk sky frame), detector (its ORT run), sky (the sky network's runs: one, or two with the
mirrored look), finish (decoding, NMS, box fit, the sky logit upsampled), mask (the cleaned sky
mask at the sky threshold), write (the three DenseSIRST files). Medians over rounds of the mean
per frame.

    python benchmarks/predict_stages.py [--frames 8] [--rounds 3] [--backend onnx-int8] [--spread]

Also used by bench_predict_vs_resnet.py to print the breakdown beside the ratio.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = ("read", "prepare", "detector", "sky", "finish", "mask", "write")


def stage_times(predictor, frames: list[Path], out: Path) -> tuple[dict[str, float], int]:
    """Thread CPU seconds per frame of each stage (the mean over ``frames``) and the number of
    frames whose sky network ran twice (the mirrored look)."""
    from app.cli.predict import write_outputs
    from core.imageio import read_image
    from model.inference import WHOLE_SKY

    sums = dict.fromkeys(STAGES, 0.0)
    mirrored = 0

    def timed(stage: str, fn, *args):
        t = time.thread_time()
        value = fn(*args)
        sums[stage] += time.thread_time() - t
        return value

    for path in frames:
        img = timed("read", read_image, path)
        prepared = timed("prepare", predictor.prepare, img)
        maps = timed("detector", predictor._run, prepared.x)
        if prepared.sky_x is not None and predictor._sky_runner is not None:
            if hasattr(predictor, "sky_logit"):
                sky, both = timed("sky", predictor.sky_logit, prepared)
            else:  # a checkout before ADR 0036 (for side-by-side runs): both looks on every frame
                sky, both = timed("sky", predictor._sky_runner, prepared.sky_x), predictor.cfg.sky_flip
            maps = {**maps, WHOLE_SKY: [sky]}
            mirrored += int(both)
        pred = timed("finish", predictor.finish, prepared, maps, 0.05)
        timed("mask", pred.sky_mask)
        pred._sky_mask = pred.sky_mask()  # write_outputs reuses the cached mask, as in predict
        timed("write", write_outputs, out, path.stem, pred, predictor.operating_threshold)
    return {k: v / len(frames) for k, v in sums.items()}, mirrored


def breakdown(backend: str | None, frames: list[Path], rounds: int) -> tuple[dict[str, float], int]:
    """Median (over ``rounds``) thread CPU ms per frame of each stage, one ORT thread, and the
    frames of one round that took the mirrored sky look."""
    from app.cli.predict import ensure_out
    from model.backends import DEFAULT_BACKEND
    from model.inference import Predictor

    predictor = Predictor(threads=1, backend=backend or DEFAULT_BACKEND)
    runs = []
    mirrored = 0
    with tempfile.TemporaryDirectory(prefix="stages-") as tmp:
        ensure_out(Path(tmp))
        stage_times(predictor, frames[:2], Path(tmp))  # warm-up
        for _ in range(rounds):
            per, mirrored = stage_times(predictor, frames, Path(tmp))
            runs.append(per)
    return {k: 1000 * statistics.median(r[k] for r in runs) for k in STAGES}, mirrored


def print_breakdown(ms: dict[str, float], mirrored: int, frames: int) -> None:
    print(f"CPU ms per 640x512 frame by stage (one thread, time.thread_time; sky mirrored on "
          f"{mirrored}/{frames} frames):")
    print("  " + "  ".join(f"{k} {v:.1f}" for k, v in ms.items()) + f"  | total {sum(ms.values()):.1f}")


def main() -> int:
    from bench_predict_vs_resnet import ROOT, frames_640, load_avg

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--backend", choices=["onnx-int8", "onnx", "torch"], default=None)
    ap.add_argument("--data", type=Path, default=ROOT)
    ap.add_argument("--spread", action="store_true", help="frames spread over val_v2's 640x512 frames")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    before = load_avg()
    frames = frames_640(args.data, args.frames, args.spread)
    ms, mirrored = breakdown(args.backend, frames, args.rounds)
    print(f"load average (1/5/15 min) before {before}, after {load_avg()}")
    print_breakdown(ms, mirrored, len(frames))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
