"""Batched overlay items for the IR canvas: targets, sky rings, the sky draft polygon, highlights.

Thousands of targets are drawn by ONE item from numpy arrays turned into a few cached
``QPainterPath`` objects (rebuilt only when the data, selection or zoom level change, never while
panning), with cosmetic pens so lines stay 1-2 screen pixels wide at any zoom. Every line is drawn
twice, a dark halo under a bright colour, so overlays read over both black sky and hot clutter.
Hit-testing is numpy on the same arrays; the canvas owns the interaction logic.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from core.types import Box, Target, TargetState

ACCEPTED = QtGui.QColor("#39ff6a")
PROPOSAL = QtGui.QColor("#ffb020")
SELECTED = QtGui.QColor("#00e5ff")
PREVIEW = QtGui.QColor("#ffffff")
HIGHLIGHT = QtGui.QColor("#ff4df0")
SKY = QtGui.QColor("#6fb1ff")
SKY_PROPOSAL = QtGui.QColor("#ffd166")
HALO = QtGui.QColor(0, 0, 0, 190)
MARKER_PX = 5.0  # half-length of a point marker's arms, screen pixels
HANDLE_PX = 3.5  # half-size of a resize / vertex handle, screen pixels
TEXT_MIN_ZOOM = 2.5  # score labels only when an image pixel spans this many screen pixels
MAX_LABELS = 400
PIXEL_MARKER_ZOOM = 6.0  # from this zoom on, a point is outlined as its pixel instead of a '+'


def cosmetic_pen(color: QtGui.QColor, width: float = 1.0, dashed: bool = False) -> QtGui.QPen:
    pen = QtGui.QPen(color, width)
    pen.setCosmetic(True)
    if dashed:
        pen.setDashPattern([4.0, 3.0])
    return pen


_HALO_PEN = cosmetic_pen(HALO, 3.0)


def boxes_path(boxes: np.ndarray) -> QtGui.QPainterPath:
    """One path with a closed rectangle per row of ``boxes`` [N, 4] (x0, y0, x1, y1)."""
    if len(boxes) == 0:
        return QtGui.QPainterPath()
    x = boxes[:, [0, 2, 2, 0, 0]].ravel()
    y = boxes[:, [1, 1, 3, 3, 1]].ravel()
    connect = np.tile(np.array([1, 1, 1, 1, 0], dtype=np.int32), len(boxes))
    return pg.arrayToQPath(x, y, connect=connect, finiteCheck=False)


def markers_path(points: np.ndarray, arm: float) -> QtGui.QPainterPath:
    """A '+' of half-length ``arm`` (item units) on each point [N, 2]."""
    if len(points) == 0:
        return QtGui.QPainterPath()
    px, py = points[:, 0], points[:, 1]
    x = np.stack([px - arm, px + arm, px, px], axis=1).ravel()
    y = np.stack([py, py, py - arm, py + arm], axis=1).ravel()
    return pg.arrayToQPath(x, y, connect="pairs", finiteCheck=False)


def rings_path(rings: list[np.ndarray]) -> QtGui.QPainterPath:
    """Closed polygons (odd-even fill, so holes stay open) in one path."""
    path = QtGui.QPainterPath()
    chunks = [np.vstack([r, r[:1]]) for r in rings if len(r) > 0]
    if chunks:
        pts = np.vstack(chunks)
        connect = np.ones(len(pts), dtype=np.int32)
        ends = np.cumsum([len(c) for c in chunks]) - 1
        connect[ends] = 0
        path = pg.arrayToQPath(pts[:, 0], pts[:, 1], connect=connect, finiteCheck=False)
    path.setFillRule(QtCore.Qt.FillRule.OddEvenFill)
    return path


def view_scale(painter: QtGui.QPainter) -> float:
    """Screen pixels per item unit under the painter's current transform."""
    t = painter.transform()
    return max(float(np.hypot(t.m11(), t.m12())), 1e-9)


class TargetsItem(pg.GraphicsObject):
    """All targets of an image in one item: boxes, point markers, selection, drag preview, scores."""

    def __init__(self) -> None:
        super().__init__()
        self.ids = np.zeros(0, dtype=np.int64)
        self.boxes = np.zeros((0, 4))  # NaN rows: no box
        self.centres = np.zeros((0, 2))  # point markers at pixel centres, NaN: no point
        self.proposal = np.zeros(0, dtype=bool)
        self.scores = np.zeros(0)
        self.targets: list[Target] = []
        self.threshold = 0.0
        self.visible = np.zeros(0, dtype=bool)
        self.selected = np.zeros(0, dtype=bool)
        self._index: dict[int, int] = {}
        self._preview: dict[int, tuple[tuple | None, Box | None]] = {}
        self._paths: dict[str, QtGui.QPainterPath] = {}
        self._markers: tuple[float, dict[str, QtGui.QPainterPath]] | None = None
        self._bounds = QtCore.QRectF()

    # -- data --------------------------------------------------------------------------
    def set_targets(self, targets: list[Target]) -> None:
        n = len(targets)
        keep = self.selected_ids()
        self.targets = list(targets)
        # Targets not stored yet get negative ids so that they can still be drawn and hit-tested.
        self.ids = np.array(
            [t.id if t.id is not None else -1 - i for i, t in enumerate(targets)], dtype=np.int64
        )
        self.boxes = np.array(
            [t.box if t.box is not None else (np.nan,) * 4 for t in targets], dtype=np.float64
        ).reshape(n, 4)
        pts = [
            (t.point[0] + 0.5, t.point[1] + 0.5) if t.point is not None else (np.nan, np.nan)
            for t in targets
        ]
        self.centres = np.array(pts, dtype=np.float64).reshape(n, 2)
        self.proposal = np.array([t.state == TargetState.PROPOSAL for t in targets], dtype=bool)
        self.scores = np.array(
            [np.nan if t.score is None else t.score for t in targets], dtype=float
        )
        self._index = {int(i): k for k, i in enumerate(self.ids)}
        self.selected = np.isin(self.ids, np.asarray(keep, dtype=np.int64))
        self._preview = {}
        self._update_visible()

    def set_threshold(self, thr: float) -> None:
        self.threshold = float(thr)
        self._update_visible()

    def _update_visible(self) -> None:
        with np.errstate(invalid="ignore"):
            below = self.proposal & (np.nan_to_num(self.scores, nan=np.inf) < self.threshold)
        self.visible = ~below
        self.selected &= self.visible
        self._invalidate(geometry=True)

    def set_selected(self, ids: list[int]) -> None:
        self.selected = np.isin(self.ids, np.asarray(list(ids), dtype=np.int64)) & self.visible
        self._invalidate()

    def set_preview(self, preview: dict[int, tuple[tuple | None, Box | None]]) -> None:
        """Live drag feedback: id -> (new point, new box) drawn over the stored geometry."""
        self._preview = dict(preview)
        self._paths.pop("preview", None)
        self.update()

    def selected_ids(self) -> list[int]:
        return [int(i) for i in self.ids[self.selected]] if len(self.selected) else []

    def visible_ids(self) -> list[int]:
        return [int(i) for i in self.ids[self.visible]]

    def target(self, target_id: int) -> Target | None:
        k = self._index.get(int(target_id))
        return None if k is None else self.targets[k]

    def _invalidate(self, geometry: bool = False) -> None:
        self._paths = {}
        self._markers = None
        if geometry:
            self.prepareGeometryChange()
            self._bounds = self._data_bounds()
        self.update()

    def _data_bounds(self) -> QtCore.QRectF:
        xs = np.concatenate([self.boxes[:, 0], self.boxes[:, 2], self.centres[:, 0]])
        ys = np.concatenate([self.boxes[:, 1], self.boxes[:, 3], self.centres[:, 1]])
        if not np.isfinite(xs).any():
            return QtCore.QRectF()
        x0, x1, y0, y1 = np.nanmin(xs), np.nanmax(xs), np.nanmin(ys), np.nanmax(ys)
        return QtCore.QRectF(x0, y0, x1 - x0, y1 - y0)

    # -- hit testing ---------------------------------------------------------------------
    def hit_target(self, x: float, y: float, tol: float) -> int | None:
        """Id of the visible target under (x, y): inside its box grown by ``tol`` or near its point.

        Among several, the smallest box wins, so a 3-px target inside a big one stays clickable.
        """
        if not len(self.ids):
            return None
        b = self.boxes
        with np.errstate(invalid="ignore"):
            in_box = (
                (x >= b[:, 0] - tol)
                & (x <= b[:, 2] + tol)
                & (y >= b[:, 1] - tol)
                & (y <= b[:, 3] + tol)
            )
            d = np.hypot(self.centres[:, 0] - x, self.centres[:, 1] - y)
            near = d <= 1.5 * tol
        hit = (in_box | near) & self.visible
        if not hit.any():
            return None
        area = np.nan_to_num((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), nan=0.0)
        cx = np.where(np.isfinite(b[:, 0]), (b[:, 0] + b[:, 2]) / 2, self.centres[:, 0])
        cy = np.where(np.isfinite(b[:, 1]), (b[:, 1] + b[:, 3]) / 2, self.centres[:, 1])
        dist = np.hypot(cx - x, cy - y)
        order = np.lexsort((dist[hit], area[hit]))
        return int(self.ids[hit][order[0]])

    def hit_handle(
        self, x: float, y: float, tol: float
    ) -> tuple[int, tuple[bool, bool, bool, bool]] | None:
        """(id, (left, top, right, bottom)) when (x, y) is on an edge or corner of a selected box.

        Boxes smaller than 4 tolerances are moved, not resized: at that size the edges would
        swallow the whole body.
        """
        for k in np.flatnonzero(self.selected):
            x0, y0, x1, y1 = self.boxes[k]
            if not np.isfinite(x0) or (x1 - x0) < 4 * tol or (y1 - y0) < 4 * tol:
                continue
            if not (x0 - tol <= x <= x1 + tol and y0 - tol <= y <= y1 + tol):
                continue
            edges = (abs(x - x0) <= tol, abs(y - y0) <= tol, abs(x - x1) <= tol, abs(y - y1) <= tol)
            if any(edges):
                return int(self.ids[k]), edges
        return None

    def ids_in_rect(self, x0: float, y0: float, x1: float, y1: float) -> list[int]:
        """Visible targets whose box centre (or point) lies in the rectangle."""
        b = self.boxes
        cx = np.where(np.isfinite(b[:, 0]), (b[:, 0] + b[:, 2]) / 2, self.centres[:, 0])
        cy = np.where(np.isfinite(b[:, 1]), (b[:, 1] + b[:, 3]) / 2, self.centres[:, 1])
        with np.errstate(invalid="ignore"):
            inside = (
                (cx >= min(x0, x1))
                & (cx <= max(x0, x1))
                & (cy >= min(y0, y1))
                & (cy <= max(y0, y1))
            )
        return [int(i) for i in self.ids[inside & self.visible]]

    # -- painting ------------------------------------------------------------------------
    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt override)
        # Markers, halos and labels extend a few screen pixels past the data; 40 px covers them.
        px = self.pixelLength(pg.Point(1, 0)) if self.getViewBox() is not None else 1.0
        m = 40.0 * (px or 1.0)
        return self._bounds.adjusted(-m, -m, m, m)

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph hook)
        self.prepareGeometryChange()

    def _path(self, name: str, rows: np.ndarray) -> QtGui.QPainterPath:
        if name not in self._paths:
            boxes = self.boxes[rows]
            self._paths[name] = boxes_path(boxes[np.isfinite(boxes[:, 0])])
        return self._paths[name]

    def _marker_paths(self, scale: float) -> dict[str, QtGui.QPainterPath]:
        if self._markers is None or abs(self._markers[0] - scale) > 1e-9 * scale:
            arm = MARKER_PX / scale
            paths = {}
            for name, rows in (
                ("accepted", self.visible & ~self.proposal),
                ("proposal", self.visible & self.proposal),
            ):
                pts = self.centres[rows]
                pts = pts[np.isfinite(pts[:, 0])]
                if scale >= PIXEL_MARKER_ZOOM:  # a '+' would hide the very pixel being judged
                    paths[name] = boxes_path(np.hstack([pts - 0.5, pts + 0.5]))
                else:
                    paths[name] = markers_path(pts, arm)
            self._markers = (scale, paths)
        return self._markers[1]

    def paint(self, painter: QtGui.QPainter, *args) -> None:
        if not len(self.ids):
            return
        scale = view_scale(painter)
        acc, prop = self.visible & ~self.proposal, self.visible & self.proposal
        markers = self._marker_paths(scale)
        layers = [
            (self._path("accepted", acc), cosmetic_pen(ACCEPTED, 1.3)),
            (markers["accepted"], cosmetic_pen(ACCEPTED, 1.3)),
            (self._path("proposal", prop), cosmetic_pen(PROPOSAL, 1.3, dashed=True)),
            (markers["proposal"], cosmetic_pen(PROPOSAL, 1.3)),
            (self._path("selected", self.selected), cosmetic_pen(SELECTED, 2.0)),
        ]
        for path, _ in layers:
            painter.strokePath(path, _HALO_PEN)
        for path, pen in layers:
            painter.strokePath(path, pen)
        self._paint_preview(painter)
        if scale >= TEXT_MIN_ZOOM:
            self._paint_scores(painter, prop)
        self._paint_handles(painter, scale)

    def _paint_preview(self, painter: QtGui.QPainter) -> None:
        if not self._preview:
            return
        if "preview" not in self._paths:
            boxes = np.array([b for _, b in self._preview.values() if b is not None]).reshape(-1, 4)
            pts = np.array(
                [(p[0] + 0.5, p[1] + 0.5) for p, _ in self._preview.values() if p is not None]
            )
            path = boxes_path(boxes)
            if len(pts):
                path.addPath(markers_path(pts.reshape(-1, 2), 0.5))
            self._paths["preview"] = path
        painter.strokePath(self._paths["preview"], _HALO_PEN)
        painter.strokePath(self._paths["preview"], cosmetic_pen(PREVIEW, 1.5, dashed=True))

    def _paint_scores(self, painter: QtGui.QPainter, rows: np.ndarray) -> None:
        """Score labels above proposals in view (device coordinates, so text keeps its size)."""
        view = self.viewRect()
        if view is None:
            return
        b = self.boxes
        anchor_x = np.where(np.isfinite(b[:, 0]), b[:, 0], self.centres[:, 0] - 0.5)
        anchor_y = np.where(np.isfinite(b[:, 1]), b[:, 1], self.centres[:, 1] - 0.5)
        with np.errstate(invalid="ignore"):
            rows = (
                rows
                & np.isfinite(self.scores)
                & (anchor_x >= view.left())
                & (anchor_x <= view.right())
                & (anchor_y >= view.top())
                & (anchor_y <= view.bottom())
            )
        idx = np.flatnonzero(rows)[:MAX_LABELS]
        if not len(idx):
            return
        t = painter.transform()
        painter.save()
        painter.resetTransform()
        font = painter.font()
        font.setPointSizeF(8.0)
        painter.setFont(font)
        metrics = QtGui.QFontMetricsF(font)
        for k in idx:
            pos = t.map(QtCore.QPointF(anchor_x[k], anchor_y[k]))
            text = f"{self.scores[k]:.2f}"
            rect = metrics.boundingRect(text).adjusted(-2, -1, 2, 1)
            rect.moveBottomLeft(QtCore.QPointF(pos.x(), pos.y() - 2))
            painter.fillRect(rect, QtGui.QColor(0, 0, 0, 170))
            painter.setPen(PROPOSAL)
            painter.drawText(rect, QtCore.Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def _paint_handles(self, painter: QtGui.QPainter, scale: float) -> None:
        """Resize handles on the selected boxes large enough on screen to be resized."""
        rows = np.flatnonzero(self.selected)
        if not len(rows) or len(rows) > 200:
            return
        t = painter.transform()
        painter.save()
        painter.resetTransform()
        painter.setPen(cosmetic_pen(HALO, 1.0))
        painter.setBrush(SELECTED)
        s = HANDLE_PX
        for k in rows:
            x0, y0, x1, y1 = self.boxes[k]
            if not np.isfinite(x0) or min(x1 - x0, y1 - y0) * scale < 8 * s:
                continue
            xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
            for hx, hy in (
                (x0, y0),
                (xm, y0),
                (x1, y0),
                (x1, ym),
                (x1, y1),
                (xm, y1),
                (x0, y1),
                (x0, ym),
            ):
                c = t.map(QtCore.QPointF(hx, hy))
                painter.drawRect(QtCore.QRectF(c.x() - s, c.y() - s, 2 * s, 2 * s))
        painter.restore()


class BoxesItem(pg.GraphicsObject):
    """A set of boxes in one colour (highlights: BAG-CP pasted targets, inspector hits)."""

    def __init__(self, color: QtGui.QColor = HIGHLIGHT) -> None:
        super().__init__()
        self._path = QtGui.QPainterPath()
        self._pen = cosmetic_pen(QtGui.QColor(color), 2.0, dashed=True)

    def set_boxes(self, boxes: list[Box], color: object = None) -> None:
        if color is not None:
            self._pen = cosmetic_pen(pg.mkColor(color), 2.0, dashed=True)
        self.prepareGeometryChange()
        self._path = boxes_path(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
        self.update()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt override)
        return self._path.boundingRect().adjusted(-10, -10, 10, 10)

    def paint(self, painter: QtGui.QPainter, *args) -> None:
        painter.strokePath(self._path, _HALO_PEN)
        painter.strokePath(self._path, self._pen)


class SkyItem(pg.GraphicsObject):
    """Sky rings as a translucent odd-even fill plus outline; vertex handles while editing.

    The accepted sky is filled with a solid outline; a proposed sky (``proposal=True``) gets a
    fainter fill and a dashed outline in another colour. Handles are drawn only for the selected
    or hovered ring and only for its vertices in view, so a 2,000-vertex sky stays responsive.
    """

    def __init__(self, proposal: bool = False) -> None:
        super().__init__()
        color = SKY_PROPOSAL if proposal else SKY
        fill = QtGui.QColor(color)
        # Faint: a strong tint lifts the dark IR background and eats the contrast of faint targets.
        fill.setAlpha(14 if proposal else 26)
        self._brush = QtGui.QBrush(fill)
        self._pen = cosmetic_pen(color, 1.5, dashed=proposal)
        self.rings: list[np.ndarray] = []
        self.holes: list[bool] = []
        self._path = QtGui.QPainterPath()
        self.editing = False
        self.selected_ring: int | None = None
        self.selected_vertex: int | None = None
        self.hover_ring: int | None = None
        self._preview: np.ndarray | None = None
        self._vertices = np.zeros((0, 2))
        self._ring_of = np.zeros(0, dtype=np.intp)
        self._vertex_of = np.zeros(0, dtype=np.intp)
        self._seg_end = np.zeros((0, 2))
        self._bboxes = np.zeros((0, 4))
        self._areas = np.zeros(0)

    def set_rings(self, rings: list[np.ndarray], holes: list[bool] | None = None) -> None:
        self.prepareGeometryChange()
        self.rings = [np.asarray(r, dtype=np.float64).reshape(-1, 2) for r in rings]
        self.holes = list(holes) if holes is not None else [False] * len(self.rings)
        self._path = rings_path(self.rings)
        self.selected_ring = self.selected_vertex = self.hover_ring = None
        self._preview = None
        counts = [len(r) for r in self.rings]
        self._vertices = np.vstack(self.rings) if self.rings else np.zeros((0, 2))
        self._ring_of = np.repeat(np.arange(len(self.rings)), counts)
        self._vertex_of = (
            np.concatenate([np.arange(c) for c in counts]) if counts else np.zeros(0, np.intp)
        )
        self._seg_end = (
            np.vstack([np.roll(r, -1, axis=0) for r in self.rings])
            if self.rings
            else np.zeros((0, 2))
        )
        self._bboxes = np.array([[*r.min(axis=0), *r.max(axis=0)] for r in self.rings]).reshape(
            -1, 4
        )
        self._areas = np.array([abs(_shoelace(r)) for r in self.rings])
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

    # -- hit testing ---------------------------------------------------------------------
    def vertex_at(self, x: float, y: float, tol: float) -> tuple[int, int] | None:
        if not len(self._vertices):
            return None
        d = np.hypot(self._vertices[:, 0] - x, self._vertices[:, 1] - y)
        k = int(np.argmin(d))
        return (int(self._ring_of[k]), int(self._vertex_of[k])) if d[k] <= tol else None

    def edge_at(
        self, x: float, y: float, tol: float
    ) -> tuple[int, int, tuple[float, float]] | None:
        """(ring, index of the segment's first vertex, closest point) for the nearest edge."""
        if not len(self._vertices):
            return None
        a, b = self._vertices, self._seg_end
        ab = b - a
        denom = np.maximum((ab**2).sum(axis=1), 1e-12)
        t = np.clip(((x - a[:, 0]) * ab[:, 0] + (y - a[:, 1]) * ab[:, 1]) / denom, 0.0, 1.0)
        proj = a + t[:, None] * ab
        d = np.hypot(proj[:, 0] - x, proj[:, 1] - y)
        k = int(np.argmin(d))
        if d[k] > tol:
            return None
        return (
            int(self._ring_of[k]),
            int(self._vertex_of[k]),
            (float(proj[k, 0]), float(proj[k, 1])),
        )

    def ring_at(self, x: float, y: float) -> int | None:
        """The smallest ring containing (x, y) (a hole inside a sky region wins over the region)."""
        import cv2

        if not len(self.rings):
            return None
        bb = self._bboxes
        cand = np.flatnonzero((x >= bb[:, 0]) & (x <= bb[:, 2]) & (y >= bb[:, 1]) & (y <= bb[:, 3]))
        inside = [
            int(k)
            for k in cand
            if cv2.pointPolygonTest(self.rings[k].astype(np.float32), (float(x), float(y)), False)
            >= 0
        ]
        return min(inside, key=lambda k: self._areas[k]) if inside else None

    # -- painting ------------------------------------------------------------------------
    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt override)
        return self._path.boundingRect().adjusted(-50, -50, 50, 50)

    def paint(self, painter: QtGui.QPainter, *args) -> None:
        if self._path.isEmpty():
            return
        painter.fillPath(self._path, self._brush)
        painter.strokePath(self._path, _HALO_PEN)
        painter.strokePath(self._path, self._pen)
        if not self.editing:
            return
        for k, width in ((self.hover_ring, 2.0), (self.selected_ring, 2.5)):
            if k is not None and k < len(self.rings):
                path = rings_path([self.rings[k]])
                painter.strokePath(path, cosmetic_pen(SELECTED, width))
        if self._preview is not None:
            path = rings_path([self._preview])
            painter.strokePath(path, _HALO_PEN)
            painter.strokePath(path, cosmetic_pen(PREVIEW, 1.5, dashed=True))
        ring = (
            self._preview
            if self._preview is not None
            else (self.rings[self.selected_ring] if self.selected_ring is not None else None)
        )
        if ring is None and self.hover_ring is not None:
            ring = self.rings[self.hover_ring]
        if ring is not None:
            self._paint_handles(painter, ring)

    def _paint_handles(self, painter: QtGui.QPainter, ring: np.ndarray) -> None:
        view = self.viewRect()
        if view is None:
            return
        inside = (
            (ring[:, 0] >= view.left())
            & (ring[:, 0] <= view.right())
            & (ring[:, 1] >= view.top())
            & (ring[:, 1] <= view.bottom())
        )
        idx = np.flatnonzero(inside)
        if len(idx) > 1500:
            return  # zoomed far out: handles would be a solid smear and cost a lot to draw
        t = painter.transform()
        painter.save()
        painter.resetTransform()
        painter.setPen(cosmetic_pen(HALO, 1.0))
        s = HANDLE_PX
        for k in idx:
            c = t.map(QtCore.QPointF(ring[k, 0], ring[k, 1]))
            sel = k == self.selected_vertex and self._preview is None
            painter.setBrush(PREVIEW if sel else SELECTED)
            r = s * (1.6 if sel else 1.0)
            painter.drawRect(QtCore.QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r))
        painter.restore()


def _shoelace(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


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
        pts = self.points + ([self.cursor] if self.cursor else [])
        if not pts:
            return QtCore.QRectF()
        a = np.asarray(pts)
        x0, y0 = a.min(axis=0)
        x1, y1 = a.max(axis=0)
        px = self.pixelLength(pg.Point(1, 0)) if self.getViewBox() is not None else 1.0
        m = 20.0 * (px or 1.0)
        return QtCore.QRectF(x0 - m, y0 - m, x1 - x0 + 2 * m, y1 - y0 + 2 * m)

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph hook)
        self.prepareGeometryChange()

    def paint(self, painter: QtGui.QPainter, *args) -> None:
        if not self.points:
            return
        color = QtGui.QColor("#ff5a5a") if self.subtract else SELECTED
        pts = self.points + ([self.cursor] if self.cursor else [])
        poly = QtGui.QPolygonF([QtCore.QPointF(x, y) for x, y in pts])
        painter.setPen(_HALO_PEN)
        painter.drawPolyline(poly)
        painter.setPen(cosmetic_pen(color, 1.5))
        painter.drawPolyline(poly)
        if len(pts) >= 3:  # where the polygon will close
            painter.setPen(cosmetic_pen(color, 1.0, dashed=True))
            painter.drawLine(poly[len(pts) - 1], poly[0])
        t = painter.transform()
        painter.save()
        painter.resetTransform()
        painter.setPen(cosmetic_pen(HALO, 1.0))
        painter.setBrush(color)
        for x, y in self.points:
            c = t.map(QtCore.QPointF(x, y))
            painter.drawRect(
                QtCore.QRectF(c.x() - HANDLE_PX, c.y() - HANDLE_PX, 2 * HANDLE_PX, 2 * HANDLE_PX)
            )
        painter.restore()
