"""The displayed image, rendered ahead: window + LUT + sky fills as an RGB32 QImage.

What the canvas's image item would do in its first paint after an image switch (pyqtgraph's
LUT pass, then ``tint_image``) is pure numpy + QImage work, so the prefetch thread can do it for
the display the canvas shows now (a ``DisplayPlan`` snapshot). The item uses the result only if
it was made from exactly the data, window, LUT, masks and fill colours it is about to render;
otherwise it renders itself. Both paths call the same functions, so the pixels are the same.

``prepare_image`` and ``sky_shapes`` are everything the prefetch thread does ahead for the canvas
(display pass, render, sky outlines); the GUI-thread side is in ``widgets/canvas_display.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyqtgraph import functions_qimage
from PySide6 import QtGui

from core.geometry import Ring, mask_to_rings
from widgets.display_controls import Histogram, auto_levels, display_gray, histogram_of
from widgets.overlays_sky import SkyGeometry, sky_geometry, tint_image, tint_regions


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


@dataclass(frozen=True)
class PreparedImage:
    """What ``set_image`` derives from raw pixels, computed ahead (``prepare_image``) so that a
    prefetched image costs the GUI thread no histogram, percentile or luminance pass."""

    raw: np.ndarray
    gray: np.ndarray
    levels: tuple[float, float]
    histogram: Histogram
    rendered: RenderedImage | None = None  # the first paint's image, for the plan given


def prepare_image(
    img: np.ndarray,
    plan: DisplayPlan | None = None,
    masks: tuple[np.ndarray | None, ...] = (),
) -> PreparedImage:
    """Pure numpy (+ QImage): safe on a worker thread. CanvasError-free (set_image reports bad
    arrays). With ``plan`` (``IRCanvas.display_plan()``) and the sky ``masks`` (accepted,
    proposed), the displayed image is rendered too, so the switch costs the GUI thread no
    full-image pass while the display stays as planned."""
    gray = display_gray(img)
    levels = auto_levels(gray)
    rendered = None
    if plan is not None:
        window = levels if plan.auto else plan.levels
        fills = plan.fills
        shown = tuple(masks[: len(fills)]) + (None,) * (len(fills) - len(masks))
        rendered = render_image(gray, window, plan.lut, shown, fills, plan)
    return PreparedImage(img, gray, levels, histogram_of(gray), rendered)


@dataclass(frozen=True)
class SkyShapes:
    """A sky mask's polygons and the outline item's geometry (``sky_shapes``)."""

    rings: list[Ring]
    geometry: SkyGeometry


def sky_rings(mask: np.ndarray | None) -> list[Ring]:
    """The polygons ``set_sky`` draws for a mask (pure: safe on a worker thread)."""
    return mask_to_rings(np.asarray(mask, dtype=bool)) if mask is not None else []


def sky_shapes(mask: np.ndarray | None) -> SkyShapes:
    """``sky_rings`` plus what the outline item builds from them (path, hit-test arrays): the
    whole of ``set_sky``'s work for a mask, safe on a worker thread."""
    rings = sky_rings(mask)
    return SkyShapes(rings, sky_geometry([r.points for r in rings], [r.is_hole for r in rings]))


def same_colors(a, b) -> bool:
    return len(a) == len(b) and all(x.rgba() == y.rgba() for x, y in zip(a, b, strict=True))


def _same_mask(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return a is b or (a.shape == b.shape and np.array_equal(a, b))
