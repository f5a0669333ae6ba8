"""`predict` per frame against a torchvision ResNet-18 fp32 forward (issue 21's speed bar).

Three interleaved rounds (each round times every row once, so machine load hits all of them
alike); medians; ``speed vs R18`` = ResNet-18 time / row time (the bar: ``predict`` >= 1.5x).

- ``ResNet-18 fp32 forward``: torchvision ``resnet18(weights=None)`` on a [1, 3, 512, 640] tensor,
  eager torch, ``--threads`` intra-op threads, the mean of ``--frames`` forwards per round;
- ``predict pipeline``: what ``main.py predict`` does per 640x512 frame with the model loaded
  (with its lanes: from two threads on, two frames in the network at once, ADR 0033)
  (``app.cli.predict.predict_folder``: PNG read and decode, bad-pixel repair, the detector, the
  448 px mirrored sky pass, decoding / NMS, the cleaned sky mask, the three DenseSIRST files
  written), wall time over ``--frames`` real DenseSIRST frames / frames, default backend;
- with ``--yolo n,s`` (needs ``ultralytics``, e.g. in a separate venv, see resources/models/MODEL.md):
  YOLOv8n / s built from their yaml (random weights: timing only, nothing downloaded), exported to
  a static 640x512 ONNX graph, run in ONNX Runtime with the same session options as ours, each
  frame read from disk, pre-processed (gray -> 3 channels, [0, 1], CHW) and post-processed
  (transpose, score filter, OpenCV NMS).

- after the table, where a frame's CPU time goes, stage by stage (benchmarks/predict_stages.py:
  one thread, ``time.thread_time``, which a loaded machine distorts far less than wall time;
  ``--no-stages`` skips it), with the frames whose sky network took its mirrored look (ADR 0036).

    python benchmarks/bench_predict_vs_resnet.py [--threads 2] [--rounds 3] [--frames 8] [--one-lane] [--spread] [--yolo n,s]

Under 3 minutes on the 2-core machine; ``uptime``'s load is printed before and after, since figures
taken on a loaded machine are ratios at best.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# ../shared beside the checkout (a worktree sits one level deeper): the first ancestor that has it
ROOT = next((a / "shared" / "datasets" / "DenseSIRST" / "SIRSTdevkit" for a in Path(__file__).resolve().parents[1:]
             if (a / "shared" / "datasets" / "DenseSIRST").is_dir()), Path("SIRSTdevkit"))


def load_avg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def frames_640(root: Path, n: int, spread: bool = False) -> list[Path]:
    """n 640x512 frames of the val_v2 split, read from disk by every row: the first n by sorted id
    (two sequences, most of their skies uncertain), or with ``spread`` n evenly spaced over all
    of them (73 frames of many sequences)."""
    import cv2

    ids = (root / "Splits" / "val_v2.txt").read_text().split()
    out = []
    for image_id in sorted(ids):
        path = root / "PNGImages" / f"{image_id}.png"
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is not None and img.shape[:2] == (512, 640):
            out.append(path)
            if len(out) == n and not spread:
                break
    if len(out) < n:
        raise SystemExit(f"only {len(out)} 640x512 val_v2 frames in {root}")
    if spread:
        out = [out[round(i * (len(out) - 1) / max(n - 1, 1))] for i in range(n)]
    return out


class ResNet18:
    def __init__(self, threads: int) -> None:
        import torch
        import torchvision

        self.torch, self.threads = torch, threads
        self.net = torchvision.models.resnet18(weights=None).eval()
        self.x = torch.rand(1, 3, 512, 640)

    def __call__(self, n: int) -> float:
        """Seconds per forward, the mean of n."""
        self.torch.set_num_threads(self.threads)
        t = time.perf_counter()
        with self.torch.inference_mode():
            for _ in range(n):
                self.net(self.x)
        return (time.perf_counter() - t) / n


class PredictPipeline:
    """``predict``'s per-frame work with the model loaded (app.cli.predict.predict_folder)."""

    def __init__(self, threads: int, backend: str | None, frames: list[Path], tmp: Path,
                 lanes: int | None = None) -> None:
        from model.backends import DEFAULT_BACKEND
        from model.inference import Predictor
        from model.pipeline import default_lanes

        # as app.cli.predict builds it (lanes: frames in the network at once, ADR 0033)
        self.predictor = Predictor(threads=threads, backend=backend or DEFAULT_BACKEND,
                                   lanes=default_lanes(threads) if lanes is None else lanes)
        self.todo = [(p.stem, p) for p in frames]
        self.tmp = tmp

    def __call__(self, n: int) -> float:
        from app.cli.predict import ensure_out, predict_folder

        todo = self.todo[:n]
        with tempfile.TemporaryDirectory(dir=self.tmp) as out:
            ensure_out(Path(out))
            t = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()):
                _rows, failed, _pixels = predict_folder(self.predictor, todo, Path(out),
                                                        self.predictor.operating_threshold, 0.05)
            dt = time.perf_counter() - t
        if failed:
            raise SystemExit(f"predict failed on {failed}")
        return dt / len(todo)


class YoloOnnx:
    """YOLOv8 (random weights from its yaml, one class) as a static 640x512 ORT graph, per frame:
    read, pre-process, run, decode and NMS as a YOLO-style ONNX consumer does."""

    def __init__(self, scale: str, threads: int, frames: list[Path], tmp: Path) -> None:
        import yaml
        from ultralytics import YOLO
        from ultralytics.nn.tasks import yaml_model_load

        from model.backends import make_session

        spec = yaml_model_load(f"yolov8{scale}.yaml")  # ships inside the package: nothing downloaded
        spec["nc"] = 1  # one class, "target"
        folder = tmp / f"yolo{scale}"
        folder.mkdir()
        cfg = folder / f"yolov8{scale}.yaml"  # the name tells ultralytics the scale
        cfg.write_text(yaml.safe_dump({k: v for k, v in spec.items() if k not in ("yaml_file", "scale")}))
        # chdir: a model built from a yaml is exported into the working folder
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                contextlib.chdir(folder):
            path = folder / YOLO(str(cfg)).export(format="onnx", imgsz=(512, 640), simplify=False, dynamic=False,
                                                  opset=17)
        self.session = make_session(Path(path).read_bytes(), threads)
        self.input = self.session.get_inputs()[0].name
        self.frames = frames

    def one(self, path: Path) -> int:
        import cv2
        import numpy as np

        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        x = np.ascontiguousarray(img.transpose(2, 0, 1)[None], np.float32) / np.float32(255.0)
        out = self.session.run(None, {self.input: x})[0][0].T  # [N, 4 + classes]
        scores = out[:, 4:].max(axis=1)
        keep = scores >= 0.25
        b, s = out[keep, :4], scores[keep]
        xywh = np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 2], b[:, 3]], axis=1)
        idx = cv2.dnn.NMSBoxes(xywh.tolist(), s.tolist(), 0.25, 0.45)
        return len(idx)

    def __call__(self, n: int) -> float:
        t = time.perf_counter()
        for path in self.frames[:n]:
            self.one(path)
        return (time.perf_counter() - t) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads of every row (predict's default: 2)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=8, help="640x512 frames per round and row")
    ap.add_argument("--backend", choices=["onnx-int8", "onnx", "torch"], default=None,
                    help="predict's backend (default: the app's default)")
    ap.add_argument("--data", type=Path, default=ROOT, help="DenseSIRST root (SIRSTdevkit)")
    ap.add_argument("--one-lane", action="store_true",
                    help="add a row: predict with one frame in the network at a time (before ADR 0033)")
    ap.add_argument("--yolo", default="", help="comma-separated YOLOv8 scales to add (n,s); needs ultralytics")
    ap.add_argument("--no-stages", action="store_true", help="skip the per-stage CPU breakdown")
    ap.add_argument("--spread", action="store_true",
                    help="frames evenly spaced over val_v2's 640x512 frames instead of the first by id")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    import onnxruntime
    import torch

    load_before = load_avg()
    frames = frames_640(args.data, args.frames, args.spread)
    with tempfile.TemporaryDirectory(prefix="bench-r18-") as tmp:
        rows = {"ResNet-18 fp32 forward (yardstick)": ResNet18(args.threads),
                "predict pipeline, per frame": PredictPipeline(args.threads, args.backend, frames, Path(tmp))}
        if args.one_lane:
            rows["predict, one frame at a time"] = PredictPipeline(args.threads, args.backend, frames, Path(tmp), 1)
        for scale in filter(None, args.yolo.split(",")):
            rows[f"YOLOv8{scale} ONNX + pre/post, per frame"] = YoloOnnx(scale, args.threads, frames, Path(tmp))
        backend = rows["predict pipeline, per frame"].predictor.backend.value
        lanes = rows["predict pipeline, per frame"].predictor.lanes
        for fn in rows.values():
            fn(2)  # warm-up: first-run allocations, thread pools, page cache
        times: dict[str, list[float]] = {k: [] for k in rows}
        for _ in range(args.rounds):
            for name, fn in rows.items():
                times[name].append(fn(args.frames))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["ResNet-18 fp32 forward (yardstick)"]
    print(f"640x512, {args.threads} threads, median of {args.rounds} interleaved rounds of {args.frames} frames "
          f"({'spread over' if args.spread else 'the first by id of'} val_v2's 640x512 frames); "
          f"predict backend {backend}, {lanes} lane(s); torch {torch.__version__}, onnxruntime {onnxruntime.__version__}")
    print(f"load average (1/5/15 min) before {load_before}, after {load_avg()}")
    print(f"{'row':<44}{'ms':>8}{'speed vs R18':>14}   rounds (ms)")
    for name, m in med.items():
        rounds = " ".join(f"{1000 * t:.0f}" for t in times[name])
        print(f"{name:<44}{m * 1000:>8.1f}{base / m:>13.2f}x   {rounds}")
    ratio = base / med["predict pipeline, per frame"]
    print(f"predict: {ratio:.2f}x a ResNet-18 forward (bar >= 1.5x: {'met' if ratio >= 1.5 else 'NOT met'})")
    if not args.no_stages:
        from predict_stages import breakdown, print_breakdown

        ms, mirrored = breakdown(args.backend, frames, args.rounds)
        print_breakdown(ms, mirrored, len(frames))
        print(f"load average after the breakdown {load_avg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
