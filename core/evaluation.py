"""Scores of a prediction folder (what ``main.py predict`` writes) against a DenseSIRST split.

Shared by ``main.py evaluate`` and the model card (model/model_card.py), so both report the same
figures from the same files. Definitions in core/metrics.py.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

CSV_HEADER = ["image_id", "xmin", "ymin", "xmax", "ymax", "score"]


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


def load_predictions(gt_root: Path, split: str, pred_dir: Path) -> tuple[list, list, list, list, list, list]:
    """Per image of the split: true boxes, scored detections (detections.csv), kept boxes (the
    BBox XMLs), and for images with a sky label the predicted and true sky masks; plus the ids
    without a prediction XML."""
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

    gts, dets, kept, sky_pred, sky_gt, missing = load_predictions(gt_root, split, pred_dir)
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
    res.update(sky_spread(sky_pred, sky_gt))
    return res


LARGE_FRAME = (1024, 1280)  # (H, W): DenseSIRST's large frames, whose sky is reported on its own


def sky_spread(preds: list[np.ndarray], gts: list[np.ndarray]) -> dict:
    """sky_median: the median per-image IoU (an image with neither sky nor predicted sky counts 1);
    sky_large: the IoU pooled over the 1280x1024 frames (None when there are none)."""
    if not gts:
        return {"sky_median": None, "sky_large": None}
    from core import metrics

    per = [metrics.sky_iou([p], [g]) for p, g in zip(preds, gts, strict=True)]
    large = [(p, g) for p, g in zip(preds, gts, strict=True) if np.shape(g) == LARGE_FRAME]
    return {"sky_median": float(np.median(per)),
            "sky_large": metrics.sky_iou(*map(list, zip(*large, strict=True))) if large else None}
