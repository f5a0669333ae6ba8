"""Sky strokes and sky IoU of weights files on a DenseSIRST split, upright and upside down.

Only the sky network runs (``Predictor.predict_sky``: exactly ``predict``'s sky, docs/adr/0021), so
a candidate sky network is scored in a few minutes instead of a full ``predict``; the detector
(and with it deletes / adds / box fixes) is the same in every file ``train-sky`` writes. Sky edits
are counted as ``../shared/tools/effort.py`` counts them (core.effort: 8-connected regions of the
proposed-vs-true XOR of at least 0.05 % of the frame). ``--vflip`` turns every frame and its mask
upside down first (the robustness check of issue 21: a network that takes "the top" for sky fails).

    python benchmarks/sky_effort.py resources/models/bafenet_default.safetensors runs/skyA/best.safetensors \\
        [--vflip] [--thresholds 0.3 0.4] [--backend torch|onnx] [--threads 1]

Prints one JSON line per weights file (and threshold): sky IoU pooled / per-image median / pooled
over the 1280x1024 frames, sky edits per image (all, 1280x1024 frames, the others) and the share of
frames whose sky needs no edit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.effort import count_regions, min_region_px  # noqa: E402
from model.data import load_densesirst  # noqa: E402
from model.inference import Predictor  # noqa: E402
from model.validate import has_sky_label, sample_pixels  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared/datasets/DenseSIRST/SIRSTdevkit"
LARGE = (1024, 1280)


def sky_scores(masks: list[np.ndarray], gts: list[np.ndarray]) -> dict[str, float]:
    """Pooled / median / large-frame IoU and sky edits of proposed masks against true ones."""
    inter = union = large_i = large_u = 0
    ious, edits, large_edits, small_edits = [], [], [], []
    for m, g in zip(masks, gts, strict=True):
        i, u = int((m & g).sum()), int((m | g).sum())
        inter, union = inter + i, union + u
        ious.append(i / u if u else 1.0)
        e = count_regions(m ^ g, min_region_px(g.shape))
        edits.append(e)
        if g.shape == LARGE:
            large_i, large_u = large_i + i, large_u + u
            large_edits.append(e)
        else:
            small_edits.append(e)
    return {
        "images": len(gts), "sky_iou": round(inter / max(union, 1), 4), "sky_median": round(float(np.median(ious)), 4),
        "sky_large": round(large_i / max(large_u, 1), 4), "sky_edits": round(float(np.mean(edits)), 3),
        "sky_edits_large": round(float(np.mean(large_edits)) if large_edits else 0.0, 3),
        "sky_edits_other": round(float(np.mean(small_edits)) if small_edits else 0.0, 3),
        "sky_right": round(float(np.mean([e == 0 for e in edits])), 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weights", type=Path, nargs="+")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--vflip", action="store_true", help="turn every frame and its mask upside down")
    ap.add_argument("--thresholds", type=float, nargs="*", default=[], help="sky thresholds (default: the file's)")
    ap.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    samples = [s for s in load_densesirst(args.data, args.split) if has_sky_label(s)]
    gts = [(s.sky == 1)[::-1] if args.vflip else s.sky == 1 for s in samples]
    for weights in args.weights:
        p = Predictor(weights, threads=args.threads, backend=args.backend)
        preds = []
        for s in samples:
            pixels = sample_pixels(s)
            preds.append(p.predict_sky(np.ascontiguousarray(pixels[::-1]) if args.vflip else pixels))
        for t in args.thresholds or [p.sky_threshold]:
            masks = [pr.sky_mask(t) for pr in preds]
            row = {"weights": str(weights), "vflip": args.vflip, "threshold": t, **sky_scores(masks, gts)}
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
