"""Scores of a prediction folder (what ``main.py predict`` writes) against a DenseSIRST split.

Shared by ``main.py evaluate`` and the model card (model/model_card.py), so both report the same
figures from the same files; training validation (model/validate.py) scores its predictions in
memory with the same ``score``, after the same rounding as the files (``as_written``,
``kept_boxes``), so its figures are exactly those of ``predict`` + ``evaluate`` (docs/adr/0021).
Definitions in core/metrics.py.
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


def score(gts: list[np.ndarray], dets: list[tuple[np.ndarray, np.ndarray]], kept: list[np.ndarray],
          sky: list[tuple[int, int, tuple[int, ...]]], iou: float = 0.5) -> dict:
    """Every metric of predictions in the form ``main.py predict`` writes them (``as_written`` /
    ``kept_boxes``): per image the true boxes, the scored detections, the boxes kept at the operating
    threshold, and for images with a sky label the ``sky_count`` of the predicted mask. Keys as
    ``compute``; ``main.py evaluate`` and training validation (model/validate.py) both call this."""
    from core import metrics

    res: dict = {"images": len(gts), "targets": int(sum(len(g) for g in gts))}
    for suffix, legacy in (("", True), ("_plain", False)):
        d = metrics.evaluate_detections(gts, dets, iou, legacy)
        pd, fa = metrics.pd_fa_iou(gts, kept, iou, legacy)
        res.update({f"mAP07{suffix}": d.mAP07, f"mAP12{suffix}": d.mAP12, f"recall{suffix}": d.recall,
                    f"pd_iou{suffix}": pd, f"fa_per_image_iou{suffix}": fa})
    res["iou"] = iou
    res["centre_px"] = metrics.CENTRE_DIST_PX
    res["pd"], res["fa_per_image"] = metrics.pd_fa(gts, kept)
    res.update(sky_figures(sky))
    return res


def compute(gt_root: Path, split: str, pred_dir: Path, iou: float = 0.5) -> dict:
    """Every metric, keyed by name (legacy widths unsuffixed, plain widths with ``_plain``; Pd / FA by
    centre distance, which does not depend on the widths, and by IoU with ``_iou``)."""
    gts, dets, kept, sky_pred, sky_gt, missing = load_predictions(gt_root, split, pred_dir)
    res = score(gts, dets, kept, [sky_count(p, g) for p, g in zip(sky_pred, sky_gt, strict=True)], iou)
    res["missing_predictions"] = len(missing)
    return res


LARGE_FRAME = (1024, 1280)  # (H, W): DenseSIRST's large frames, whose sky is reported on its own


def sky_count(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, tuple[int, ...]]:
    """(intersection, union, shape) of one image's predicted and true sky (bool masks)."""
    p, g = np.asarray(pred, bool), np.asarray(gt, bool)
    if p.shape != g.shape:
        raise ValueError(f"sky mask shape {p.shape} differs from ground truth {g.shape}")
    return int(np.count_nonzero(p & g)), int(np.count_nonzero(p | g)), g.shape


def sky_figures(counts: list[tuple[int, int, tuple[int, ...]]]) -> dict:
    """sky_iou: pooled over the images (1 when nothing is sky in either); sky_median: the median
    per-image IoU (an image with neither sky nor predicted sky counts 1); sky_large: pooled over
    the 1280x1024 frames (None when there are none). All None without sky labels."""
    if not counts:
        return {"sky_iou": None, "sky_median": None, "sky_large": None}

    def pooled(rows: list[tuple[int, int, tuple[int, ...]]]) -> float:
        inter, union = sum(r[0] for r in rows), sum(r[1] for r in rows)
        return inter / union if union else 1.0

    large = [r for r in counts if tuple(r[2]) == LARGE_FRAME]
    return {"sky_iou": pooled(counts), "sky_median": float(np.median([pooled([r]) for r in counts])),
            "sky_large": pooled(large) if large else None}


def detection_rows(image_id: str, boxes: np.ndarray, scores: np.ndarray) -> list[str]:
    """One image's ``detections.csv`` rows: coordinates to 0.01 px, scores to 1e-5."""
    return [f"{image_id},{b[0]:.2f},{b[1]:.2f},{b[2]:.2f},{b[3]:.2f},{s:.5f}"
            for b, s in zip(np.asarray(boxes).reshape(-1, 4).tolist(), np.asarray(scores).reshape(-1).tolist(),
                            strict=True)]


def as_written(boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(boxes [N, 4], scores [N]) float64 as ``detections.csv`` gives them back (``detection_rows``
    parsed), so scoring predictions in memory gives exactly the figures of the written file."""
    vals = [[float(v) for v in row.split(",")[1:]] for row in detection_rows("", boxes, scores)]
    arr = np.asarray(vals, np.float64).reshape(-1, 5)
    return arr[:, :4], arr[:, 4]


def rounded_boxes(boxes) -> list[tuple[float, float, float, float]]:
    """Boxes rounded to the nearest pixel edges, at least one pixel wide and high (the integer
    coordinates of the ``SIRST/BBox`` XMLs ``main.py predict`` writes)."""
    out = []
    for x0, y0, x1, y1 in np.asarray(boxes).reshape(-1, 4).tolist():
        a, b = round(float(x0)), round(float(y0))
        out.append((a, b, max(round(float(x1)), a + 1), max(round(float(y1)), b + 1)))
    return out


def kept_boxes(boxes: np.ndarray, scores: np.ndarray, operating_threshold: float) -> np.ndarray:
    """float64 [K, 4]: the boxes scoring >= the operating threshold as the BBox XML holds them."""
    keep = np.asarray(scores) >= operating_threshold
    return np.asarray(rounded_boxes(np.asarray(boxes).reshape(-1, 4)[keep]), np.float64).reshape(-1, 4)
