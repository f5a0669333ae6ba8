"""What each post-processing step of ADR 0027 saves the annotator, on a DenseSIRST split.

The shipped network runs once per frame (ONNX Runtime fp32, network boxes down to score 0.05);
each row then re-post-processes its outputs in memory and counts the corrections as
``../shared/tools/effort.py`` does (core.effort: deletes, adds, box fixes, sky edits), with the
boxes rounded as ``predict`` writes them:

1. before: network boxes, the previous best-F1 threshold (0.5827), the 448 px sky pass;
2. + one box per target (centre suppression), least-corrections threshold;
3. + boxes fitted to the target pixels (no suppression), least-corrections threshold;
4. fit, then suppression, least-corrections threshold;
5. 4 + the sky pass at half of a large frame's long side (the shipped configuration).

usage: python benchmarks/corrections_ablation.py [--data ROOT] [--split val_v2] [--weights FILE] [--threads N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.effort import image_corrections, least_corrections_threshold, summarize  # noqa: E402
from core.evaluation import kept_boxes  # noqa: E402
from core.formats.densesirst import image_path, read_boxes, read_split  # noqa: E402
from core.imageio import read_image  # noqa: E402
from model.inference import Predictor, fitted_boxes  # noqa: E402

OLD_THRESHOLD = 0.5827  # the card's best-F1 operating threshold before ADR 0027


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/datasets/DenseSIRST/SIRSTdevkit")
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    p = Predictor(args.weights, threads=args.threads, backend="onnx", fit_to_pixels=False)
    shipped = p.cfg
    coarse = dataclasses.replace(shipped, sky_pass_min_scale=0.0)
    variants = {  # name: (box_fit, centre_nms_px)
        "suppression": (0.0, shipped.centre_nms_px or 4.0),
        "fit": (shipped.box_fit or 0.2, 0.0),
        "fit+suppression": (shipped.box_fit or 0.2, shipped.centre_nms_px or 4.0),
    }
    ids = read_split(args.data, args.split)
    gts, skies, sky_fine, sky_coarse, network, boxes = [], [], [], [], [], {k: [] for k in variants}
    for n, image_id in enumerate(ids, 1):
        img = read_image(image_path(args.data, image_id))
        prepared = p.prepare(img)
        pred = p.finish(prepared, p.run_network(prepared))
        network.append((pred.boxes, pred.scores))
        for name, (fit, radius) in variants.items():
            cfg = dataclasses.replace(shipped, box_fit=fit, centre_nms_px=radius)
            boxes[name].append(fitted_boxes(prepared, pred.boxes, pred.scores, cfg))
        sky_fine.append(pred.sky_mask())
        p.cfg = coarse
        sky_coarse.append(p.predict_sky(img).sky_mask())
        p.cfg = shipped
        boxes_xml = args.data / "SIRST" / "BBox" / f"{image_id}.xml"
        gts.append(np.asarray(read_boxes(boxes_xml, img.shape[1], img.shape[0]), np.float64).reshape(-1, 4))
        skies.append(cv2.imread(str(args.data / "SkySeg" / "BinaryMask" / f"{image_id}_pixels0.png"), cv2.IMREAD_GRAYSCALE) > 127)
        print(f"[{n}/{len(ids)}] {image_id}", file=sys.stderr, flush=True)

    def row(label: str, dets: list, thr: float, sky: list) -> None:
        rows = [image_corrections(g, kept_boxes(b, s, thr), gs, ps)
                for g, (b, s), gs, ps in zip(gts, dets, skies, sky, strict=True)]
        print(json.dumps({"row": label, "threshold": round(thr, 4), **summarize(rows)}), flush=True)

    row("before", network, OLD_THRESHOLD, sky_coarse)
    for name in variants:
        row(f"+ {name}", boxes[name], least_corrections_threshold(gts, boxes[name]), sky_coarse)
    best = boxes["fit+suppression"]
    row("+ fit+suppression, sky at half of large frames", best, least_corrections_threshold(gts, best), sky_fine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
