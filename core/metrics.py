"""Detection and segmentation metrics (numpy only, so the GUI can use them).

Boxes are (x1, y1, x2, y2) in the DenseSIRST convention. ``legacy=True`` measures widths as
x2 - x1 + 1 (as the paper's evaluation code does; it matters a lot for 3x3 boxes), ``legacy=False``
uses plain widths x2 - x1. A detection is a true positive when its IoU with a not-yet-matched
ground-truth box of its image is >= the IoU threshold (detections taken best score first, VOC style).

- mAP07: VOC 2007 11-point interpolated AP; mAP12: area under the interpolated PR curve.
- recall: recall over all detections given (the final point of the PR curve).
- Pd / FA (the infrared small-target convention, as the field's papers and our referee count them):
  a kept detection (at the operating threshold) finds a target when its box centre lies within
  3 px (Euclidean, inclusive) of the target's box centre, one to one; Pd = found targets / targets,
  FA/img = kept detections that found none, per image (``pd_fa``). Targets are served in the order
  of their nearest detection's distance, each taking its nearest free detection
  (/work/shared/tools/effort.py counts the same way).
- Pd@IoU0.5 / FA@IoU0.5: the same with a VOC IoU >= 0.5 match instead (``pd_fa_iou``).
- sky IoU: intersection over union of sky pixels summed over all images with a sky label.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray, legacy: bool = True) -> np.ndarray:
    """IoU matrix [N, M] between boxes a [N, 4] and b [M, 4]."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    extra = 1.0 if legacy else 0.0
    area_a = (a[:, 2] - a[:, 0] + extra) * (a[:, 3] - a[:, 1] + extra)
    area_b = (b[:, 2] - b[:, 0] + extra) * (b[:, 3] - b[:, 1] + extra)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + extra
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + extra
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match_image(
    gt: np.ndarray, boxes: np.ndarray, scores: np.ndarray, iou_thr: float = 0.5, legacy: bool = True
) -> np.ndarray:
    """True-positive flags of one image's detections, in the order given (VOC greedy by score)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    tp = np.zeros(len(order), dtype=bool)
    if len(gt) == 0 or len(order) == 0:
        return tp
    iou = box_iou(np.asarray(boxes)[order], gt, legacy)
    taken = np.zeros(len(gt), dtype=bool)
    for rank, row in enumerate(iou):
        j = int(np.argmax(row))
        if row[j] >= iou_thr and not taken[j]:
            taken[j] = True
            tp[order[rank]] = True
    return tp


def voc_ap(recall: np.ndarray, precision: np.ndarray, eleven_point: bool) -> float:
    """AP from a PR curve: 11-point (VOC07) or area under the interpolated curve (VOC12)."""
    if eleven_point:
        pts = [precision[recall >= t].max() if np.any(recall >= t) else 0.0 for t in np.linspace(0, 1, 11)]
        return float(np.mean(pts))
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


@dataclass
class DetectionMetrics:
    mAP07: float
    mAP12: float
    recall: float
    n_gt: int
    n_det: int

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate_detections(
    gts: list[np.ndarray],
    dets: list[tuple[np.ndarray, np.ndarray]],
    iou_thr: float = 0.5,
    legacy: bool = True,
) -> DetectionMetrics:
    """AP (11-point and area) and final recall over a dataset. dets: per image (boxes, scores)."""
    if len(gts) != len(dets):
        raise ValueError(f"{len(gts)} ground-truth images but {len(dets)} detection lists")
    n_gt = int(sum(len(g) for g in gts))
    all_scores, all_tp = [], []
    for gt, (boxes, scores) in zip(gts, dets, strict=True):
        all_tp.append(match_image(np.asarray(gt).reshape(-1, 4), boxes, scores, iou_thr, legacy))
        all_scores.append(np.asarray(scores, np.float64).reshape(-1))
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    tp = np.concatenate(all_tp) if all_tp else np.zeros(0, bool)
    if n_gt == 0 or len(scores) == 0:
        return DetectionMetrics(0.0, 0.0, 0.0, n_gt, len(scores))
    order = np.argsort(-scores, kind="stable")
    ctp = np.cumsum(tp[order])
    recall = ctp / n_gt
    precision = ctp / np.arange(1, len(order) + 1)
    return DetectionMetrics(
        voc_ap(recall, precision, True), voc_ap(recall, precision, False), float(recall[-1]), n_gt, len(scores)
    )


CENTRE_DIST_PX = 3.0  # the field's Pd radius: a predicted centre within 3 px of a true centre


def box_centres(boxes: np.ndarray) -> np.ndarray:
    """[N, 2] (x, y) centres of (x1, y1, x2, y2) boxes (the same with legacy or plain widths)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)


def centre_matches(gt: np.ndarray, boxes: np.ndarray, max_dist: float = CENTRE_DIST_PX) -> np.ndarray:
    """For each ground-truth box, the index of the detection matched to it (-1: missed), one to one
    by centre distance <= max_dist. Targets closest to some detection choose first, each taking its
    nearest free detection (ties: the first detection). Ties between targets are broken by numpy's
    default argsort, as the referee (effort.py) does, so both count the same on every input."""
    gc, pc = box_centres(gt), box_centres(boxes)
    out = np.full(len(gc), -1, dtype=np.int64)
    if len(gc) == 0 or len(pc) == 0:
        return out
    dist = np.linalg.norm(gc[:, None, :] - pc[None, :, :], axis=2)
    free = np.ones(len(pc), dtype=bool)
    for i in np.argsort(dist.min(axis=1)):
        cand = np.flatnonzero(free & (dist[i] <= max_dist))
        if len(cand):
            j = int(cand[np.argmin(dist[i, cand])])
            free[j] = False
            out[i] = j
    return out


def pd_fa(gts: list[np.ndarray], boxes: list[np.ndarray], max_dist: float = CENTRE_DIST_PX) -> tuple[float, float]:
    """(Pd, false alarms per image) of the detections kept at the operating threshold, matched by
    centre distance (the field's definition; ``pd_fa_iou`` for the IoU variant)."""
    n_gt = n_hit = n_det = 0
    for gt, b in zip(gts, boxes, strict=True):
        gt = np.asarray(gt).reshape(-1, 4)
        b = np.asarray(b).reshape(-1, 4)
        hits = int((centre_matches(gt, b, max_dist) >= 0).sum())
        n_gt += len(gt)
        n_hit += hits
        n_det += len(b)
    return (n_hit / n_gt if n_gt else 0.0), ((n_det - n_hit) / len(gts) if gts else 0.0)


def pd_fa_iou(
    gts: list[np.ndarray], boxes: list[np.ndarray], iou_thr: float = 0.5, legacy: bool = True
) -> tuple[float, float]:
    """(Pd@IoU, false alarms per image @IoU) of the kept detections, VOC-matched at IoU >= iou_thr."""
    n_gt = n_hit = n_fa = 0
    for gt, b in zip(gts, boxes, strict=True):
        gt = np.asarray(gt).reshape(-1, 4)
        b = np.asarray(b).reshape(-1, 4)
        tp = match_image(gt, b, np.zeros(len(b)), iou_thr, legacy)
        n_gt += len(gt)
        n_hit += int(tp.sum())
        n_fa += int((~tp).sum())
    return (n_hit / n_gt if n_gt else 0.0), (n_fa / len(gts) if gts else 0.0)


def best_f1_threshold(
    gts: list[np.ndarray], dets: list[tuple[np.ndarray, np.ndarray]], iou_thr: float = 0.5, legacy: bool = True
) -> float:
    """The score threshold that maximises F1 (the operating threshold chosen on validation)."""
    n_gt = int(sum(len(g) for g in gts))
    tps = [match_image(np.asarray(g).reshape(-1, 4), b, s, iou_thr, legacy) for g, (b, s) in zip(gts, dets, strict=True)]
    scores = np.concatenate([np.asarray(s, np.float64).reshape(-1) for _, s in dets]) if dets else np.zeros(0)
    if n_gt == 0 or len(scores) == 0:
        return 0.5
    tp = np.concatenate(tps)
    order = np.argsort(-scores, kind="stable")
    ctp = np.cumsum(tp[order])
    f1 = 2 * ctp / (np.arange(1, len(order) + 1) + n_gt)
    return float(scores[order][int(np.argmax(f1))])


def sky_iou(preds: list[np.ndarray], gts: list[np.ndarray | None]) -> float:
    """Pooled IoU of the sky class over images that have a sky label (bool masks)."""
    inter = union = 0
    for p, g in zip(preds, gts, strict=True):
        if g is None:
            continue
        p, g = np.asarray(p, bool), np.asarray(g, bool)
        if p.shape != g.shape:
            raise ValueError(f"sky mask shape {p.shape} differs from ground truth {g.shape}")
        inter += int(np.logical_and(p, g).sum())
        union += int(np.logical_or(p, g).sum())
    return inter / union if union else 1.0
