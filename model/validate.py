"""Validation of a network on whole labelled images, through the Predictor users run.

``validate`` (after every training epoch) and ``validate_sky`` (train-sky) build a
``Predictor.for_network`` on the network in memory: eager torch on its current weights, with
``predict``'s bad-pixel filter, padding, whole-frame sky pass and fusion, decoding and sky clean-up
(docs/adr/0021). The detections are scored as ``main.py predict`` writes them (core.evaluation:
``as_written``, ``kept_boxes``) by the same ``core.evaluation.score`` that ``main.py evaluate``
runs, so a run's figures are those of the weights it ships: ``predict`` (torch backend) with the
thresholds chosen here, then ``evaluate``, on the same images give the same numbers.

Chosen here: the operating threshold (fewest corrections, rounded to 4 decimals as it is stored),
a fine-tune's rescorer (ADR 0042) and the sky
threshold (best pooled IoU of the uncleaned mask over SKY_THRESHOLDS). ``sky_iou``, ``sky_median``
and ``sky_large`` are those of the cleaned proposal at that threshold (``evaluate``'s);
``sky_iou_raw`` is the best uncleaned IoU.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from core import evaluation
from core.effort import least_corrections_threshold
from model import rescore, rescore_choice
from model.config import BafeConfig
from model.data import SKY_IGNORE, Sample

if TYPE_CHECKING:
    from model.inference import Prediction

SKY_THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)
# The same thresholds as logits, computed as Prediction.sky_mask compares them (logit >= logit(t)).
def _logits(thresholds: list[float]) -> np.ndarray:
    return np.array([np.float32(math.log(t / (1.0 - t))) for t in thresholds], np.float32)


SKY_LOGIT_THRESHOLDS = _logits(SKY_THRESHOLDS.tolist())


def _carried(sky_threshold: float | None) -> dict[str, str]:
    """The Predictor metadata that runs the sky at the threshold the weights will carry (none: 0.5)."""
    return {} if sky_threshold is None else {"sky_threshold": str(float(sky_threshold))}


def sky_iou_counts(prob: np.ndarray, gt: np.ndarray, thresholds: np.ndarray = SKY_THRESHOLDS) -> np.ndarray:
    """[len(thresholds), 2] sky intersection and union of prob >= t for every threshold t (sorted
    ascending; ``prob`` may be a logit map with SKY_LOGIT_THRESHOLDS). One pass: prob >= t is the
    count of pixels at or above t, so I(t) = #(gt, p >= t) and U(t) = #gt + #(not gt, p >= t)."""
    bins = np.searchsorted(thresholds, prob.ravel(), side="right")  # number of thresholds <= p
    n = len(thresholds) + 1
    g = gt.ravel()
    above_gt = np.cumsum(np.bincount(bins[g], minlength=n)[::-1])[::-1]  # [k]: p >= thresholds[k-1]
    above_bg = np.cumsum(np.bincount(bins[~g], minlength=n)[::-1])[::-1]
    out = np.zeros((len(thresholds), 2), np.int64)
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


class SkyScores:
    """Per-image sky intersection / union / size, rings and vertices -> the figures of the sky bars."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, tuple[int, ...], int, int]] = []

    def add(self, pred: np.ndarray, gt: np.ndarray, rings: int = 0, vertices: int = 0) -> None:
        self.rows.append((*evaluation.sky_count(pred, gt), rings, vertices))

    def summary(self) -> dict[str, float]:
        """sky_iou (pooled), sky_median (per image; an image with neither sky nor prediction counts 1),
        sky_large (pooled over the 1280x1024 frames; core.evaluation.sky_figures, as ``evaluate``) and
        sky_large_mean, rings / vertices per image."""
        if not self.rows:
            return {}
        out = {k: v for k, v in evaluation.sky_figures([r[:3] for r in self.rows]).items() if v is not None}
        out["sky_images"] = len(self.rows)
        large = [r for r in self.rows if tuple(r[2]) == evaluation.LARGE_FRAME]
        if large:
            out["sky_large_mean"] = float(np.mean([r[0] / r[1] if r[1] else 1.0 for r in large]))
        out["rings"] = float(np.mean([r[3] for r in self.rows]))
        out["vertices"] = float(np.mean([r[4] for r in self.rows]))
        return out


def sample_pixels(s: Sample) -> np.ndarray:
    """The pixels the Predictor gets for a sample: an 8-bit frame exactly as read (its float image is
    the frame / 255); a 16-bit one as loaded, stretched to [0, 1] (the Predictor stretches again after
    its bad-pixel repair, which gives the stretch of the repaired frame up to float rounding)."""
    if s.raw_max == 255:
        return np.round(s.image * np.float32(255)).astype(np.uint8)
    return s.image


def has_sky_label(s: Sample) -> bool:
    return bool((s.sky != SKY_IGNORE).all())


def sky_figures(preds: list[Prediction], gts: list[np.ndarray], threshold: float | None = None) -> dict[str, float]:
    """Sky threshold (best pooled IoU of the uncleaned mask, ``sky_iou_raw``; ``threshold``: that
    one, kept), then the figures of the cleaned proposal at that threshold exactly as ``predict``
    writes it (``Prediction.sky_mask``): sky_iou, sky_median, sky_large, sky_large_mean, rings and
    vertices per image. Without sky labels: sky_iou 0 at threshold 0.5 (or ``threshold``)."""
    from core.geometry import ring_stats

    if not preds:
        return {"sky_iou": 0.0, "sky_threshold": 0.5 if threshold is None else float(threshold)}
    grid = (SKY_THRESHOLDS, SKY_LOGIT_THRESHOLDS) if threshold is None else \
        (np.array([threshold]), _logits([threshold]))
    counts = np.zeros((len(grid[0]), 2), np.int64)
    for p, gt in zip(preds, gts, strict=True):
        logit = p.sky_logit_map()
        if logit is None:  # no sky head: nothing is sky at any threshold
            logit = np.full(gt.shape, -np.inf, np.float32)
        counts += sky_iou_counts(logit, gt, grid[1])
    best = best_sky_threshold(counts) if threshold is None else \
        {"sky_threshold": float(threshold), "sky_iou": float(counts[0, 0] / max(counts[0, 1], 1))}
    scores = SkyScores()
    for p, gt in zip(preds, gts, strict=True):
        mask = p.sky_mask(best["sky_threshold"])
        scores.add(mask, gt, *ring_stats(mask))
    out = {k: v for k, v in scores.summary().items() if k != "sky_images"}
    return {"sky_iou_raw": best["sky_iou"], "sky_threshold": best["sky_threshold"], **out}


def validate(
    net: torch.nn.Module, cfg: BafeConfig, samples: list[Sample], stop: Callable[[], bool] | None = None,
    sky_threshold: float | None = None,
) -> dict[str, float] | None:
    """mAP07, mAP12, recall (legacy widths), pd, fa_per_image (centre within 3 px), pd_iou,
    fa_per_image_iou (IoU >= 0.5) at the operating threshold chosen here (``threshold``: fewest
    corrections), and the sky figures (``sky_figures``); None when ``stop()`` turned true midway.

    When ``cfg`` has a rescorer (a fine-tune's parent's, ADR 0042), the scores are those of the
    rescorer ``model.rescore_choice.choose`` picks on these samples (none, the parent's, or one
    refitted towards it), and ``model.rescore_choice.RESCORER`` holds ``{"rescore": coefficients ([] for none),
    "carry": the kind, "two_fold": each kind's out-of-fold corrections}`` for the weights file.

    ``sky_threshold``: the one the weights will carry (crop training keeps its parent's): the sky
    runs at it, as ``predict`` will (the mirrored look is taken where the sky is uncertain around
    the threshold, ADR 0036, and the rescorer reads that sky), and its figures are reported at it.
    None: the sky runs at 0.5 and the threshold with the best pooled IoU is chosen."""
    from model.inference import Predictor

    was_training = net.training
    net.eval()
    # The network's own scores first; the rescorer (cfg.rescore: the parent's, for a fine-tune) is
    # chosen on them below, as model.rescore_fit does (ADR 0042).
    predictor = Predictor.for_network(net, dataclasses.replace(cfg, rescore=()), metadata=_carried(sky_threshold))
    carries = bool(cfg.rescore) and predictor.fit_to_pixels  # the Predictor rescoring only fitted boxes
    preds: list[Prediction] = []
    feats: list[np.ndarray] = []
    try:
        for s in samples:
            if stop is not None and stop():
                return None
            prepared = predictor.prepare(sample_pixels(s))
            pred = predictor.finish(prepared, predictor.run_network(prepared))
            preds.append(pred)
            if carries:
                h, w = prepared.size
                feats.append(rescore.features(pred.boxes, pred.scores, prepared.x[0, 0, :h, :w], pred.sky_logit_map()))
    finally:
        net.train(was_training)
    gts = [np.asarray(s.boxes, np.float64).reshape(-1, 4) for s in samples]
    carry: dict = {}
    scored = [(p.boxes, p.scores) for p in preds]
    if carries:
        choice = rescore_choice.choose(_frames(samples, gts, preds, feats), cfg.rescore)
        if choice.rescore:
            # as Predictor.finish rescores: best first, the score floor applied to the new scores
            scored = [rescore.best_first(p.boxes, rescore.apply(choice.rescore, f)) for p, f in zip(preds, feats, strict=True)]
            scored = [(b[s >= cfg.score_thr], s[s >= cfg.score_thr]) for b, s in scored]
        carry = {rescore_choice.RESCORER: {"rescore": list(choice.rescore), "carry": choice.kind.value, "two_fold": choice.two_fold}}
    # the annotator's operating point (fewest corrections), not the best F1; rounded as stored
    thr = round(least_corrections_threshold(gts, scored), 4)
    dets = [evaluation.as_written(b, sc) for b, sc in scored]
    kept = [evaluation.kept_boxes(b, sc, thr) for b, sc in scored]
    det = evaluation.score(gts, dets, kept, [])
    labelled = [(p, s.sky == 1) for p, s in zip(preds, samples, strict=True) if has_sky_label(s)]
    sky = sky_figures([p for p, _ in labelled], [g for _, g in labelled], sky_threshold)
    keys = ("mAP07", "mAP12", "recall", "pd", "fa_per_image", "pd_iou", "fa_per_image_iou")
    return {**{k: det[k] for k in keys}, **sky, "threshold": float(thr), **carry}


def _frames(samples: list[Sample], gts: list[np.ndarray], preds: list[Prediction],
            feats: list[np.ndarray]) -> list[rescore_choice.Frame]:
    """The validation frames as model.rescore_fit counts them (boxes rounded as written)."""
    from core.evaluation import rounded_boxes

    return [rescore_choice.Frame(s.name, gt, np.asarray(rounded_boxes(p.boxes), np.float64).reshape(-1, 4),
                              p.scores.astype(np.float64), f, rescore_choice.target_labels(gt, p.boxes, p.scores))
            for s, gt, p, f in zip(samples, gts, preds, feats, strict=True)]


def validate_sky(sky_net: torch.nn.Module, cfg: BafeConfig, samples: list[Sample],
                 sky_threshold: float | None = None) -> dict[str, float]:
    """``sky_figures`` of a whole-frame sky network (model.skynet) alone, through the Predictor's
    ``predict_sky`` (the detector does not run: its sky comes from this network only), on the
    samples with a sky label; ``sky_threshold`` as in ``validate`` (None: chosen)."""
    from model.inference import Predictor

    holder = torch.nn.Module()  # the Predictor finds the sky network as ``net.sky_net``
    holder.sky_net = sky_net
    was_training = sky_net.training
    sky_net.eval()
    try:
        predictor = Predictor.for_network(holder, cfg, metadata=_carried(sky_threshold))
        labelled = [s for s in samples if has_sky_label(s)]
        preds = [predictor.predict_sky(sample_pixels(s)) for s in labelled]
    finally:
        sky_net.train(was_training)
    return sky_figures(preds, [s.sky == 1 for s in labelled], sky_threshold)


def main(argv: list[str] | None = None) -> int:
    """``python -m model.validate WEIGHTS [--set sky_pass_long_side=384 ...]``: validate() of a weights
    file on a DenseSIRST split, with optional config overrides (sky pass, clean-up), as JSON on stdout."""
    import argparse
    import dataclasses
    import json
    from pathlib import Path

    from model.data import load_densesirst
    from model.net import build_from_weights

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
