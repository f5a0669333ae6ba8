"""Sky proposal refinement after the clean-up: the last step of ``predict``'s sky (docs/adr/0035).

Measured on val_v2 against the labels (MODEL.md, "Sky post-processing"): after the threshold and
the clean-up (model.sky.clean_proposal) two things still cost strokes that the network's map cannot
fix at its 8 px resolution on large frames:

- ground holes between 0.5 % and 3 % of the frame inside the sky (mostly specks of the map the
  labels do not draw): filled, like the smaller ones the clean-up already fills;
- a thin band of sky along every sky/ground outline: the labels draw ground a little generously
  (a brush, not a pixel-tight edge), so the sky is pulled back from the ground by ``erode`` px per
  1000 px of the long side (2.6 px on a 1280x1024 frame). The frame's edge is not ground: sky that
  reaches it stays.
"""

from __future__ import annotations

import cv2
import numpy as np


def fill_ground_holes(mask: np.ndarray, max_area: int) -> np.ndarray:
    """``mask`` with its ground holes (4-connected components of ~mask, as the clean-up counts them)
    of fewer than ``max_area`` pixels turned into sky."""
    if max_area <= 1:
        return mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    small = stats[:, cv2.CC_STAT_AREA] < max_area
    small[0] = False  # label 0 is the sky itself
    return mask | small[labels]


def pull_back_from_ground(mask: np.ndarray, px: float) -> np.ndarray:
    """``mask`` without the sky pixels within ``px`` (Euclidean) of a ground pixel; the frame's
    border counts as sky, so the sky is not pulled away from the image's edge."""
    if px <= 0 or mask.all() or not mask.any():
        return mask
    padded = np.pad(mask.astype(np.uint8), 1, constant_values=1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    return mask & (dist > px)


def refine_sky(mask: np.ndarray, hole_area: float, erode: float) -> np.ndarray:
    """The refined proposal of a cleaned bool [H, W] sky mask: ground holes under ``hole_area`` of
    the frame filled, then the sky pulled back ``erode`` px per 1000 px of long side from the
    ground. A new array; the mask itself when both are 0."""
    h, w = mask.shape
    out = fill_ground_holes(mask, int(round(hole_area * h * w)))
    return pull_back_from_ground(out, erode * max(h, w) / 1000.0)
