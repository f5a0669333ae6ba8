"""The displayed image, rendered ahead: window + LUT + sky fills as an RGB32 QImage.

What the canvas's image item would do in its first paint after an image switch (pyqtgraph's
LUT pass, then ``tint_image``) is pure numpy + QImage work, so the prefetch thread can do it for
the display the canvas shows now (a ``DisplayPlan`` snapshot). The item uses the result only if
it was made from exactly the data, window, LUT, masks and fill colours it is about to render;
otherwise it renders itself. Both paths call the same functions, so the pixels are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyqtgraph import functions_qimage
from PySide6 import QtGui

from widgets.overlays_sky import tint_image, tint_regions


@dataclass(frozen=True, eq=False)
class DisplayPlan:
    """The canvas's display state, immutable so another thread can read it: window, LUT,
    whether a new image gets auto levels, and the sky fills shown (empty when sky is hidden)."""

    levels: tuple[float, float]
    lut: np.ndarray
    auto: bool
    fills: tuple[QtGui.QColor, ...]

    def same_as(self, other: DisplayPlan | None) -> bool:
        return (
            other is not None
            and self.levels == other.levels
            and self.auto == other.auto
            and same_colors(self.fills, other.fills)
            and np.array_equal(self.lut, other.lut)
        )


@dataclass(frozen=True, eq=False)
class RenderedImage:
    """``qimage`` is what the image item shows for ``gray`` under ``levels`` / ``lut`` with the
    fills ``colors`` of ``masks``; ``region`` is ``tint_regions(masks)``."""

    gray: np.ndarray
    levels: tuple[float, float]
    lut: np.ndarray
    masks: tuple[np.ndarray | None, ...]
    colors: tuple[QtGui.QColor, ...]
    region: np.ndarray | None
    qimage: QtGui.QImage
    plan: DisplayPlan | None = None  # the snapshot it was made for (None: made on the GUI thread)

    def matches_masks(self, masks: list[np.ndarray | None], colors: list[QtGui.QColor]) -> bool:
        """Same fills as ``masks`` / ``colors`` (mask contents compared: ~0.1 ms each)."""
        return (
            len(masks) == len(self.masks)
            and same_colors(colors, self.colors)
            and all(_same_mask(a, b) for a, b in zip(masks, self.masks, strict=True))
        )

    def matches_display(self, levels: object, lut: np.ndarray | None) -> bool:
        return (
            lut is not None
            and levels is not None
            and np.array_equal(np.asarray(levels, dtype=np.float64), np.asarray(self.levels))
            and np.array_equal(lut, self.lut)
        )


def render_image(
    gray: np.ndarray,
    levels: tuple[float, float],
    lut: np.ndarray,
    masks: tuple[np.ndarray | None, ...],
    colors: tuple[QtGui.QColor, ...],
    plan: DisplayPlan | None = None,
) -> RenderedImage | None:
    """The image item's render, off the GUI thread; None where pyqtgraph takes another path
    (NaNs in float data, LUTs it cannot index), which the item then renders itself."""
    if gray.ndim != 2 or lut.dtype != np.uint8:
        return None
    if gray.dtype.kind == "f" and np.isnan(gray.min()):
        return None
    qimage = functions_qimage.try_make_qimage(gray, levels=levels, lut=lut)
    if qimage is None:
        return None
    masks = tuple(None if m is None else np.asarray(m, dtype=bool) for m in masks)
    region = tint_regions(list(masks))
    tinted = tint_image(qimage, region, list(colors))
    return RenderedImage(gray, levels, lut, masks, tuple(colors), region, tinted, plan)


def same_colors(a, b) -> bool:
    return len(a) == len(b) and all(x.rgba() == y.rgba() for x, y in zip(a, b, strict=True))


def _same_mask(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return a is b or (a.shape == b.shape and np.array_equal(a, b))
