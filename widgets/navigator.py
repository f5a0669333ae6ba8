"""The navigator (minimap): the whole frame small, a rectangle where the canvas looks; a click or
a drag on it moves the canvas there. Useful at 14x, where the canvas shows a few dozen pixels.

Qt and numpy only: ``overview`` turns the displayed grays into a small 8-bit picture through the
same window and gamma as the canvas (core/display.py), so the map looks like the image.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from core.display import window

MAX_SIDE = 320  # the overview's longest side in pixels (the dock is about that wide)
VIEW_COLOR = QColor("#ffd400")


def overview(gray: np.ndarray, levels: tuple[float, float], gamma: float) -> np.ndarray:
    """Every n-th pixel of ``gray`` (longest side <= MAX_SIDE) through the display window, uint8."""
    h, w = gray.shape[:2]
    step = max(1, int(np.ceil(max(h, w) / MAX_SIDE)))
    small = np.asarray(gray)[::step, ::step]
    return np.ascontiguousarray(np.round(window(small, *levels, gamma) * 255.0).astype(np.uint8))


class NavigatorWidget(QWidget):
    """Emits ``pan_requested(x, y)``: centre the canvas on image point (x, y)."""

    pan_requested = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("navigator")
        self._image: QImage | None = None
        self._frame = (0, 0)  # (width, height) of the full-resolution image
        self._view = QRectF()  # the canvas's visible rectangle in image coordinates
        self.setMinimumSize(120, 80)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setToolTip("Click or drag to move the view")

    # ------------------------------------------------------------------ input
    def set_frame(self, pixels: np.ndarray | None, width: int = 0, height: int = 0) -> None:
        """The overview (uint8 [h, w], from ``overview``) of a ``width`` x ``height`` image."""
        if pixels is None:
            self._image, self._frame = None, (0, 0)
        else:
            data = np.ascontiguousarray(pixels, dtype=np.uint8)
            h, w = data.shape
            self._image = QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
            self._frame = (int(width) or w, int(height) or h)
        self.updateGeometry()
        self.update()

    def set_view_rect(self, rect: QRectF) -> None:
        """What the canvas shows, in image coordinates."""
        self._view = QRectF(rect)
        self.update()

    # ------------------------------------------------------------------ geometry
    def heightForWidth(self, width: int) -> int:  # noqa: N802
        w, h = self._frame if self._frame[0] else (4, 3)
        return max(80, int(round(width * h / w)))

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(240, self.heightForWidth(240))

    def image_rect(self) -> QRectF:
        """Where the whole frame is drawn in this widget (aspect kept, centred)."""
        fw, fh = self._frame
        if not fw or not fh:
            return QRectF()
        scale = min(self.width() / fw, self.height() / fh)
        w, h = fw * scale, fh * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def view_rect_on_widget(self) -> QRectF:
        """The canvas's visible area as drawn here (clipped to the frame)."""
        target = self.image_rect()
        if target.isEmpty() or self._view.isEmpty():
            return QRectF()
        s = target.width() / self._frame[0]
        r = QRectF(target.x() + self._view.x() * s, target.y() + self._view.y() * s,
                   self._view.width() * s, self._view.height() * s)  # fmt: skip
        return r.intersected(target)

    def to_image(self, pos: QPointF) -> tuple[float, float] | None:
        """Image coordinates of a widget position (clamped into the frame)."""
        target = self.image_rect()
        if target.isEmpty():
            return None
        s = self._frame[0] / target.width()
        x = min(max((pos.x() - target.x()) * s, 0.0), float(self._frame[0]))
        y = min(max((pos.y() - target.y()) * s, 0.0), float(self._frame[1]))
        return x, y

    # ------------------------------------------------------------------ events
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#202020"))
        target = self.image_rect()
        if self._image is not None and not target.isEmpty():
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(target, self._image)
            view = self.view_rect_on_widget()
            if not view.isEmpty() and not view.contains(target):  # whole frame shown: no box
                painter.setPen(QPen(VIEW_COLOR, 2))
                painter.drawRect(view.adjusted(1, 1, -1, -1))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            self._pan_to(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._pan_to(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    def _pan_to(self, pos: QPointF) -> None:
        point = self.to_image(pos)
        if point is not None:
            self.pan_requested.emit(*point)
