"""What a fine-tune does with its parent's rescorer (ADR 0042), and the counting it rests on.

``choose`` picks, on a network's validation frames, between its own scores, the parent's rescorer
as it is and one refitted towards it, two-fold. ``model.validate`` calls it after each epoch;
``python -m model.rescore_fit`` (which fits a shipped file's rescorer) shares the frame records and
the counting. No inference here: the callers run the network.
"""

from __future__ import annotations

import dataclasses
import hashlib
from enum import StrEnum

import numpy as np

from core.effort import MATCH_PX, image_corrections, least_corrections_threshold
from model import rescore


def target_labels(gt: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """bool [N]: the candidates that are a true target's match (best score first, within 3 px)."""
    y = np.zeros(len(boxes), bool)
    if not len(gt) or not len(boxes):
        return y
    centre = lambda b: np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)  # noqa: E731
    dist = np.linalg.norm(centre(np.asarray(gt, np.float64))[:, None] - centre(np.asarray(boxes, np.float64))[None], axis=2)
    taken = np.zeros(len(gt), bool)
    for j in np.argsort(-np.asarray(scores), kind="stable"):
        free = np.where(~taken & (dist[:, j] <= MATCH_PX))[0]
        if len(free):
            taken[free[np.argmin(dist[free, j])]] = True
            y[j] = True
    return y


@dataclasses.dataclass
class Frame:
    image_id: str
    gt: np.ndarray
    boxes: np.ndarray  # as predict writes them (rounded)
    scores: np.ndarray
    feats: np.ndarray
    labels: np.ndarray


def corrections(frames: list[Frame], scores: list[np.ndarray], threshold: float) -> dict[str, float]:
    """Target corrections per image (deletes, adds, box fixes, their sum) and the share of frames
    whose targets are right as proposed."""
    rows = [image_corrections(fr.gt, fr.boxes[s >= threshold], None, None)
            for fr, s in zip(frames, scores, strict=True)]
    d, a, f = (sum(getattr(r, k) for r in rows) for k in ("deletes", "adds", "box_fixes"))
    right = sum(r.actions == 0 for r in rows)
    n = max(len(frames), 1)
    return {"deletes": round(d / n, 3), "adds": round(a / n, 3), "box_fixes": round(f / n, 3),
            "targets": round((d + a + f) / n, 3), "targets_right": round(right / n, 3), "threshold": round(threshold, 4)}


def half_of(image_id: str) -> int:
    return int(hashlib.sha1(image_id.encode()).hexdigest(), 16) % 2


class Carry(StrEnum):
    """What a fine-tune does with its parent's rescorer (ADR 0042)."""

    NONE = "none"  # the network's own scores
    PARENT = "parent"  # the parent's rescorer as it is
    REFIT = "refit"  # refitted on the validation frames, pulled towards the parent's


@dataclasses.dataclass(frozen=True)
class Choice:
    kind: Carry
    rescore: tuple[float, ...]  # () for Carry.NONE
    threshold: float  # least corrections on every validation frame, of the scores the kind gives
    two_fold: dict[str, float]  # target corrections per image of each kind, out of fold


RESCORER = "rescorer"  # model.validate's one non-numeric entry: the rescorer it chose (ADR 0042)
PRIOR_RIDGE = 0.1  # benchmarks/rescore_prior_study.py: 0.03-0.3 alike from 16 frames on; smaller ones drift
MIN_FRAMES_TO_SPLIT = 4  # fewer validation frames: no two-fold check, the parent's rescorer if any


def _scores(coef: tuple[float, ...], frames: list[Frame]) -> list[np.ndarray]:
    return [rescore.apply(coef, f.feats) if coef else f.scores for f in frames]


def _coef(kind: Carry, frames: list[Frame], prior: tuple[float, ...]) -> tuple[float, ...]:
    if kind == Carry.NONE:
        return ()
    if kind == Carry.PARENT:
        return tuple(prior)
    labels = np.concatenate([f.labels for f in frames]) if frames else np.zeros(0, bool)
    if not labels.any() or labels.all():  # nothing to fit: the parent's
        return tuple(prior)
    return rescore.fit(np.concatenate([f.feats for f in frames]), labels, ridge=PRIOR_RIDGE, prior=prior)


def choose(frames: list[Frame], prior: tuple[float, ...] | list[float]) -> Choice:
    """A fine-tuned network's rescorer, chosen on its validation frames: its own scores, the
    parent's rescorer (``prior``) as it is, or one refitted towards it. Each kind is counted two-fold
    (fitted and thresholded on one half of the frames by the SHA-1 of their id, counted on the
    other); the fewest target corrections win, ties going to the parent's, then to none (a refit
    must do better than both). Without a parent's rescorer: none. With fewer than
    MIN_FRAMES_TO_SPLIT frames: the parent's."""
    prior = tuple(float(v) for v in prior)
    kinds = [Carry.PARENT, Carry.NONE, Carry.REFIT] if prior else [Carry.NONE]  # the order breaks ties
    halves = [[f for f in frames if half_of(f.image_id) == h] for h in (0, 1)]
    out_of_fold = {k.value: 0.0 for k in kinds}
    if len(kinds) > 1 and len(frames) >= MIN_FRAMES_TO_SPLIT and all(halves):
        for h in (0, 1):
            fit_on, test = halves[1 - h], halves[h]
            for k in kinds:
                coef = _coef(k, fit_on, prior)
                thr = least_corrections_threshold([f.gt for f in fit_on], [(f.boxes, s) for f, s in zip(fit_on, _scores(coef, fit_on), strict=True)])
                out_of_fold[k.value] += corrections(test, _scores(coef, test), thr)["targets"] * len(test) / len(frames)
        kind = min(kinds, key=lambda k: (round(out_of_fold[k.value], 6), kinds.index(k)))
    else:
        kind = kinds[0]
    coef = _coef(kind, frames, prior)
    thr = least_corrections_threshold([f.gt for f in frames], [(f.boxes, s) for f, s in zip(frames, _scores(coef, frames), strict=True)])
    return Choice(kind, coef, float(thr), {k: round(v, 4) for k, v in out_of_fold.items()})
