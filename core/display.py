"""The display curve shared by every view of pixels (canvas LUT, thumbnails, exports of views).

One convention everywhere, napari's (and the canvas's since the first release): the windowed value
``v`` in [0, 1] is shown as ``v ** gamma``, so gamma < 1 brightens the dark backgrounds typical of
IR frames and gamma > 1 darkens them. Before, thumbnails used ``v ** (1 / gamma)``: the same gamma
gave the opposite look in the list and on the canvas.
"""

from __future__ import annotations

import numpy as np


def check_gamma(gamma: float) -> float:
    """``gamma`` as a float; ValueError unless it is a positive number."""
    g = float(gamma)
    if not g > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    return g


def apply_gamma(v: np.ndarray, gamma: float) -> np.ndarray:
    """Windowed values in [0, 1] -> displayed intensities in [0, 1] (``v ** gamma``)."""
    g = check_gamma(gamma)
    v = np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)
    return v if g == 1.0 else v**g


def window(values: np.ndarray, lo: float, hi: float, gamma: float = 1.0) -> np.ndarray:
    """Raw values -> [0, 1]: linear between ``lo`` and ``hi`` (clipped), then the gamma curve."""
    lo, hi = float(lo), float(hi)
    if hi <= lo:
        hi = lo + 1.0
    return apply_gamma((np.asarray(values, dtype=np.float32) - lo) / (hi - lo), gamma)
