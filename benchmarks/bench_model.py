"""BAFE-Net presets side by side: parameters, FLOPs (torch.utils.flop_counter) and CPU latency.

Usage: python benchmarks/bench_model.py [--threads 2] [--size 640x512] [--runs 5] [--weights FILE]
Prints one row per preset (default, paper-r18) plus, with --weights, the end-to-end Predictor
latency (reading normalisation, network, decoding, NMS, sky map) of a trained model.
Goal: the default preset >= 4 images/s at 640x512 on 2 threads.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from model.config import PRESETS, preset  # noqa: E402
from model.net import BafeNet  # noqa: E402


def measure(name: str, h: int, w: int, runs: int) -> dict:
    net = BafeNet(preset(name)).eval()
    x = torch.rand(1, 1, h, w)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            net(x)
        net(x)  # warm-up
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - t)
    params = sum(p.numel() for p in net.parameters())
    med = float(np.median(times))
    return {"preset": name, "params_M": params / 1e6, "GFLOPs": counter.get_total_flops() / 1e9,
            "latency_ms": med * 1000, "img_per_s": 1 / med, "weights_MB": params * 4 / 2**20}


def predictor_latency(weights: Path, h: int, w: int, runs: int, threads: int) -> float:
    from model.inference import Predictor

    pred = Predictor(weights, threads=threads)
    img = (np.random.default_rng(0).random((h, w)) * 255).astype(np.uint8)
    pred.predict(img)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        pred.predict(img)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", default="640x512", help="WxH")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--weights", type=Path, help="also time the Predictor with these weights")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.lower().split("x"))
    print(f"BAFE-Net presets at {w}x{h}, {args.threads} threads, median of {args.runs} runs (network only)")
    print(f"{'preset':<11}{'params':>9}{'GFLOPs':>9}{'weights':>10}{'latency':>11}{'img/s':>8}")
    for name in PRESETS:
        r = measure(name, h, w, args.runs)
        print(f"{r['preset']:<11}{r['params_M']:>8.2f}M{r['GFLOPs']:>9.1f}{r['weights_MB']:>8.1f}MB"
              f"{r['latency_ms']:>9.0f}ms{r['img_per_s']:>8.2f}")
    if args.weights is not None:
        t = predictor_latency(args.weights, h, w, args.runs, args.threads)
        print(f"Predictor end to end ({args.weights.name}): {t * 1000:.0f} ms = {1 / t:.2f} img/s")


if __name__ == "__main__":
    main()
