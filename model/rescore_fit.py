"""Fit a weights file's rescorer (model.rescore, ADR 0041) on a DenseSIRST split and write it in.

    python -m model.rescore_fit WEIGHTS --data DENSESIRST_ROOT [--split val_v2] [--threads 2]
        [--box-min-side 3] [--dry-run]

Runs the weights (the default backend, no rescorer) on every frame of the split and keeps each
candidate box down to the config's score floor, as ``predict`` fits, suppresses and widens it
(``--box-min-side`` sets that step first, ADR 0041; default: the file's own), with its features. A candidate is a target when it is the best-scoring box within 3 px of a true target's
centre that no better box took (the effort tool's match). Then:

1. two-fold check: the frames split in halves by the SHA-1 of their id; a rescorer fitted on one
   half, with its least-corrections threshold, is counted on the other (deletes + adds + box
   fixes per image, as ``../shared/tools/effort.py`` counts them), against the detector's scores
   with their own threshold chosen the same way;
2. the rescorer fitted on the whole split, its operating threshold chosen by least corrections;
3. WEIGHTS rewritten in place (the tensors untouched, atomically): ``config.rescore``,
   ``config.box_min_side`` and the operating threshold (metadata and config). The file's SHA-256 changes: refresh the card and
   make the int8 files again (MODEL.md, "The card").

Prints one JSON object with the figures. Exit 1 when the split cannot be read.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from enum import StrEnum
from pathlib import Path

import numpy as np

from core.effort import MATCH_PX, image_corrections, least_corrections_threshold
from core.evaluation import rounded_boxes
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


def collect(weights: Path, root: Path, split: str, threads: int, box_min_side: float | None = None) -> list[Frame]:
    from core.formats.densesirst import image_path, read_boxes, read_split
    from core.imageio import read_image
    from model.inference import Predictor

    p = Predictor(weights, threads=threads)
    p.cfg = dataclasses.replace(p.cfg, rescore=(), box_min_side=p.cfg.box_min_side if box_min_side is None else box_min_side)
    frames = []
    ids = read_split(root, split)
    for n, image_id in enumerate(ids, 1):
        img = read_image(image_path(root, image_id))
        prepared = p.prepare(img)
        pred = p.finish(prepared, p.run_network(prepared))
        h, w = prepared.size
        gt = np.asarray(read_boxes(root / "SIRST" / "BBox" / f"{image_id}.xml", img.shape[1], img.shape[0]),
                        np.float64).reshape(-1, 4)
        feats = rescore.features(pred.boxes, pred.scores, prepared.x[0, 0, :h, :w], pred.sky_logit_map())
        boxes = np.asarray(rounded_boxes(pred.boxes), np.float64).reshape(-1, 4)
        frames.append(Frame(image_id, gt, boxes, pred.scores.astype(np.float64), feats,
                            target_labels(gt, pred.boxes, pred.scores)))
        print(f"[{n}/{len(ids)}] {image_id}: {len(pred.scores)} candidates", file=sys.stderr, flush=True)
    return frames


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


def fitted(frames: list[Frame]) -> tuple[tuple[float, ...], float]:
    """The rescorer fitted on these frames and its least-corrections threshold on them."""
    coef = rescore.fit(np.concatenate([f.feats for f in frames]), np.concatenate([f.labels for f in frames]))
    scores = [rescore.apply(coef, f.feats) for f in frames]
    thr = least_corrections_threshold([f.gt for f in frames], [(f.boxes, s) for f, s in zip(frames, scores, strict=True)])
    return coef, thr


def plain_threshold(frames: list[Frame]) -> float:
    return least_corrections_threshold([f.gt for f in frames], [(f.boxes, f.scores) for f in frames])


def half_of(image_id: str) -> int:
    return int(hashlib.sha1(image_id.encode()).hexdigest(), 16) % 2


def two_fold(frames: list[Frame]) -> dict[str, dict[str, float]]:
    """Figures on each half of a rescorer fitted on the other half, and of the detector's scores."""
    out = {}
    for h in (0, 1):
        train = [f for f in frames if half_of(f.image_id) != h]
        test = [f for f in frames if half_of(f.image_id) == h]
        coef, thr = fitted(train)
        out[f"half_{'AB'[h]}"] = {
            "frames": len(test),
            "detector": corrections(test, [f.scores for f in test], plain_threshold(train)),
            "rescored": corrections(test, [rescore.apply(coef, f.feats) for f in test], thr),
        }
    return out


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
must do better than both). Without
    a parent's rescorer: none. With fewer than MIN_FRAMES_TO_SPLIT frames: the parent's."""
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


def write(weights: Path, coef: tuple[float, ...], threshold: float, box_min_side: float | None) -> None:
    from model.card_meta import rewrite_metadata, synced_config
    from model.checkpoint import read_metadata

    meta = read_metadata(weights)
    config = json.loads(meta["config"])
    config["rescore"] = list(coef)
    if box_min_side is not None:
        config["box_min_side"] = float(box_min_side)
    meta["config"] = synced_config(json.dumps(config, sort_keys=True), threshold)
    meta["operating_threshold"] = json.dumps(float(threshold))
    rewrite_metadata(weights, meta)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weights", type=Path)
    ap.add_argument("--data", type=Path, required=True, help="DenseSIRST root with the split's labels")
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--box-min-side", type=float, default=None, metavar="PX",
                    help="widen fitted box sides shorter than PX by 1 px at both ends (0: off; default: the file's)")
    ap.add_argument("--dry-run", action="store_true", help="print the figures, leave WEIGHTS as it is")
    args = ap.parse_args(argv)
    from core.errors import FormatError

    try:
        if args.box_min_side is not None and args.box_min_side < 0:
            raise ValueError(f"--box-min-side {args.box_min_side}: use 0 or more")
        frames = collect(args.weights, args.data, args.split, args.threads, args.box_min_side)
    except (OSError, FormatError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    coef, thr = fitted(frames)
    report = {
        "frames": len(frames),
        "candidates": int(sum(len(f.scores) for f in frames)),
        "two_fold": two_fold(frames),
        "whole_split": {
            "detector": corrections(frames, [f.scores for f in frames], plain_threshold(frames)),
            "rescored": corrections(frames, [rescore.apply(coef, f.feats) for f in frames], thr),
        },
        "coefficients": dict(zip((*rescore.FEATURES, "bias"), (round(c, 5) for c in coef), strict=True)),
    }
    print(json.dumps(report, indent=2))
    if not args.dry_run:
        write(args.weights, coef, thr, args.box_min_side)
        print(f"wrote the rescorer and the operating threshold {thr:.4f} into {args.weights}; refresh its card "
              "and make its int8 files again", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
