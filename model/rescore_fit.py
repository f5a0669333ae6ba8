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
import json
import sys
from pathlib import Path

import numpy as np

from core.effort import least_corrections_threshold
from core.evaluation import rounded_boxes
from model import rescore
from model.rescore_choice import Frame, corrections, half_of, target_labels  # noqa: F401 (API)


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


def fitted(frames: list[Frame]) -> tuple[tuple[float, ...], float]:
    """The rescorer fitted on these frames and its least-corrections threshold on them."""
    coef = rescore.fit(np.concatenate([f.feats for f in frames]), np.concatenate([f.labels for f in frames]))
    scores = [rescore.apply(coef, f.feats) for f in frames]
    thr = least_corrections_threshold([f.gt for f in frames], [(f.boxes, s) for f, s in zip(frames, scores, strict=True)])
    return coef, thr


def plain_threshold(frames: list[Frame]) -> float:
    return least_corrections_threshold([f.gt for f in frames], [(f.boxes, f.scores) for f in frames])


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
