"""Batched overlay items for the IR canvas: targets and highlight boxes, and the drawing helpers
shared with the sky overlays (widgets/overlays_sky.py).

Thousands of targets are drawn by ONE item from numpy arrays turned into a few cached
``QPainterPath`` objects (rebuilt only when the data, selection or zoom level change, never while
panning), with 1-px cosmetic pens (Qt's fast path) at any zoom. Every line gets a dark shadow
on both sides, so overlays read over both black sky and hot clutter.
Hit-testing reads the same arrays (widgets/canvas_hit.py); the canvas tools own the interaction.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from core.domain import Box, Target, TargetState

ACCEPTED = QtGui.QColor("#39ff6a")
PROPOSAL = QtGui.QColor("#ffb020")
SELECTED = QtGui.QColor("#00e5ff")
SUBTRACT = QtGui.QColor("#ff5a5a")  # sky being taken away: a subtracting polygon, the eraser
PREVIEW = QtGui.QColor("#ffffff")
HIGHLIGHT = QtGui.QColor("#ff4df0")
SKY = QtGui.QColor("#6fb1ff")
SKY_PROPOSAL = QtGui.QColor("#ffd166")
# Faint fills: a strong tint lifts the dark IR background and eats faint targets' contrast.
SKY_FILL = QtGui.QColor(111, 177, 255, 30)
SKY_PROPOSAL_FILL = QtGui.QColor(255, 209, 102, 18)
HALO = QtGui.QColor(0, 0, 0, 190)
MARKER_PX = 6.0  # half-length of a point marker's arms, screen pixels
MARKER_GAP_PX = 2.5  # open centre of a point marker, screen pixels
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


_SHADOW_PEN = cosmetic_pen(HALO, 1.0)


def _shifted(painter: QtGui.QPainter, base: QtGui.QTransform, dx: float, dy: float) -> None:
    """Move what is drawn next by (dx, dy) device pixels."""
    painter.setTransform(base * QtGui.QTransform.fromTranslate(dx, dy))


def stroke(
    painter: QtGui.QPainter,
    path: QtGui.QPainterPath,
    color: QtGui.QColor,
    dashed: bool = False,
    bold: bool = False,
) -> None:
    """Stroke with a 1-px cosmetic pen; ``bold`` adds a copy one device pixel down-right.

    Only 1-px cosmetic pens take Qt's fast line rasteriser: a 1.3 or 3 px pen costs ~7x more,
    which is the difference between fluid and sluggish with thousands of boxes.
    """
    pen = cosmetic_pen(color, 1.0, dashed)
    base = painter.transform()
    painter.strokePath(path, pen)
    if bold:
        _shifted(painter, base, 1, 1)
        painter.strokePath(path, pen)
        painter.setTransform(base)


def shadow(painter: QtGui.QPainter, path: QtGui.QPainterPath, bold: bool = False) -> None:
    """A dark outline on both sides of the line (1-px copies shifted up-left and down-right).

    Gives the contrast of a halo over hot clutter at the cost of two fast 1-px strokes.
    """
    base = painter.transform()
    for d in (-1, 2 if bold else 1):
        _shifted(painter, base, d, d)
        painter.strokePath(path, _SHADOW_PEN)
    painter.setTransform(base)


def handles(
    painter: QtGui.QPainter, points: np.ndarray, color: QtGui.QColor, half: float = HANDLE_PX
) -> None:
    """Filled squares of fixed screen size on item points [N, 2], in one path (no Python loop)."""
    if len(points) == 0:
        return
    t = painter.transform()
    x = t.m11() * points[:, 0] + t.m21() * points[:, 1] + t.dx()
    y = t.m12() * points[:, 0] + t.m22() * points[:, 1] + t.dy()
    path = boxes_path(np.stack([x - half, y - half, x + half, y + half], axis=1))
    painter.save()
    painter.resetTransform()
    painter.fillPath(path, color)
    painter.strokePath(path, _SHADOW_PEN)
    painter.restore()


def boxes_path(boxes: np.ndarray) -> QtGui.QPainterPath:
    """One path with a closed rectangle per row of ``boxes`` [N, 4] (x0, y0, x1, y1)."""
    if len(boxes) == 0:
        return QtGui.QPainterPath()
    x = boxes[:, [0, 2, 2, 0, 0]].ravel()
    y = boxes[:, [1, 1, 3, 3, 1]].ravel()
    connect = np.tile(np.array([1, 1, 1, 1, 0], dtype=np.int32), len(boxes))
    return pg.arrayToQPath(x, y, connect=connect, finiteCheck=False)


def markers_path(points: np.ndarray, arm: float, gap: float = 0.0) -> QtGui.QPainterPath:
    """A '+' of half-length ``arm`` on each point [N, 2], its centre left open over ``gap``.

    The open centre keeps the target pixel itself visible under its marker.
    """
    if len(points) == 0:
        return QtGui.QPainterPath()
    px, py = points[:, 0], points[:, 1]
    a, g = arm, min(gap, arm)
    x = np.stack([px - a, px - g, px + g, px + a, px, px, px, px], axis=1).ravel()
    y = np.stack([py, py, py, py, py - a, py - g, py + g, py + a], axis=1).ravel()
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


class LabelPlacer:
    """Greedy non-overlapping placement of screen rectangles (a coarse grid keeps it O(n))."""

    CELL = 64.0

    def __init__(self) -> None:
        self._grid: dict[tuple[int, int], list[QtCore.QRectF]] = {}
        self.count = 0

    def _cells(self, rect: QtCore.QRectF):
        c = self.CELL
        for i in range(int(rect.left() // c), int(rect.right() // c) + 1):
            for j in range(int(rect.top() // c), int(rect.bottom() // c) + 1):
                yield i, j

    def take(self, rect: QtCore.QRectF) -> bool:
        """Reserve ``rect`` unless it overlaps a reserved one; True when reserved."""
        cells = list(self._cells(rect))
        for cell in cells:
            if any(rect.intersects(other) for other in self._grid.get(cell, ())):
                return False
        for cell in cells:
            self._grid.setdefault(cell, []).append(rect)
        self.count += 1
        return True


def painted_rect(painter: QtGui.QPainter) -> QtCore.QRectF | None:
    """The part of the item's coordinate space that this paint call can reach (the device area).

    Not pyqtgraph's ``viewRect()``: that value is cached per item and only cleared by
    ``GraphicsItem.viewTransformChanged``, which ``ImageItem`` and items overriding the hook do
    not call, so after a zoom, a pan or a new image it still describes the first view painted.
    The painter's transform and device are exact for the paint in progress.
    """
    device = painter.device()
    if device is None:
        return None
    inverse, ok = painter.transform().inverted()
    if not ok:
        return None
    return inverse.mapRect(QtCore.QRectF(0, 0, device.width(), device.height()))


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
        self.show_accepted = self.show_proposals = True  # View > hide targets / proposals
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

    def set_kinds_visible(self, accepted: bool, proposals: bool) -> None:
        """Hide every accepted target and/or every proposal (hidden ones leave the selection)."""
        self.show_accepted, self.show_proposals = bool(accepted), bool(proposals)
        self._update_visible()

    def _update_visible(self) -> None:
        with np.errstate(invalid="ignore"):
            below = self.proposal & (np.nan_to_num(self.scores, nan=np.inf) < self.threshold)
        shown = np.where(self.proposal, self.show_proposals, self.show_accepted)
        self.visible = ~below & shown
        self.selected &= self.visible
        self._invalidate(geometry=True)

    def set_selected(self, ids: list[int]) -> None:
        self.selected = np.isin(self.ids, np.asarray(list(ids), dtype=np.int64)) & self.visible
        self._paths.pop("selected", None)  # the other layers do not depend on the selection
        self.update()

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

    # -- painting ------------------------------------------------------------------------
    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt override)
        # Markers, halos and labels extend a few screen pixels past the data; 40 px covers them.
        px = self.pixelLength(pg.Point(1, 0)) if self.getViewBox() is not None else 1.0
        m = 40.0 * (px or 1.0)
        return self._bounds.adjusted(-m, -m, m, m)

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph hook)
        self.prepareGeometryChange()

    def _layers(self, scale: float) -> dict[str, QtGui.QPainterPath]:
        """Cached paths: accepted (boxes + markers), proposal boxes, proposal markers, all.

        Markers depend on the zoom, so the cache is rebuilt on zoom changes, never on pans.
        """
        if self._markers is not None and abs(self._markers[0] - scale) <= 1e-9 * scale:
            return self._markers[1]
        acc, prop = self.visible & ~self.proposal, self.visible & self.proposal
        paths = {
            "accepted": self._boxes_of(acc),
            "proposal_boxes": self._boxes_of(prop),
            "proposal_markers": self._markers_of(prop, scale),
        }
        paths["accepted"].addPath(self._markers_of(acc, scale))
        paths["all"] = QtGui.QPainterPath(paths["accepted"])
        for name in ("proposal_boxes", "proposal_markers"):
            paths["all"].addPath(paths[name])
        self._markers = (scale, paths)
        return paths

    def _boxes_of(self, rows: np.ndarray) -> QtGui.QPainterPath:
        boxes = self.boxes[rows]
        return boxes_path(boxes[np.isfinite(boxes[:, 0])])

    def _markers_of(self, rows: np.ndarray, scale: float) -> QtGui.QPainterPath:
        pts = self.centres[rows]
        pts = pts[np.isfinite(pts[:, 0])]
        if scale >= PIXEL_MARKER_ZOOM:  # a '+' would hide the very pixel being judged
            return boxes_path(np.hstack([pts - 0.5, pts + 0.5]))
        return markers_path(pts, MARKER_PX / scale, MARKER_GAP_PX / scale)

    def paint(self, painter: QtGui.QPainter, *args) -> None:
        if not len(self.ids):
            return
        scale = view_scale(painter)
        paths = self._layers(scale)
        shadow(painter, paths["all"])
        stroke(painter, paths["accepted"], ACCEPTED)
        stroke(painter, paths["proposal_boxes"], PROPOSAL, dashed=True)
        stroke(painter, paths["proposal_markers"], PROPOSAL)
        if self.selected.any():
            if "selected" not in self._paths:
                self._paths["selected"] = self._boxes_of(self.selected)
            shadow(painter, self._paths["selected"], bold=True)
            stroke(painter, self._paths["selected"], SELECTED, bold=True)
        self._paint_preview(painter)
        if scale >= TEXT_MIN_ZOOM:
            self._paint_scores(painter, self.visible & self.proposal)
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
        shadow(painter, self._paths["preview"])
        stroke(painter, self._paths["preview"], PREVIEW, dashed=True, bold=True)

    def _paint_scores(self, painter: QtGui.QPainter, rows: np.ndarray) -> None:
        """Score labels above proposals in view (device coordinates, so text keeps its size)."""
        view = painted_rect(painter)
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
        idx = np.flatnonzero(rows)
        idx = idx[np.argsort(-self.scores[idx], kind="stable")][: 4 * MAX_LABELS]
        if not len(idx):
            return
        t = painter.transform()
        painter.save()
        painter.resetTransform()
        font = painter.font()
        font.setPointSizeF(8.0)
        painter.setFont(font)
        metrics = QtGui.QFontMetricsF(font)
        placed = LabelPlacer()
        for k in idx:
            pos = t.map(QtCore.QPointF(anchor_x[k], anchor_y[k]))
            text = f"{self.scores[k]:.2f}"
            rect = metrics.boundingRect(text).adjusted(-2, -1, 2, 1)
            rect.moveBottomLeft(QtCore.QPointF(pos.x(), pos.y() - 2))
            # Highest scores first; a label that would overlap one already drawn is left out
            # (its box stays): clusters at low thresholds otherwise become unreadable smears.
            if not placed.take(rect):
                continue
            if placed.count > MAX_LABELS:
                break
            painter.fillRect(rect, QtGui.QColor(0, 0, 0, 170))
            painter.setPen(PROPOSAL)
            painter.drawText(rect, QtCore.Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def _paint_handles(self, painter: QtGui.QPainter, scale: float) -> None:
        """Resize handles (corners, edge middles) on selected boxes big enough to be resized."""
        b = self.boxes[self.selected]
        with np.errstate(invalid="ignore"):
            big = np.minimum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * scale >= 8 * HANDLE_PX
        b = b[big][:500]
        if not len(b):
            return
        xs = np.stack([b[:, 0], (b[:, 0] + b[:, 2]) / 2, b[:, 2]], axis=1)
        ys = np.stack([b[:, 1], (b[:, 1] + b[:, 3]) / 2, b[:, 3]], axis=1)
        grid = [(i, j) for i in range(3) for j in range(3) if (i, j) != (1, 1)]
        pts = np.concatenate([np.stack([xs[:, i], ys[:, j]], axis=1) for i, j in grid])
        handles(painter, pts, SELECTED)


class BoxesItem(pg.GraphicsObject):
    """A set of boxes in one colour (highlights: BAG-CP pasted targets, inspector hits)."""

    def __init__(self, color: QtGui.QColor = HIGHLIGHT) -> None:
        super().__init__()
        self._path = QtGui.QPainterPath()
        self._color = QtGui.QColor(color)

    def set_boxes(self, boxes: list[Box], color: object = None) -> None:
        if color is not None:
            self._color = pg.mkColor(color)
        self.prepareGeometryChange()
        self._path = boxes_path(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
        self.update()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt override)
        return self._path.boundingRect().adjusted(-10, -10, 10, 10)

    def paint(self, painter: QtGui.QPainter, *args) -> None:
        shadow(painter, self._path, bold=True)
        stroke(painter, self._path, self._color, dashed=True, bold=True)
