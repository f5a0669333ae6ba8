"""Annotator effort: the corrections that turn a pre-annotation into the truth.

The counting rules of the project's reference tool (``../shared/tools/effort.py``), reimplemented
so the app needs neither that folder nor its files (a test compares the two on the same files):

- deletes   = proposed boxes that match no true target (centres within 3 px, one to one, true
  targets taken in order of their nearest proposal: the Pd convention of the field)
- adds      = true targets no proposed box matches
- box fixes = matched boxes whose rounded sides are off the true box by more than 1 px (a resize)
- sky edits = connected regions (8-connected) of proposed XOR true sky of at least 0.05 % of the
  frame and 16 px: one add / subtract polygon stroke each
- manual    = the work without a model: one click per true target + one polygon per true sky region

Boxes are [N, 4] (x1, y1, x2, y2) in the DenseSIRST convention; an image without a sky label
counts no sky edits and no manual sky polygons (the tool always has a mask).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import cv2
import numpy as np

MATCH_PX = 3.0  # centre distance of a match
RESIZE_PX = 1  # a matched box off by more than this on some side needs a resize
MIN_REGION_SHARE = 0.0005  # of the frame ...
MIN_REGION_PX = 16  # ... and at least this many pixels


@dataclass(frozen=True)
class Corrections:
    """The corrections of one image (see the module docstring)."""

    deletes: int
    adds: int
    box_fixes: int
    sky_edits: int
    manual: int
    targets: int

    @property
    def actions(self) -> int:
        return self.deletes + self.adds + self.box_fixes + self.sky_edits


def _centres(b: np.ndarray) -> np.ndarray:
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)


def match_targets(gt: np.ndarray, pred: np.ndarray) -> tuple[int, int]:
    """(true targets found, found ones whose box needs a resize)."""
    gt = np.asarray(gt, np.float64).reshape(-1, 4)
    pred = np.asarray(pred, np.float64).reshape(-1, 4)
    if not len(gt) or not len(pred):
        return 0, 0
    dist = np.linalg.norm(_centres(gt)[:, None] - _centres(pred)[None], axis=2)
    used = np.zeros(len(pred), bool)
    found = fixes = 0
    for i in np.argsort(dist.min(1)):  # the targets with the closest proposal choose first
        cand = np.where(~used & (dist[i] <= MATCH_PX))[0]
        if len(cand):
            j = cand[np.argmin(dist[i, cand])]
            used[j] = True
            found += 1
            fixes += int(np.abs(np.round(pred[j]) - gt[i]).max() > RESIZE_PX)
    return found, fixes


def min_region_px(shape: tuple[int, ...]) -> int:
    return max(MIN_REGION_PX, int(MIN_REGION_SHARE * shape[0] * shape[1]))


def count_regions(mask: np.ndarray, min_area: int) -> int:
    """8-connected regions of ``mask`` with at least ``min_area`` pixels."""
    _n, _labels, stats, _c = cv2.connectedComponentsWithStats(np.asarray(mask, np.uint8), connectivity=8)
    return int((stats[1:, cv2.CC_STAT_AREA] >= min_area).sum())


def image_corrections(gt_boxes: np.ndarray, pred_boxes: np.ndarray, gt_sky: np.ndarray | None,
                      pred_sky: np.ndarray | None) -> Corrections:
    """The corrections of one image; ``pred_sky`` None: no sky proposed (all ground)."""
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    pred_boxes = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    found, fixes = match_targets(gt_boxes, pred_boxes)
    sky_edits = sky_manual = 0
    if gt_sky is not None:
        gs = np.asarray(gt_sky, bool)
        ps = np.zeros_like(gs) if pred_sky is None else np.asarray(pred_sky, bool)
        if ps.shape != gs.shape:
            raise ValueError(f"proposed sky {ps.shape} differs from the true sky {gs.shape}")
        area = min_region_px(gs.shape)
        sky_edits = count_regions(gs ^ ps, area)
        sky_manual = count_regions(gs, area)
    return Corrections(deletes=len(pred_boxes) - found, adds=len(gt_boxes) - found, box_fixes=fixes,
                       sky_edits=sky_edits, manual=len(gt_boxes) + sky_manual, targets=len(gt_boxes))


def summarize(rows: list[Corrections]) -> dict:
    """Per-image figures over a set, with the tool's keys and rounding."""
    n = len(rows)
    if n == 0:
        return {"images": 0}
    tot = {f.name: sum(getattr(r, f.name) for r in rows) for f in fields(Corrections)}
    assisted = sum(r.actions for r in rows) / n
    manual = tot["manual"] / n
    return {
        "images": n,
        "targets_per_img": round(tot["targets"] / n, 2),
        "actions_per_img_assisted": round(assisted, 2),
        "of_which_deletes": round(tot["deletes"] / n, 2),
        "adds": round(tot["adds"] / n, 2),
        "box_fixes": round(tot["box_fixes"] / n, 2),
        "sky_edits": round(tot["sky_edits"] / n, 2),
        "actions_per_img_manual": round(manual, 2),
        "saving": round(1 - assisted / max(manual, 1e-9), 3),
        "targets_right_as_proposed": round(sum(r.deletes == r.adds == r.box_fixes == 0 for r in rows) / n, 3),
        "sky_right_as_proposed": round(sum(r.sky_edits == 0 for r in rows) / n, 3),
        "image_right_as_proposed": round(sum(r.actions == 0 for r in rows) / n, 3),
    }


def target_corrections(gts: list[np.ndarray], dets: list[tuple[np.ndarray, np.ndarray]], threshold: float) -> int:
    """Deletes + adds + box fixes over a set when the boxes scoring >= threshold are proposed."""
    total = 0
    for gt, (boxes, scores) in zip(gts, dets, strict=True):
        gt = np.asarray(gt, np.float64).reshape(-1, 4)
        kept = np.asarray(boxes, np.float64).reshape(-1, 4)[np.asarray(scores).reshape(-1) >= threshold]
        found, fixes = match_targets(gt, kept)
        total += len(kept) - found + len(gt) - found + fixes
    return total


def least_corrections_threshold(gts: list[np.ndarray], dets: list[tuple[np.ndarray, np.ndarray]],
                                candidates: int = 200) -> float:
    """The operating threshold an annotator wants: the score that leaves the fewest target
    corrections (deletes + adds + box fixes) over the set, searched over ``candidates`` quantiles
    of the scores (ties: the higher threshold, fewer boxes to look at). 0.5 without detections."""
    scores = np.concatenate([np.asarray(s, np.float64).reshape(-1) for _, s in dets]) if dets else np.zeros(0)
    if not len(scores):
        return 0.5
    grid = np.unique(np.quantile(scores, np.linspace(0.0, 1.0, candidates)))
    costs = sum(_corrections_on_grid(gt, boxes, s, grid) for gt, (boxes, s) in zip(gts, dets, strict=True))
    best = costs.min()
    return float(grid[np.nonzero(costs == best)[0].max()])


def _corrections_on_grid(gt: np.ndarray, boxes: np.ndarray, scores: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """int [len(grid)]: one image's deletes + adds + box fixes at each threshold of ``grid``, as
    ``target_corrections`` counts them. Only the boxes within MATCH_PX of some true target can
    match (the others are deletes at every threshold), so the matching runs once per distinct set
    of those boxes, not once per threshold."""
    gt = np.asarray(gt, np.float64).reshape(-1, 4)
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    s = np.asarray(scores).reshape(-1)
    kept = (s[None, :] >= grid[:, None]).sum(1)
    if not len(gt) or not len(b):
        return kept.astype(np.int64) + len(gt)
    near = (np.linalg.norm(_centres(gt)[:, None] - _centres(b)[None], axis=2) <= MATCH_PX).any(0)
    nb, ns = b[near], s[near]
    order = np.argsort(-ns, kind="stable")  # the near boxes kept at t are the first (ns >= t).sum()
    near_kept = (ns[None, :] >= grid[:, None]).sum(1)
    out = np.zeros(len(grid), np.int64)
    for c in np.unique(near_kept):
        found, fixes = match_targets(gt, nb[np.sort(order[:c])])  # in the boxes' order: it breaks distance ties
        at = near_kept == c
        out[at] = kept[at] - found + len(gt) - found + fixes
    return out
