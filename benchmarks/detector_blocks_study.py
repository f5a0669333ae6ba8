"""What the detector's residual blocks are worth to the annotator (MODEL.md "A lighter detector").

For each weights file (or a training checkpoint, ``RUN/epoch_NNN.pt``) and each set of dropped
blocks, the detector runs on a DenseSIRST split (eager torch, one thread, no rescorer, so every
row is scored alike) and the target corrections per image (deletes + adds + box fixes, as
``../shared/tools/effort.py`` counts them) are printed at the least-corrections threshold, with
mAP07 and Pd / FA (centre within 3 px) there. A dropped block ``L.I`` (layer L, block I) has its
second BatchNorm zeroed: its residual branch adds nothing and the block passes its input on, which
is what a network without it computes (the input is a ReLU output, so the block's own ReLU keeps it).

usage: python benchmarks/detector_blocks_study.py [--weights W ...] [--drop "" 1.1 2.1 3.1 1.1+2.1+3.1] [--every N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import evaluation  # noqa: E402
from core.effort import least_corrections_threshold, target_corrections  # noqa: E402
from model.checkpoint import load_state, load_weights  # noqa: E402
from model.config import BafeConfig  # noqa: E402
from model.data import load_densesirst  # noqa: E402
from model.inference import Predictor  # noqa: E402
from model.net import BafeNet  # noqa: E402
from model.validate import sample_pixels  # noqa: E402

HERE = Path(__file__).resolve().parent.parent
SHIPPED = HERE / "resources/models/bafenet_default.safetensors"


def detector(path: Path) -> tuple[BafeNet, BafeConfig]:
    """The detector of a weights file or a training checkpoint, without its sky network or rescorer."""
    if path.suffix == ".pt":
        state = load_state(path)
        cfg, tensors = BafeConfig.from_json(state["config"]), state["model"]
    else:
        tensors, cfg, _ = load_weights(path)
    cfg = dataclasses.replace(cfg, rescore=(), sky_net=False)
    net = BafeNet(cfg)
    net.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("sky_net.")})
    return net.eval(), cfg


def drop_blocks(net: BafeNet, blocks: list[str]) -> None:
    with torch.no_grad():
        for name in blocks:
            layer, index = (int(v) for v in name.split("."))
            block = net.backbone.layers[layer - 1][index]
            block.bn2.weight.zero_()
            block.bn2.bias.zero_()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=HERE.parent / "shared/datasets/DenseSIRST/SIRSTdevkit")
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--weights", type=Path, nargs="+", default=[SHIPPED])
    ap.add_argument("--drop", nargs="+", default=[""], help='blocks to drop, "+"-joined (layer.block); "" for none')
    ap.add_argument("--every", type=int, default=1, help="every N-th image of the split")
    args = ap.parse_args()
    torch.set_num_threads(1)
    samples = load_densesirst(args.data, args.split, every=args.every)
    gts = [np.asarray(s.boxes, np.float64).reshape(-1, 4) for s in samples]
    pixels = [sample_pixels(s) for s in samples]
    for path in args.weights:
        for drop in args.drop:
            net, cfg = detector(path)
            blocks = [b for b in drop.split("+") if b]
            drop_blocks(net, blocks)
            predictor = Predictor.for_network(net, cfg)
            start, scored = time.perf_counter(), []
            for x in pixels:
                prepared = predictor.prepare(x)
                pred = predictor.finish(prepared, predictor.run_network(prepared))
                scored.append((pred.boxes, pred.scores))
            thr = round(least_corrections_threshold(gts, scored), 4)
            det = evaluation.score(gts, [evaluation.as_written(b, s) for b, s in scored],
                                   [evaluation.kept_boxes(b, s, thr) for b, s in scored], [])
            print(json.dumps({"weights": str(path), "blocks": list(cfg.detector_blocks), "dropped": blocks,
                              "images": len(gts), "target_corrections": round(target_corrections(gts, scored, thr) / len(gts), 3),
                              "threshold": thr, "mAP07": round(det["mAP07"], 4), "pd": round(det["pd"], 4),
                              "fa_per_image": round(det["fa_per_image"], 3), "seconds": round(time.perf_counter() - start)}),
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
