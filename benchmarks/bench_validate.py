"""Time of one validation pass (model.validate.validate, what training runs after every epoch).

Usage: python benchmarks/bench_validate.py [--data DENSESIRST_ROOT] [--every 16] [--threads 2] [--runs 1]
Loads the shipped weights (resources/models/bafenet_default.safetensors) as the training loop holds
its network (in memory, eager torch), takes every N-th val_v2 frame (16 frames at --every 16),
warms up on two of them and prints the median wall and CPU seconds of ``validate`` over --runs
passes, with the figures it gives, as JSON. To compare two trees (before / after a change), run it
alternately from each in one session; under load the wall seconds are not results, the CPU
seconds and the ratio are the better guide.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

DEFAULT_DATA = Path("/work/shared/datasets/DenseSIRST/SIRSTdevkit")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--every", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from model.data import load_densesirst
    from model.net import build_from_weights
    from model.validate import validate

    weights = Path(__file__).resolve().parents[1] / "resources" / "models" / "bafenet_default.safetensors"
    net, cfg, _ = build_from_weights(weights)
    samples = load_densesirst(args.data, "val_v2", every=args.every)
    validate(net, cfg, samples[:2])  # warm-up: allocator, oneDNN kernels
    wall, cpu, res = [], [], {}
    for _ in range(args.runs):
        t, c = time.perf_counter(), time.process_time()
        res = validate(net, cfg, samples) or {}
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    print(json.dumps({"frames": len(samples), "threads": args.threads, "wall_s": round(float(np.median(wall)), 2),
                      "cpu_s": round(float(np.median(cpu)), 2), "load": [round(v, 2) for v in os.getloadavg()],
                      "figures": {k: round(v, 4) for k, v in res.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
