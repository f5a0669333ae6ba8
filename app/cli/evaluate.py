"""`main.py evaluate GT_ROOT SPLIT PRED_DIR`: score predictions against DenseSIRST labels.

Ground truth: the split's ``SIRST/BBox`` boxes and ``SkySeg`` masks under GT_ROOT. Predictions (as
written by ``main.py predict``): ``PRED_DIR/detections.csv`` (every scored detection: AP and
recall), ``PRED_DIR/SIRST/BBox/<id>.xml`` (the detections kept at the operating threshold: Pd and
false alarms per image) and ``PRED_DIR/SkySeg/BinaryMask/<id>_pixels0.png`` (sky IoU). AP and recall
are given with legacy (+1) widths, as the paper, and with plain widths. Pd / FA follow the field's
definition (a kept box's centre within 3 px of a target's centre, one to one; keys ``pd``,
``fa_per_image``); the IoU-matched variant is ``pd_iou`` / ``fa_per_image_iou`` (Pd@IoU0.5 /
FA@IoU0.5 at the default ``--iou``). Definitions in core/metrics.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.cli import EXIT_OK, EXIT_USAGE


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="mAP07/mAP12/recall, Pd/FA (centre 3 px; and @IoU) and sky IoU of predictions",
                              description="Evaluate PRED_DIR (from `main.py predict`) on a DenseSIRST split.")
    p.add_argument("gt_root", type=Path, help="DenseSIRST root with the labels")
    p.add_argument("split", help="split name (Splits/<split>.txt), e.g. val_v2")
    p.add_argument("pred_dir", type=Path, help="folder written by `main.py predict`")
    p.add_argument("--iou", type=_unit_interval, default=0.5,
                   help="IoU threshold of a match for AP, recall and Pd@IoU / FA@IoU (default 0.5); "
                        "Pd / FA match by centre distance (3 px)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")
    p.set_defaults(func=run)


def table(res: dict) -> str:
    w = 20
    lines = [f"{'metric':<{w}}{'legacy (+1)':>14}{'plain':>10}"]
    for key in ("mAP07", "mAP12", "recall"):
        lines.append(f"{key:<{w}}{res[key]:>14.4f}{res[key + '_plain']:>10.4f}")
    centre = f"(centre {res['centre_px']:g} px)"
    lines.append(f"{'Pd ' + centre:<{w}}{res['pd']:>14.4f}")
    lines.append(f"{'FA/img ' + centre:<{w}}{res['fa_per_image']:>14.4f}")
    iou = f"@IoU{res['iou']:g}"
    lines.append(f"{'Pd' + iou:<{w}}{res['pd_iou']:>14.4f}{res['pd_iou_plain']:>10.4f}")
    lines.append(f"{'FA/img' + iou:<{w}}{res['fa_per_image_iou']:>14.4f}{res['fa_per_image_iou_plain']:>10.4f}")
    for key in ("sky_iou", "sky_median", "sky_large"):
        v = res[key]
        lines.append(f"{key:<{w}}{'-' if v is None else f'{v:.4f}':>14}")
    lines.append(f"{res['images']} images, {res['targets']} targets, "
                 f"{res['missing_predictions']} images without a prediction XML")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if not args.pred_dir.is_dir():
        print(f"error: {args.pred_dir} is not a folder; run `main.py predict` first", file=sys.stderr)
        return EXIT_USAGE
    from core.evaluation import compute

    res = compute(args.gt_root, args.split, args.pred_dir, args.iou)
    print(json.dumps(res, indent=2) if args.json else table(res))
    return EXIT_OK


def _unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value
