"""Cost of the whole-frame sky pass: the previous setting (long side 320, one look) against the
shipped one (448, frame + mirror), side by side in interleaved rounds (medians), torch eager.

    python benchmarks/bench_sky_pass.py [--threads 2] [--reps 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WEIGHTS = Path(__file__).resolve().parents[1] / "resources" / "models" / "bafenet_default.safetensors"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    import numpy as np
    import torch

    from model.inference import Predictor
    from model.net import build_from_weights
    from model.skynet import SkyNet

    torch.set_num_threads(args.threads)
    net, cfg, _ = build_from_weights(WEIGHTS)
    variants = {}
    for name, side, flip in (("320 x1", 320, False), ("448 x1", 448, False), ("448 + mirror", 448, True)):
        v_cfg = dataclasses.replace(cfg, sky_flip=flip, sky_pass_long_side=side)
        holder = torch.nn.Module()  # the sky network alone: predict_sky never runs the detector
        holder.sky_net = SkyNet(v_cfg)
        holder.sky_net.load_state_dict(net.sky_net.state_dict())
        variants[name] = (Predictor.for_network(holder.eval(), v_cfg, bad_pixel_filter=False), side)
    rng = np.random.default_rng(0)
    for size in ((512, 640), (1024, 1280)):
        image = (rng.random(size) * 255).astype(np.uint8)
        times: dict[str, list[float]] = {k: [] for k in variants}
        for rep in range(args.reps + 1):
            for name, (predictor, _side) in variants.items():
                t = time.perf_counter()
                predictor.predict_sky(image).sky_logit_map()  # the full-size logit, as before
                if rep:  # the first round warms up
                    times[name].append((time.perf_counter() - t) * 1000)
        base = statistics.median(times["320 x1"])
        for name, ts in times.items():
            ms = statistics.median(ts)
            print(f"{size[1]}x{size[0]} {name:13s} {ms:7.1f} ms  ({ms / base:.2f}x the 320 pass)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
