"""Validation of a network on whole labelled images: detection metrics, Pd/FA at the operating
threshold chosen here (best F1), and sky IoU at the sky-probability threshold chosen here."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from core import metrics
from core.effort import least_corrections_threshold
from model.config import BafeConfig
from model.data import SKY_IGNORE, Sample
from model.inference import infer_image

SKY_THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def sky_iou_counts(prob: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """[len(SKY_THRESHOLDS), 2] sky intersection and union of prob >= t for every threshold t
    (one pass: prob >= t is the count of pixels at or above t, so I(t) = #(gt, p >= t) and
    U(t) = #gt + #(not gt, p >= t))."""
    bins = np.searchsorted(SKY_THRESHOLDS, prob.ravel(), side="right")  # number of thresholds <= p
    n = len(SKY_THRESHOLDS) + 1
    g = gt.ravel()
    above_gt = np.cumsum(np.bincount(bins[g], minlength=n)[::-1])[::-1]  # [k]: p >= SKY_THRESHOLDS[k-1]
    above_bg = np.cumsum(np.bincount(bins[~g], minlength=n)[::-1])[::-1]
    out = np.zeros((len(SKY_THRESHOLDS), 2), np.int64)
    out[:, 0] = above_gt[1:]
    out[:, 1] = int(np.count_nonzero(g)) + above_bg[1:]
    return out


def best_sky_threshold(counts: np.ndarray) -> dict[str, float]:
    """The sky-probability threshold with the best pooled IoU, and that IoU (0 without sky labels)."""
    iou = counts[:, 0] / np.maximum(counts[:, 1], 1)
    if counts[:, 1].sum() == 0:
        return {"sky_iou": 0.0, "sky_threshold": 0.5}
    i = int(np.argmax(iou))
    return {"sky_iou": float(iou[i]), "sky_threshold": float(SKY_THRESHOLDS[i])}


LARGE_FRAME = (1024, 1280)  # (H, W) of the frames the issue-12 bar is measured on separately


class SkyScores:
    """Per-image sky intersection / union / size, rings and vertices -> the figures of the sky bars."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, tuple[int, int], int, int]] = []

    def add(self, pred: np.ndarray, gt: np.ndarray, rings: int = 0, vertices: int = 0) -> None:
        inter, union = np.count_nonzero(pred & gt), np.count_nonzero(pred | gt)
        self.rows.append((inter, union, tuple(gt.shape), rings, vertices))

    def summary(self) -> dict[str, float]:
        """sky_iou (pooled), sky_median (per image; an image with neither sky nor prediction counts 1),
        sky_large (pooled over the 1280x1024 frames) and sky_large_mean, rings / vertices per image."""
        if not self.rows:
            return {}
        inter = np.array([r[0] for r in self.rows], np.float64)
        union = np.array([r[1] for r in self.rows], np.float64)
        per = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        large = np.array([r[2] == LARGE_FRAME for r in self.rows])
        out = {"sky_iou": float(inter.sum() / max(union.sum(), 1)), "sky_median": float(np.median(per)),
               "sky_images": len(self.rows)}
        if large.any():
            out["sky_large"] = float(inter[large].sum() / max(union[large].sum(), 1))
            out["sky_large_mean"] = float(per[large].mean())
        out["rings"] = float(np.mean([r[3] for r in self.rows]))
        out["vertices"] = float(np.mean([r[4] for r in self.rows]))
        return out


def validate(
    net: torch.nn.Module, cfg: BafeConfig, samples: list[Sample], stop: Callable[[], bool] | None = None
) -> dict[str, float] | None:
    """mAP07, mAP12, recall (legacy widths), sky_iou, pd, fa_per_image (centre within 3 px),
    pd_iou, fa_per_image_iou (IoU >= 0.5), the operating threshold
    (best F1) and the sky threshold (best IoU); None when ``stop()`` turned true midway."""
    was_training = net.training
    net.eval()
    gts, dets = [], []
    sky_counts = np.zeros((len(SKY_THRESHOLDS), 2), np.int64)  # pooled (intersection, union) per threshold
    sky_maps: list[tuple[np.ndarray, np.ndarray]] = []  # (prob as uint8, gt) for the clean-up figures
    for s in samples:
        if stop is not None and stop():
            net.train(was_training)
            return None
        boxes, scores, sky = infer_image(net, cfg, s.image)
        gts.append(s.boxes)
        dets.append((boxes, scores))
        if (s.sky != SKY_IGNORE).all():
            sky_counts += sky_iou_counts(sky, s.sky == 1)
            sky_maps.append((np.round(sky * 255).astype(np.uint8), s.sky == 1))
    net.train(was_training)
    det = metrics.evaluate_detections(gts, dets)
    thr = least_corrections_threshold(gts, dets)  # the annotator's operating point, not the best F1
    kept = [b[sc >= thr] for b, sc in dets]
    pd, fa = metrics.pd_fa(gts, kept)
    pd_iou, fa_iou = metrics.pd_fa_iou(gts, kept)
    sky = best_sky_threshold(sky_counts)
    return {
        "mAP07": det.mAP07,
        "mAP12": det.mAP12,
        "recall": det.recall,
        **sky,
        **proposal_scores(sky_maps, sky["sky_threshold"], cfg),
        "pd": pd,
        "fa_per_image": fa,
        "pd_iou": pd_iou,
        "fa_per_image_iou": fa_iou,
        "threshold": float(np.round(thr, 4)),
    }


def proposal_scores(maps: list[tuple[np.ndarray, np.ndarray]], threshold: float, cfg: BafeConfig) -> dict:
    """Figures of the sky proposals as the annotator gets them (clean-up of the config applied):
    sky_clean_iou, sky_median, sky_large (1280x1024 frames), rings and vertices per image."""
    from core.geometry import ring_stats
    from model.sky import sky_proposal

    scores = SkyScores()
    for p8, gt in maps:
        mask = sky_proposal(p8.astype(np.float32) / 255.0, threshold, cfg)
        scores.add(mask, gt, *ring_stats(mask))
    out = scores.summary()
    if not out:
        return {}
    out["sky_clean_iou"] = out.pop("sky_iou")
    out.pop("sky_images", None)
    out.pop("sky_large_mean", None)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m model.validate WEIGHTS [--set sky_pass_long_side=384 ...]``: validate() of a weights
    file on a DenseSIRST split, with optional config overrides (sky pass, clean-up), as JSON on stdout."""
    import argparse
    import dataclasses
    import json
    from pathlib import Path

    from model.checkpoint import build_from_weights
    from model.data import load_densesirst

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("weights", type=Path)
    ap.add_argument("--data", type=Path, required=True, help="DenseSIRST root")
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (JSON value)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--every", type=int, default=1, metavar="N",
                    help="validate on every N-th image of the split (in split order; 1: all)")
    args = ap.parse_args(argv)
    if args.every < 1:
        ap.error(f"--every {args.every}: must be >= 1")
    torch.set_num_threads(args.threads)
    net, cfg, _ = build_from_weights(args.weights)
    over = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    cfg = dataclasses.replace(cfg, **over)
    samples = load_densesirst(args.data, args.split, every=args.every)
    res = validate(net, cfg, samples)
    print(json.dumps({"weights": str(args.weights), "split": args.split, "every": args.every,
                      "images": len(samples), "overrides": over, **(res or {})}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
