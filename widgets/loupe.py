"""A magnifier for 3-px targets: the pixels around the cursor, nearest-neighbour, with a pixel grid.

The loupe shows what the canvas hands it (an RGB patch already rendered with the current window,
gamma and colormap, plus the target boxes in patch coordinates), so it never disagrees with the
main view and needs no access to the raw image.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from core.domain import Box
from widgets.display_controls import render_rgb


def extract_patch(data: np.ndarray, cx: int, cy: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """The (2r+1)^2 window of ``data`` centred on pixel (cx, cy) and a bool mask of in-image pixels.

    Pixels outside the image are 0 in the patch and False in the mask (the loupe greys them out).
    """
    size = 2 * radius + 1
    patch = np.zeros((size, size), dtype=data.dtype)
    inside = np.zeros((size, size), dtype=bool)
    h, w = data.shape[:2]
    ya, yb = max(cy - radius, 0), min(cy + radius + 1, h)
    xa, xb = max(cx - radius, 0), min(cx + radius + 1, w)
    if ya < yb and xa < xb:
        oy, ox = ya - (cy - radius), xa - (cx - radius)
        patch[oy : oy + yb - ya, ox : ox + xb - xa] = data[ya:yb, xa:xb]
        inside[oy : oy + yb - ya, ox : ox + xb - xa] = True
    return patch, inside


def loupe_position(
    view: QtCore.QSize, size: QtCore.QSize, cursor: QtCore.QPointF | None,
    top_reserved: int, bottom_reserved: int, margin: int = 6,
) -> QtCore.QPoint:
    """Where the loupe goes in a view of size ``view``: on the side away from the cursor (right
    when the cursor is in the left half, and so on), at the bottom above the read-out
    (``bottom_reserved`` px) unless the cursor is in the lower half, then at the top below the
    mode hint (``top_reserved`` px). So it never covers what is being looked at, the hint or the
    read-out, nor the image's top corners while the cursor is in the upper half."""
    w, h = size.width(), size.height()
    cx = cursor.x() if cursor is not None else 0.0
    cy = cursor.y() if cursor is not None else 0.0
    x = margin if cx >= view.width() / 2 else view.width() - w - margin
    if cy >= view.height() / 2:
        y = top_reserved + margin
    else:
        y = view.height() - bottom_reserved - h - margin
    return QtCore.QPoint(int(x), int(max(y, 0)))


class Loupe(QtWidgets.QFrame):
    """Magnified nearest-neighbour view: ``radius`` px around the cursor at ``zoom`` x."""

    def __init__(
        self, parent: QtWidgets.QWidget | None = None, radius: int = 7, zoom: int = 12
    ) -> None:
        super().__init__(parent)
        self.radius = radius
        self.zoom = zoom
        self._image: QtGui.QImage | None = None
        self._boxes: list[tuple[Box, QtGui.QColor]] = []
        self._text = ""
        side = (2 * radius + 1) * zoom
        self.setFixedSize(side + 4, side + 22)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet("background: #18191b; border: 1px solid #5a5f66;")

    def show_pixels(
        self,
        gray: np.ndarray,
        x: int,
        y: int,
        levels: tuple[float, float],
        lut: np.ndarray,
        boxes: list[tuple[Box, QtGui.QColor]] = (),
        text: str = "",
    ) -> None:
        """Magnify pixel (x, y) of ``gray`` rendered with ``levels`` / ``lut``; boxes in image coords."""
        patch, inside = extract_patch(gray, x, y, self.radius)
        rgb = render_rgb(patch, levels, lut)
        rgb[~inside] = (40, 40, 44)  # outside the image: flat dark grey, not a fake pixel value
        ox, oy = x - self.radius, y - self.radius
        local = [((b[0] - ox, b[1] - oy, b[2] - ox, b[3] - oy), c) for b, c in boxes]
        self.set_patch(rgb, local, text)

    def set_patch(
        self, rgb: np.ndarray | None, boxes: list[tuple[Box, QtGui.QColor]] = (), text: str = ""
    ) -> None:
        """Show ``rgb`` (uint8 [k, k, 3]); ``boxes`` (box, colour) in patch pixel coordinates."""
        if rgb is None:
            self._image = None
        else:
            rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
            h, w = rgb.shape[:2]
            # QImage shares the buffer: keep a reference in the copy we store.
            self._image = QtGui.QImage(
                rgb.data, w, h, 3 * w, QtGui.QImage.Format.Format_RGB888
            ).copy()
        self._boxes = list(boxes or [])
        self._text = text
        self.update()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 (Qt override)
        super().paintEvent(event)
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, False)
        z, k = self.zoom, 2 * self.radius + 1
        area = QtCore.QRectF(2, 2, k * z, k * z)
        if self._image is not None:
            p.drawImage(area, self._image)
            self._paint_grid(p, area)
            self._paint_boxes(p, area)
        p.setPen(QtGui.QColor("#e8eaed"))
        p.drawText(QtCore.QRectF(4, area.bottom() + 1, area.width(), 18), self._text)
        p.end()

    def _paint_grid(self, p: QtGui.QPainter, area: QtCore.QRectF) -> None:
        z, k = self.zoom, 2 * self.radius + 1
        p.setPen(QtGui.QPen(QtGui.QColor(255, 255, 255, 28), 1))
        for i in range(1, k):
            p.drawLine(
                QtCore.QPointF(area.left() + i * z, area.top()),
                QtCore.QPointF(area.left() + i * z, area.bottom()),
            )
            p.drawLine(
                QtCore.QPointF(area.left(), area.top() + i * z),
                QtCore.QPointF(area.right(), area.top() + i * z),
            )
        # The pixel under the cursor: a dark + light double outline reads on any colormap.
        c = QtCore.QRectF(area.left() + self.radius * z, area.top() + self.radius * z, z, z)
        p.setPen(QtGui.QPen(QtGui.QColor(0, 0, 0, 200), 3))
        p.drawRect(c)
        p.setPen(QtGui.QPen(QtGui.QColor("#ffffff"), 1))
        p.drawRect(c)

    def _paint_boxes(self, p: QtGui.QPainter, area: QtCore.QRectF) -> None:
        z = self.zoom
        p.setClipRect(area)
        for (x0, y0, x1, y1), color in self._boxes:
            p.setPen(QtGui.QPen(QtGui.QColor(color), 2))
            p.drawRect(
                QtCore.QRectF(
                    area.left() + x0 * z, area.top() + y0 * z, (x1 - x0) * z, (y1 - y0) * z
                )
            )
        p.setClipping(False)
