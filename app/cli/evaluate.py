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
import csv
import json
import sys
from pathlib import Path

import numpy as np

from app.cli import EXIT_OK, EXIT_USAGE

CSV_HEADER = ["image_id", "xmin", "ymin", "xmax", "ymax", "score"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="mAP07/mAP12/recall, Pd/FA and sky IoU of predictions",
                              description="Evaluate PRED_DIR (from `main.py predict`) on a DenseSIRST split.")
    p.add_argument("gt_root", type=Path, help="DenseSIRST root with the labels")
    p.add_argument("split", help="split name (Splits/<split>.txt), e.g. val_v2")
    p.add_argument("pred_dir", type=Path, help="folder written by `main.py predict`")
    p.add_argument("--iou", type=_unit_interval, default=0.5,
                   help="IoU threshold of a match for AP, recall and Pd@IoU / FA@IoU (default 0.5); "
                        "Pd / FA match by centre distance (3 px)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")
    p.set_defaults(func=run)


def read_detections_csv(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """image_id -> (boxes [N, 4], scores [N]); FormatError naming the line when malformed."""
    from core.errors import FormatError

    if not path.is_file():
        raise FormatError(path, "detections.csv not found; run `main.py predict` into this folder first")
    import io

    from core import fileio

    rows: dict[str, list[list[float]]] = {}
    try:
        text = fileio.read_regular_text(path, fileio.MAX_IMAGE_BYTES)
    except UnicodeDecodeError as exc:
        raise FormatError(path, f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise FormatError(path, f"cannot read the file ({exc.strerror or exc})") from None
    with io.StringIO(text, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != CSV_HEADER:
            raise FormatError(path, f"header is {header}, expected {','.join(CSV_HEADER)}")
        for n, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                values = [float(v) for v in row[1:]]
            except (ValueError, OverflowError):
                raise FormatError(path, f"line {n}: non-numeric value in {row}") from None
            if len(values) != 5 or not np.all(np.isfinite(values)):
                raise FormatError(path, f"line {n}: expected 6 columns of finite numbers, got {row}")
            rows.setdefault(row[0], []).append(values)
    out = {}
    for image_id, vals in rows.items():
        arr = np.asarray(vals, np.float64)
        out[image_id] = (arr[:, :4], arr[:, 4])
    return out


def _load(gt_root: Path, split: str, pred_dir: Path):
    from core.formats.densesirst import (
        BBOX,
        SKY_BIN,
        read_boxes,
        read_mask,
        read_sample,
        read_split,
    )

    scored = read_detections_csv(pred_dir / "detections.csv")
    gts, dets, kept, sky_pred, sky_gt, missing = [], [], [], [], [], []
    for image_id in read_split(gt_root, split):
        s = read_sample(gt_root, image_id)
        gts.append(np.asarray([t.box for t in s.annotation.targets if t.box], np.float64).reshape(-1, 4))
        dets.append(scored.get(image_id, (np.zeros((0, 4)), np.zeros(0))))
        xml = pred_dir / BBOX / f"{image_id}.xml"
        if not xml.exists():
            missing.append(image_id)
        kept.append(np.asarray(read_boxes(xml, s.width, s.height) if xml.exists() else [], np.float64).reshape(-1, 4))
        sky_file = pred_dir / SKY_BIN / f"{image_id}_pixels0.png"
        if s.annotation.sky is not None:
            sky_gt.append(s.annotation.sky)
            sky_pred.append(read_mask(sky_file, s.width, s.height) if sky_file.exists() else np.zeros_like(s.annotation.sky))
    return gts, dets, kept, sky_pred, sky_gt, missing


def compute(gt_root: Path, split: str, pred_dir: Path, iou: float = 0.5) -> dict:
    """Every metric, keyed by name (legacy widths unsuffixed, plain widths with ``_plain``; Pd / FA by
    centre distance, which does not depend on the widths, and by IoU with ``_iou``)."""
    from core import metrics

    gts, dets, kept, sky_pred, sky_gt, missing = _load(gt_root, split, pred_dir)
    res: dict = {"images": len(gts), "targets": int(sum(len(g) for g in gts)), "missing_predictions": len(missing)}
    for suffix, legacy in (("", True), ("_plain", False)):
        d = metrics.evaluate_detections(gts, dets, iou, legacy)
        pd, fa = metrics.pd_fa_iou(gts, kept, iou, legacy)
        res.update({f"mAP07{suffix}": d.mAP07, f"mAP12{suffix}": d.mAP12, f"recall{suffix}": d.recall,
                    f"pd_iou{suffix}": pd, f"fa_per_image_iou{suffix}": fa})
    res["iou"] = iou
    res["centre_px"] = metrics.CENTRE_DIST_PX
    res["pd"], res["fa_per_image"] = metrics.pd_fa(gts, kept)
    res["sky_iou"] = metrics.sky_iou(sky_pred, sky_gt) if sky_gt else None
    return res


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
    sky = res["sky_iou"]
    lines.append(f"{'sky_iou':<{w}}{'-' if sky is None else f'{sky:.4f}':>14}")
    lines.append(f"{res['images']} images, {res['targets']} targets, "
                 f"{res['missing_predictions']} images without a prediction XML")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if not args.pred_dir.is_dir():
        print(f"error: {args.pred_dir} is not a folder; run `main.py predict` first", file=sys.stderr)
        return EXIT_USAGE
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
