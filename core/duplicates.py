"""When is a proposal the same object as a target already accepted? One rule for every path that
turns proposals into labels: accepting (one, a selection, or all above the threshold) and storing
a pre-annotation result.

The rule: a proposal duplicates an accepted target when their centres are **closer than 2 px**
or their boxes overlap with **IoU >= 0.3**.

Why these bounds: infrared small targets are 1-10 px. A model box and a hand-drawn box of the
same target differ by about a pixel (e.g. model 267.2,408.2-271.2,412.1 over manual 267,408-271,413:
centres 0.4 px apart, IoU 0.71). Two distinct targets need at least one background pixel between
them, so even two 1-px targets have centres >= 2 px apart and disjoint boxes: neither bound merges
them. The centre bound catches tiny boxes, whose IoU swings wildly with a 1 px shift (2x2 boxes one
pixel apart diagonally: IoU 0.14); the IoU bound catches larger targets whose centres differ by a
few pixels (8x8 boxes 3 px apart: IoU 0.45). A target with only a point uses its pixel centre.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from core.domain import Target
from core.metrics import box_iou

CENTRE_PX = 2.0  # centres strictly closer than this: the same object
IOU = 0.3  # boxes overlapping at least this much: the same object


def centre(target: Target) -> tuple[float, float]:
    """The box centre, else the centre of the labelled pixel (pixel (i, j) spans i..i+1)."""
    if target.box is not None:
        x0, y0, x1, y1 = target.box
        return (x0 + x1) / 2.0, (y0 + y1) / 2.0
    x, y = target.point  # type: ignore[misc]  # a Target has a point when it has no box
    return x + 0.5, y + 0.5


def is_duplicate(candidate: Target, existing: Target) -> bool:
    """Whether ``candidate`` and ``existing`` label the same object (see the module rule)."""
    (ax, ay), (bx, by) = centre(candidate), centre(existing)
    if math.hypot(ax - bx, ay - by) < CENTRE_PX:
        return True
    if candidate.box is None or existing.box is None:
        return False
    iou = box_iou(np.asarray([candidate.box]), np.asarray([existing.box]), legacy=False)
    return bool(iou[0, 0] >= IOU)


def duplicates_any(candidate: Target, accepted: Iterable[Target]) -> bool:
    return any(is_duplicate(candidate, t) for t in accepted)


def split_duplicates(
    proposals: Sequence[Target], accepted: Iterable[Target], among_themselves: bool = True
) -> tuple[list[Target], list[Target]]:
    """``(kept, duplicates)`` of ``proposals`` against the ``accepted`` targets.

    With ``among_themselves`` (accepting several at once) proposals are taken by descending score
    and each kept one counts as accepted for the next, so two proposals on one object yield one
    label: the higher-scoring. Both lists keep the input order."""
    known = list(accepted)
    order = sorted(range(len(proposals)), key=lambda k: -_score(proposals[k]))
    dropped: set[int] = set()
    for k in order:
        if duplicates_any(proposals[k], known):
            dropped.add(k)
        elif among_themselves:
            known.append(proposals[k])
    kept = [p for k, p in enumerate(proposals) if k not in dropped]
    return kept, [p for k, p in enumerate(proposals) if k in dropped]


def _score(target: Target) -> float:
    return target.score if target.score is not None else 1.0
