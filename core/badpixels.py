"""Isolated hot / dead sensor pixels: find them, and replace them before the detector sees them.

Raw IR frames carry single pixels stuck high (hot) or low (dead). To the detector a hot pixel is a
perfect 1 px target, and one extreme pixel also squeezes the min..max stretch of a 16-bit frame
(core.imageio.to_model_input). A pixel is flagged when it stands out from *all* of its 8 neighbours
by far more than those neighbours differ among themselves:

    hot:  v - max8 > max(floor, ratio * (max8 - min8))
    dead: min8 - v > max(floor, ratio * (max8 - min8))

``floor`` is ``floor_frac`` of the frame's robust range (0.5 .. 99.5 percentile). A real target of
2-9 px never qualifies: its brightest pixel has a bright target neighbour, so ``v - max8`` is a
fraction of the target's contrast while ``max8 - min8`` spans it. Flagged pixels are replaced by the
median of their 8 neighbours. Runs of adjacent bad pixels (clusters) are left alone on purpose: they
are indistinguishable from a tiny target by local evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

_RING = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.uint8)  # the 8 neighbours, not the centre


@dataclass(frozen=True)
class BadPixelConfig:
    # Chosen on val_v2 (benchmarks/eval_badpixels.py): no flag within 1 px of a labelled target on the
    # clean frames, about 90% of injected 0.02 % hot/dead pixels found.
    ratio: float = 4.0
    floor_frac: float = 0.15


def _neighbour_extremes(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max, min) over the 8 neighbours of every pixel (edges replicate the border)."""
    f = gray.astype(np.float32, copy=False)
    mx = cv2.dilate(f, _RING, borderType=cv2.BORDER_REPLICATE)
    mn = cv2.erode(f, _RING, borderType=cv2.BORDER_REPLICATE)
    return mx, mn


def _percentiles(g: np.ndarray, qs: tuple[float, ...]) -> tuple[float, ...]:
    """``np.percentile(g, qs)`` (method "linear") of an 8- or 16-bit image, bit for bit, from its
    histogram: a partition of every pixel costs ten times the counting (ADR 0036)."""
    n = g.size
    cum = np.cumsum(np.bincount(g.ravel()))
    out = []
    for q in qs:
        virtual = (n - 1) * (np.float64(q) / 100)  # numpy's virtual index and interpolation, in its dtypes
        below = int(np.floor(virtual))
        a = np.float32(np.searchsorted(cum, below, side="right"))  # the value of sorted rank ``below``
        b = np.float32(np.searchsorted(cum, min(below + 1, n - 1), side="right"))
        t = virtual - below
        out.append(float(b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t))
    return tuple(out)


def _bad_mask_u8(g: np.ndarray, floor: float, ratio: int) -> np.ndarray:
    """The float32 test ``(f - max) > max(floor, ratio * (max - min))`` (and its dead twin) of an
    8-bit frame in 16-bit integers, bit for bit: every term is an integer there, float32(floor)
    compares with an integer difference as its floor does, and a difference that saturates at 0
    never beats a positive margin. A third of the float path's time (ADR 0036)."""
    mx = cv2.dilate(g, _RING, borderType=cv2.BORDER_REPLICATE)
    mn = cv2.erode(g, _RING, borderType=cv2.BORDER_REPLICATE)
    margin = cv2.subtract(mx, mn).astype(np.int16)
    margin *= ratio
    np.maximum(margin, math.floor(float(np.float32(floor))), out=margin)
    hot = cv2.subtract(g, mx).astype(np.int16) > margin
    hot |= cv2.subtract(mn, g).astype(np.int16) > margin
    return hot


def find_bad_pixels(gray: np.ndarray, cfg: BadPixelConfig | None = None) -> np.ndarray:
    """int32 [N, 2] (x, y) of the isolated hot and dead pixels of a 2-D image, row-major order."""
    cfg = cfg or BadPixelConfig()
    g = np.asarray(gray)
    if g.ndim != 2:
        raise ValueError(f"find_bad_pixels needs a 2-D gray image, got shape {g.shape}")
    if g.shape[0] < 3 or g.shape[1] < 3:
        return np.zeros((0, 2), np.int32)
    lo, hi = (_percentiles(g, (0.5, 99.5)) if g.dtype in (np.uint8, np.uint16)
              else np.percentile(g.astype(np.float32, copy=False), (0.5, 99.5)))
    floor = max(float(hi - lo) * cfg.floor_frac, 1e-6)
    if g.dtype == np.uint8 and float(cfg.ratio).is_integer() and 0 <= cfg.ratio <= 64:
        bad = _bad_mask_u8(g, floor, int(cfg.ratio))
    else:
        f = g.astype(np.float32, copy=False)
        mx, mn = _neighbour_extremes(f)
        margin = np.maximum(floor, cfg.ratio * (mx - mn))
        bad = ((f - mx) > margin) | ((mn - f) > margin)
    ys, xs = np.nonzero(bad)
    return np.stack([xs, ys], axis=1).astype(np.int32)


def repair_bad_pixels(gray: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Copy of gray with each listed pixel replaced by the median of its 8 neighbours (same dtype)."""
    g = np.asarray(gray)
    out = g.copy()
    if len(coords) == 0:
        return out
    padded = np.pad(g, 1, mode="edge")
    xs, ys = coords[:, 0].astype(np.int64), coords[:, 1].astype(np.int64)
    offsets = [(dy, dx) for dy in (0, 1, 2) for dx in (0, 1, 2) if (dy, dx) != (1, 1)]
    nbrs = np.stack([padded[ys + dy, xs + dx] for dy, dx in offsets], axis=1)
    out[ys, xs] = np.median(nbrs, axis=1).astype(g.dtype)
    return out


def filter_bad_pixels(gray: np.ndarray, cfg: BadPixelConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(repaired image, (x, y) coordinates of the repaired pixels)."""
    coords = find_bad_pixels(gray, cfg)
    return repair_bad_pixels(gray, coords), coords


def clean_frame(image: np.ndarray, enabled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(gray frame with isolated bad pixels repaired, their (x, y)); unfiltered when not enabled."""
    from core.imageio import to_gray

    gray = to_gray(np.asarray(image))
    if not enabled:
        return gray, np.zeros((0, 2), np.int32)
    return filter_bad_pixels(gray)


def inject_bad_pixels(
    image: np.ndarray, fraction: float, rng: np.random.Generator, hot: float, dead: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Copy of a 2-D image with ``fraction`` of its pixels set to hot or dead (half each), no two
    defects within each other's 8-neighbourhood (isolated, as real sensor defects mostly are), and
    none on the border; returns the image and the (x, y) coordinates."""
    h, w = image.shape
    want = int(round(fraction * h * w))
    out = image.copy()
    taken = np.zeros((h, w), bool)
    coords = []
    cand = rng.permutation((h - 2) * (w - 2))[: max(want * 3, 1)]
    for c in cand:
        if len(coords) == want:
            break
        y, x = divmod(int(c), w - 2)
        y, x = y + 1, x + 1
        if taken[y - 1 : y + 2, x - 1 : x + 2].any():
            continue
        taken[y, x] = True
        coords.append((x, y))
    arr = np.asarray(coords, np.int32).reshape(-1, 2)
    is_hot = rng.random(len(arr)) < 0.5
    out[arr[is_hot, 1], arr[is_hot, 0]] = hot
    out[arr[~is_hot, 1], arr[~is_hot, 0]] = dead
    return out, arr
