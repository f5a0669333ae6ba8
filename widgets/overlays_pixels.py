"""Markers of the sensor pixels the bad-pixel filter repaired before the model saw the image.

A small red 'x' of constant screen size on each repaired pixel's centre, over a dark shadow:
no other overlay uses that colour or shape (targets are green / orange boxes and '+', the
selection cyan, highlights magenta, skies blue / yellow), so a marker is never taken for a
target. Only the pixels inside the painted area are drawn (``painted_rect``, ADR 0009), so
a frame with thousands of defects costs what is on screen.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from widgets.overlays import HALO, cosmetic_pen, painted_rect

BAD_PIXEL = QtGui.QColor("#ff3b30")
BAD_PIXEL_ARM_PX = 4.0  # half-length of the 'x' arms, screen pixels
BAD_PIXEL_GAP_PX = 1.5  # open centre: the repaired pixel itself stays visible
MAX_DRAWN = 20_000  # beyond this many in view the markers would be a solid smear anyway


def cross_path(x: np.ndarray, y: np.ndarray, arm: float, gap: float) -> QtGui.QPainterPath:
    """An 'x' of half-length ``arm`` (device pixels) centred on each (x, y), open over ``gap``."""
    if len(x) == 0:
        return QtGui.QPainterPath()
    a, g = arm, min(gap, arm)
    xs = np.stack([x - a, x - g, x + g, x + a, x - a, x - g, x + g, x + a], axis=1).ravel()
    ys = np.stack([y - a, y - g, y + g, y + a, y + a, y + g, y - g, y - a], axis=1).ravel()
    return pg.arrayToQPath(xs, ys, connect="pairs", finiteCheck=False)


class BadPixelsItem(pg.GraphicsObject):
    """The repaired pixels of the image shown, as (x, y) pixel indices."""

    def __init__(self) -> None:
        super().__init__()
        self.coords = np.zeros((0, 2), np.int32)
        self._centres = np.zeros((0, 2))
        self._bounds = QtCore.QRectF()

    def set_pixels(self, coords: np.ndarray | None) -> None:
        arr = np.zeros((0, 2), np.int32) if coords is None else np.asarray(coords).reshape(-1, 2)
        self.prepareGeometryChange()
        self.coords = arr.astype(np.int32, copy=True)
        self._centres = self.coords.astype(np.float64) + 0.5  # pixel (i, j) covers [i, i + 1)
        if len(self.coords):
            lo, hi = self.coords.min(axis=0), self.coords.max(axis=0) + 1
            self._bounds = QtCore.QRectF(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]),
                                         float(hi[1] - lo[1]))  # fmt: skip
        else:
            self._bounds = QtCore.QRectF()
        self.update()

    def centres(self) -> np.ndarray:
        """Item (= image) coordinates of the marker centres, [K, 2]."""
        return self._centres.copy()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt override)
        if self._bounds.isNull() and not len(self.coords):
            return QtCore.QRectF()
        px = self.pixelLength(pg.Point(1, 0)) if self.getViewBox() is not None else 1.0
        m = (BAD_PIXEL_ARM_PX + 3.0) * (px or 1.0)  # arms and shadow reach past the pixels
        return self._bounds.adjusted(-m, -m, m, m)

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph hook)
        self.prepareGeometryChange()

    def paint(self, painter: QtGui.QPainter, *args) -> None:
        if not len(self._centres):
            return
        view = painted_rect(painter)
        c = self._centres
        if view is not None:
            inside = ((c[:, 0] >= view.left() - 1) & (c[:, 0] <= view.right() + 1)
                      & (c[:, 1] >= view.top() - 1) & (c[:, 1] <= view.bottom() + 1))  # fmt: skip
            c = c[inside]
        c = c[:MAX_DRAWN]
        if not len(c):
            return
        t = painter.transform()
        x = t.m11() * c[:, 0] + t.m21() * c[:, 1] + t.dx()
        y = t.m12() * c[:, 0] + t.m22() * c[:, 1] + t.dy()
        painter.save()
        painter.resetTransform()  # device pixels: the marker keeps its size at any zoom
        for d, color in ((-1.0, HALO), (1.0, HALO)):
            painter.strokePath(cross_path(x + d, y, BAD_PIXEL_ARM_PX, BAD_PIXEL_GAP_PX),
                               cosmetic_pen(color))  # fmt: skip
        painter.strokePath(cross_path(x, y, BAD_PIXEL_ARM_PX, BAD_PIXEL_GAP_PX),
                           cosmetic_pen(BAD_PIXEL))  # fmt: skip
        painter.restore()
