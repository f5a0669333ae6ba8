"""The sky brush's feedback on the canvas: the stroke being painted and the brush outline at the
cursor (widgets/canvas_tools_brush.py drives it). Image coordinates, like every overlay."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from widgets.overlays import SELECTED, SUBTRACT, shadow, stroke
from widgets.overlays_sky import points_bounds


class BrushItem(pg.GraphicsObject):
    """``points``: the stroke's centre path so far (empty: no stroke); ``cursor``: where the
    brush outline is drawn (None: nowhere); ``radius`` in image pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.points: list[tuple[float, float]] = []
        self.cursor: tuple[float, float] | None = None
        self.radius = 1.0
        self.subtract = False
        self.area = QtGui.QPainterPath()  # the swept area, built once per change (not per paint)

    def set_brush(
        self, points: list[tuple[float, float]], cursor: tuple[float, float] | None, radius: float, subtract: bool
    ) -> None:
        self.prepareGeometryChange()
        self.points, self.cursor, self.radius, self.subtract = list(points), cursor, float(radius), subtract
        self.area = self.stroke_path()
        self.update()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt override)
        # the brush reaches its radius out; the outline's halo a few screen pixels more
        return points_bounds(self, self.points + ([self.cursor] if self.cursor else []), self.radius, 4.0)

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph hook)
        self.prepareGeometryChange()

    def stroke_path(self) -> QtGui.QPainterPath:
        """The area the stroke covers so far (round caps and joins, 2 x radius wide)."""
        area = QtGui.QPainterPath()
        area.setFillRule(QtCore.Qt.FillRule.WindingFill)
        if len(self.points) == 1:  # a dab
            area.addEllipse(QtCore.QPointF(*self.points[0]), self.radius, self.radius)
        elif self.points:
            line = QtGui.QPainterPath(QtCore.QPointF(*self.points[0]))
            for x, y in self.points[1:]:
                line.lineTo(x, y)
            stroker = QtGui.QPainterPathStroker()
            stroker.setWidth(2.0 * self.radius)
            stroker.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap)
            stroker.setJoinStyle(QtCore.Qt.PenJoinStyle.RoundJoin)
            area.addPath(stroker.createStroke(line))
        return area

    def paint(self, painter: QtGui.QPainter, *args) -> None:
        color = SUBTRACT if self.subtract else SELECTED
        if self.points:
            fill = QtGui.QColor(color)
            fill.setAlpha(90)
            painter.fillPath(self.area, fill)
        if self.cursor is not None:
            ring = QtGui.QPainterPath()
            ring.addEllipse(QtCore.QPointF(*self.cursor), self.radius, self.radius)
            shadow(painter, ring)
            stroke(painter, ring, color)
