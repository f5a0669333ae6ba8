"""One display curve: the canvas's lookup table and the list thumbnails (core.imageio) show the
same windowed value with the same gamma as the same gray, ``v ** gamma`` (hand-computed)."""

from __future__ import annotations

import numpy as np
import pytest

from core.imageio import normalize_for_display
from widgets.display_controls import make_lut


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.2])
def test_canvas_lut_and_thumbnail_agree(gamma: float) -> None:
    raw = np.arange(256, dtype=np.uint8).reshape(16, 16)  # windowed over (0, 255): v = raw / 255
    thumb = normalize_for_display(raw, levels=(0, 255), gamma=gamma)
    canvas = make_lut("grey", gamma)[raw][..., 0]  # the canvas's grey LUT indexed by the window
    expected = np.rint((raw / 255.0) ** gamma * 255.0)
    assert np.abs(thumb.astype(int) - expected).max() <= 1
    assert np.abs(canvas.astype(int) - expected).max() <= 1
    assert np.abs(thumb.astype(int) - canvas.astype(int)).max() <= 1
    mid = raw[8, 0]  # 128: brighter than linear exactly when gamma < 1, in both views
    assert (thumb.flat[mid] > mid) == (canvas.flat[mid] > mid) == (gamma < 1)
