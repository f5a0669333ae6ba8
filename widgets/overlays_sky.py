"""Sky overlays of the IR canvas: ring outlines with vertex editing, the polygon being drawn,
and the translucent sky fills blended into the displayed image.

Split from widgets/overlays.py (targets) to keep each file readable; same drawing rules: 1-px
cosmetic strokes with a dark shadow, batched handles; hit-testing is widgets/canvas_hit.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from widgets.canvas_hit import RingIndex, ring_index
from widgets.overlays import (
    HANDLE_PX,
    PREVIEW,
    SELECTED,
    SKY,
    SKY_PROPOSAL,
    SUBTRACT,
    handles,
    painted_rect,
    rings_path,
    shadow,
    stroke,
)


@dataclass(frozen=True, eq=False)
class SkyGeometry:
    """What ``SkyItem`` draws and hit-tests for a set of rings (``sky_geometry``)."""

    rings: list[np.ndarray] = field(default_factory=list)
    holes: list[bool] = field(default_factory=list)
    path: QtGui.QPainterPath = field(default_factory=QtGui.QPainterPath)
    index: RingIndex = field(default_factory=RingIndex)


def sky_geometry(rings: list[np.ndarray], holes: list[bool] | None = None) -> SkyGeometry:
    """Outline path and hit-testing arrays of ``rings``: numpy and a QPainterPath, no item, so
    the prefetch thread can build them for the next image."""
    index = ring_index(rings)
    return SkyGeometry(
        rings=index.rings,
        holes=list(holes) if holes is not None else [False] * len(index.rings),
        path=rings_path(index.rings),
        index=index,
    )


class SkyItem(pg.GraphicsObject):
    """Sky ring outlines, plus vertex handles and the edited ring's preview while editing.

    The accepted sky has a solid outline, a proposed sky (``proposal=True``) a dashed one in
    another colour. The translucent fill is not drawn here: the canvas blends it into the image
    once per change (``tint_image``), which costs nothing per frame. Handles are drawn only for
    the selected or hovered ring and its vertices in view, so a 2,000-vertex sky stays fluid.
    """

    def __init__(self, proposal: bool = False) -> None:
        super().__init__()
        self._color = SKY_PROPOSAL if proposal else SKY
        self._dashed = proposal
        self.rings: list[np.ndarray] = []
        self.holes: list[bool] = []
        self._path = QtGui.QPainterPath()
        self.editing = False
        self.selected_ring: int | None = None
        self.selected_vertex: int | None = None
        self.hover_ring: int | None = None
        self._preview: np.ndarray | None = None
        self.index = RingIndex()  # hit-testing arrays (widgets/canvas_hit.py)

    def set_rings(self, rings: list[np.ndarray], holes: list[bool] | None = None) -> None:
        self.set_geometry(sky_geometry(rings, holes))

    def set_geometry(self, geometry: SkyGeometry) -> None:
        """Show rings prepared by ``sky_geometry`` (e.g. on the prefetch thread)."""
        self.prepareGeometryChange()
        g = geometry
        self.rings, self.holes, self._path = g.rings, g.holes, g.path
        self.selected_ring = self.selected_vertex = self.hover_ring = None
        self._preview = None
        self.index = g.index
        self.update()

    def set_selection(self, ring: int | None, vertex: int | None = None) -> None:
        self.selected_ring, self.selected_vertex = ring, vertex
        self.update()

    def set_hover(self, ring: int | None) -> None:
        if ring != self.hover_ring:
            self.hover_ring = ring
            self.update()

    def set_preview(self, points: np.ndarray | None) -> None:
        """Live feedback while a vertex is dragged: the edited ring as it would become."""
        self._preview = points
        self.update()

    # -- painting ------------------------------------------------------------------------
    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt override)
        return self._path.boundingRect().adjusted(-50, -50, 50, 50)

    def paint(self, painter: QtGui.QPainter, *args) -> None:
        if self._path.isEmpty():
            return
        shadow(painter, self._path)
        stroke(painter, self._path, self._color, dashed=self._dashed)
        if not self.editing:
            return
        for k, bold in ((self.hover_ring, False), (self.selected_ring, True)):
            if k is not None and k < len(self.rings):
                stroke(painter, rings_path([self.rings[k]]), SELECTED, bold=bold)
        if self._preview is not None:
            path = rings_path([self._preview])
            shadow(painter, path, bold=True)
            stroke(painter, path, PREVIEW, dashed=True, bold=True)
        ring = (
            self._preview
            if self._preview is not None
            else (self.rings[self.selected_ring] if self.selected_ring is not None else None)
        )
        if ring is None and self.hover_ring is not None:
            ring = self.rings[self.hover_ring]
        if ring is not None:
            self._paint_handles(painter, ring)
        elif self.rings:
            # Nothing picked yet: show every vertex in view, so the mode shows what it edits.
            self._paint_handles(painter, np.concatenate([np.asarray(r) for r in self.rings]))

    def _paint_handles(self, painter: QtGui.QPainter, ring: np.ndarray) -> None:
        view = painted_rect(painter)
        if view is None:
            return
        inside = (
            (ring[:, 0] >= view.left())
            & (ring[:, 0] <= view.right())
            & (ring[:, 1] >= view.top())
            & (ring[:, 1] <= view.bottom())
        )
        if inside.sum() > 1500:
            return  # zoomed far out: handles would merge into a smear; edges stay clickable
        handles(painter, ring[inside], SELECTED)
        v = self.selected_vertex
        if v is not None and self._preview is None and v < len(ring):
            handles(painter, ring[v : v + 1], PREVIEW, 1.6 * HANDLE_PX)


def visible_pixels(area: QtCore.QRectF, view: QtCore.QRectF) -> QtCore.QRectF:
    """``area`` clipped to ``view`` and grown to whole pixels (for partial image draws)."""
    a = area.intersected(view)
    if a.isEmpty():
        return a
    return QtCore.QRectF(
        QtCore.QPointF(np.floor(a.left()), np.floor(a.top())),
        QtCore.QPointF(np.ceil(a.right()), np.ceil(a.bottom())),
    )


def tint_regions(masks: list[np.ndarray | None]) -> np.ndarray | None:
    """uint16 [H, W] lookup offsets: bit k of (value >> 8) set where mask k is True (k < 8)."""
    region = None
    for k, m in enumerate(masks):
        if m is None:
            continue
        bit = np.asarray(m, dtype=bool).astype(np.uint16) << np.uint16(8 + k)
        region = bit if region is None else region | bit
    return region


def tint_image(
    qimage: QtGui.QImage, region: np.ndarray | None, colors: list[QtGui.QColor]
) -> QtGui.QImage:
    """RGB32 copy of an indexed image with translucent fills blended where the masks are True.

    One table lookup per pixel (colour table x mask combination), done once per display or sky
    change, so the sky fill costs nothing per frame and covers exactly the mask's pixels.
    ``region`` comes from ``tint_regions`` (same mask order as ``colors``).
    """
    if qimage.format() != QtGui.QImage.Format.Format_Indexed8:
        return qimage.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    h, w = qimage.height(), qimage.width()
    idx = np.frombuffer(qimage.constBits(), np.uint8).reshape(h, qimage.bytesPerLine())[:, :w]
    ctab = np.zeros(256, dtype=np.uint32)
    colours = np.asarray(qimage.colorTable(), dtype=np.uint32)
    ctab[: len(colours)] = colours
    if region is None or region.shape != (h, w):
        out = ctab[idx] | np.uint32(0xFF000000)
    else:
        table = np.concatenate([_blend(ctab, combo, colors) for combo in range(1 << len(colors))])
        out = table[region + idx]
    out = np.ascontiguousarray(out, dtype=np.uint32)
    fmt = QtGui.QImage.Format.Format_RGB32
    return QtGui.QImage(out.data, w, h, 4 * w, fmt).copy()


def _blend(ctab: np.ndarray, combo: int, colors: list[QtGui.QColor]) -> np.ndarray:
    """The colour table with the fills of the masks in bit set ``combo`` blended over it."""
    rgb = np.stack([(ctab >> 16) & 255, (ctab >> 8) & 255, ctab & 255], axis=1).astype(np.float32)
    for k, color in enumerate(colors):
        if combo >> k & 1:
            a = color.alphaF()
            rgb = rgb * (1.0 - a) + np.array([color.red(), color.green(), color.blue()]) * a
    c = np.round(rgb).astype(np.uint32)
    return np.uint32(0xFF000000) | (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]


def points_bounds(item: pg.GraphicsObject, pts: list[tuple[float, float]], margin: float,
                  margin_px: float) -> QtCore.QRectF:
    """The box around ``pts`` (item coordinates) grown by ``margin`` item units plus ``margin_px``
    screen pixels (handles and halos keep their screen size); empty without points."""
    if not pts:
        return QtCore.QRectF()
    a = np.asarray(pts)
    (x0, y0), (x1, y1) = a.min(axis=0), a.max(axis=0)
    px = item.pixelLength(pg.Point(1, 0)) if item.getViewBox() is not None else 1.0
    m = margin + margin_px * (px or 1.0)
    return QtCore.QRectF(x0 - m, y0 - m, x1 - x0 + 2 * m, y1 - y0 + 2 * m)


class DraftItem(pg.GraphicsObject):
    """The sky polygon being drawn: placed vertices, the rubber edge to the cursor, the closing edge."""

    def __init__(self) -> None:
        super().__init__()
        self.points: list[tuple[float, float]] = []
        self.cursor: tuple[float, float] | None = None
        self.subtract = False

    def set_draft(
        self, points: list[tuple[float, float]], cursor: tuple[float, float] | None, subtract: bool
    ) -> None:
        self.prepareGeometryChange()
        self.points, self.cursor, self.subtract = list(points), cursor, subtract
        self.update()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt override)
        return points_bounds(self, self.points + ([self.cursor] if self.cursor else []), 0.0, 20.0)

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph hook)
        self.prepareGeometryChange()

    def paint(self, painter: QtGui.QPainter, *args) -> None:
        if not self.points:
            return
        color = SUBTRACT if self.subtract else SELECTED
        pts = self.points + ([self.cursor] if self.cursor else [])
        line = QtGui.QPainterPath()
        line.addPolygon(QtGui.QPolygonF([QtCore.QPointF(x, y) for x, y in pts]))
        shadow(painter, line, bold=True)
        stroke(painter, line, color, bold=True)
        if len(pts) >= 3:  # where the polygon will close
            closing = QtGui.QPainterPath(QtCore.QPointF(*pts[-1]))
            closing.lineTo(QtCore.QPointF(*pts[0]))
            stroke(painter, closing, color, dashed=True)
        handles(painter, np.asarray(self.points, dtype=np.float64), color)
