"""Training steps/s of the default BAFE-Net: fp32 eager vs bf16 autocast, each with and without
channels-last memory format, side by side on the same batches (real DenseSIRST crops).

The modes run interleaved in rounds (A B C D A B C D ...) so that load from other work on a shared
machine hits them alike; the figure is the median step time per mode and its ratio to fp32.

    python benchmarks/bench_train_speed.py --steps 6 --rounds 2 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.config import preset  # noqa: E402
from model.data import CropSampler, load_densesirst  # noqa: E402
from model.net import BafeNet  # noqa: E402
from model.train import Precision, train_step  # noqa: E402

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
    batches = [sampler.batch(range(i, i + args.batch), np.random.default_rng(i))
               for i in range(0, len(samples) - args.batch + 1, args.batch)]
    cfg = preset("default")
    nets = {}
    for prec, cl in MODES:
        torch.manual_seed(0)
        net = BafeNet(cfg)
        if cl:
            net = net.to(memory_format=torch.channels_last)
        nets[(prec, cl)] = (net, torch.optim.AdamW(net.parameters(), lr=1e-4))
    times: dict = {m: [] for m in MODES}
    for r in range(args.rounds):
        for mode in MODES:
            net, opt = nets[mode]
            train_step(net, opt, batches[0], cfg, mode[0], mode[1])  # warm-up (allocator, kernels)
            for s in range(args.steps):
                t = time.perf_counter()
                train_step(net, opt, batches[s % len(batches)], cfg, mode[0], mode[1])
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
