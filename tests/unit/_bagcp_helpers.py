"""Shared builders for the BAG-CP tests: small patch libraries, scenes with sky, mask checks."""

from __future__ import annotations

import cv2
import numpy as np

from core.domain import Target
from core.target_library import TargetLibrary, TargetPatch


def patch_library(seed: int = 0, n: int = 24, sizes: tuple[int, int] = (2, 5)) -> TargetLibrary:
    """Patches with random masks of sizes[0]..sizes[1] px a side, contrast 10-100 on vrange 200."""
    rng = np.random.default_rng(seed)
    patches = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(sizes[0], sizes[1] + 1, size=2))
        mask = rng.random((h, w)) > 0.25
        mask[h // 2, w // 2] = True
        contrast = np.where(mask, rng.uniform(10, 100, size=(h, w)), 0).astype(np.float32)
        patches.append(TargetPatch(contrast, mask, 40.0, 0.0, 200.0, f"p{i}"))
    return TargetLibrary(patches)


def scene(h: int = 128, w: int = 160, seed: int = 0, dtype: type = np.uint8) -> np.ndarray:
    """Noisy background: 8-bit 30-60, 16-bit 20000-22000, float 0.2-0.3."""
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(30, 61, size=(h, w)).astype(np.uint8)
    if dtype == np.uint16:
        return rng.integers(20000, 22001, size=(h, w)).astype(np.uint16)
    return rng.uniform(0.2, 0.3, size=(h, w)).astype(dtype)


def wavy_sky(h: int = 128, w: int = 160) -> np.ndarray:
    """Sky above a wavy horizon, with a non-sky 'building' block sticking up into it."""
    rows = np.arange(h)[:, None]
    horizon = (0.6 * h + 10 * np.sin(np.arange(w) / 9.0))[None, :]
    sky = rows < horizon
    sky[30:90, 60:75] = False
    return sky


def full_mask(t: Target, h: int, w: int) -> np.ndarray:
    """The target's pixel mask as a full-image bool array."""
    out = np.zeros((h, w), dtype=bool)
    t.mask.paste_into(out)
    return out


def touches(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two bool masks overlap or are 8-neighbours somewhere."""
    grown = cv2.dilate(a.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return bool((grown & b).any())
