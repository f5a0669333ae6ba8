"""Validation of a network on whole labelled images: detection metrics, Pd/FA at the operating
threshold chosen here (best F1), and sky IoU."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from core import metrics
from model.config import BafeConfig
from model.data import SKY_IGNORE, Sample
from model.inference import infer_image


def validate(
    net: torch.nn.Module, cfg: BafeConfig, samples: list[Sample], stop: Callable[[], bool] | None = None
) -> dict[str, float] | None:
    """mAP07, mAP12, recall (legacy widths), sky_iou, pd, fa_per_image and the threshold used;
    None when ``stop()`` turned true midway."""
    was_training = net.training
    net.eval()
    gts, dets, sky_pred, sky_gt = [], [], [], []
    for s in samples:
        if stop is not None and stop():
            net.train(was_training)
            return None
        boxes, scores, sky = infer_image(net, cfg, s.image)
        gts.append(s.boxes)
        dets.append((boxes, scores))
        labelled = s.sky != SKY_IGNORE
        if labelled.all():
            sky_pred.append(sky >= 0.5)
            sky_gt.append(s.sky == 1)
    net.train(was_training)
    det = metrics.evaluate_detections(gts, dets)
    thr = metrics.best_f1_threshold(gts, dets)
    kept = [b[sc >= thr] for b, sc in dets]
    pd, fa = metrics.pd_fa(gts, kept)
    return {
        "mAP07": det.mAP07,
        "mAP12": det.mAP12,
        "recall": det.recall,
        "sky_iou": metrics.sky_iou(sky_pred, sky_gt) if sky_gt else 0.0,
        "pd": pd,
        "fa_per_image": fa,
        "threshold": float(np.round(thr, 4)),
    }
