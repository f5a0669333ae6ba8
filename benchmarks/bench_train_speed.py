"""Training steps/s of the default BAFE-Net: fp32 eager vs bf16 autocast, each with and without
channels-last memory format, side by side on real DenseSIRST crops, through the training loop's own
step (model/loop.py: forward, backward, clipping, AdamW, schedule) at a fixed place in the run.

The modes run interleaved in rounds (A B C D A B C D ...) so that load from other work on a shared
machine hits them alike; the figure is the median step time per mode and its ratio to fp32.

    python benchmarks/bench_train_speed.py --steps 6 --rounds 2 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.data import CropSampler, load_densesirst  # noqa: E402
from model.device import DeviceChoice, Precision  # noqa: E402
from model.train import TrainOptions, detector_loop  # noqa: E402
from model.validate import validate  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared/datasets/DenseSIRST/SIRSTdevkit"
MODES = [(Precision.FP32, False), (Precision.FP32, True), (Precision.BF16, False), (Precision.BF16, True)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--images", type=int, default=24, help="training images to crop from")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--steps", type=int, default=6, help="timed steps per mode per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    samples = load_densesirst(args.data, "train_v2")[: args.images]
    sampler = CropSampler(samples, crop=args.crop, target_bias=0.5)
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_speed_"))
    loops = {}
    for prec, cl in MODES:
        opts = TrainOptions(out=tmp / f"{prec.value}{int(cl)}", batch=args.batch, crop=args.crop, lr=1e-4,
                            precision=prec, channels_last=cl, device=DeviceChoice.CPU)
        loops[(prec, cl)] = detector_loop(opts, samples, [], sampler, lambda e: None, lambda: False, validate=validate)
    times: dict = {m: [] for m in MODES}
    for r in range(args.rounds):
        for mode in MODES:
            loop = loops[mode]
            loop.step()  # warm-up (allocator, kernels)
            for _ in range(args.steps):  # the same first batch each time (the run's progress stays put)
                t = time.perf_counter()
                loop.step()
                times[mode].append(time.perf_counter() - t)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    base = statistics.median(times[MODES[0]])
    print(f"batch {args.batch} x {args.crop}^2 crops, {args.threads} threads, {args.steps} steps x {args.rounds} rounds")
    print("| mode | s/step (median) | steps/s | speed vs fp32 |")
    print("|---|---|---|---|")
    for prec, cl in MODES:
        med = statistics.median(times[(prec, cl)])
        name = f"{prec.value}{' + channels-last' if cl else ''}"
        print(f"| {name} | {med:.2f} | {1 / med:.3f} | {base / med:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
