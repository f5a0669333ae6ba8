"""The four losses of a weights file on the same val_v2 crops in fp32 and under bf16 autocast.

    python benchmarks/check_bf16_losses.py [WEIGHTS]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.data import CropSampler, load_densesirst  # noqa: E402
from model.losses import compute_losses  # noqa: E402
from model.net import build_from_weights  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared/datasets/DenseSIRST/SIRSTdevkit"


def main() -> int:
    torch.set_num_threads(1)
    weights = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("resources/models/bafenet_default.safetensors")
    net, cfg, _ = build_from_weights(weights)
    sampler = CropSampler(load_densesirst(DATA, "val_v2")[:16], crop=256, target_bias=0.5)
    print("| batch | loss | fp32 | bf16 autocast |")
    print("|---|---|---|---|")
    for seed in range(2):
        imgs, boxes, sky = sampler.batch(range(seed * 8, seed * 8 + 8), np.random.default_rng(seed))
        with torch.no_grad():
            a = compute_losses(net(imgs), boxes, sky, cfg)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = net(imgs)
            b = compute_losses({k: [t.float() for t in v] for k, v in out.items()}, boxes, sky, cfg)
        for k in a:
            print(f"| {seed} | {k} | {float(a[k]):.4f} | {float(b[k]):.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
