"""IRCanvas: the image view for annotating small infrared targets (pyqtgraph ImageItem + ViewBox).

Shows raw pixels at full bit depth (window / gamma / colormap from ``DisplayControls``), targets,
proposals and sky as batched overlays, and turns mouse / keyboard input into *requests* (signals).
It never edits its own data: the app turns each request into an undoable command and calls the
setters again. Contract: docs/architecture.md, "widgets/canvas.py".

Mouse: wheel zooms at the cursor; middle / right drag, space + drag, or a left drag that starts on
empty image pans. Keys: F / Home fit, L loupe, Esc cancels. In "edit" mode: click empty image to
add, click / Ctrl- or Shift-click / Ctrl-drag to select, drag a body to move, drag an edge or
corner of a selected box to resize, arrows nudge 1 px, Shift + arrows resize (right / down grow,
left / up shrink the right / bottom edge), Delete / Backspace delete, A accept, R reject,
double-click a proposal to accept it, Ctrl+A selects all visible. "draw_sky": click vertices,
Enter or double-click closes (Shift at closing subtracts), Backspace drops the last vertex.
"edit_sky": drag a vertex, press on an edge and drag to insert one, right-click or Delete removes
the selected vertex, Delete with a ring (not a vertex) selected removes the ring. "paint_sky":
drag paints sky with a round brush, Shift + drag erases, a click paints one dab, [ / ] resize it.
Each mode is one tool class (widgets/canvas_tools*.py, table ``TOOLS`` in widgets/canvas_input.py).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from core.domain import Box, CanvasMode, SkyOp, Target
from core.errors import SirstError
from core.geometry import Ring
from widgets.canvas_display import CanvasDisplayMixin, CanvasImageItem
from widgets.canvas_hit import MAX_ZOOM, MIN_ZOOM, pick_tolerance
from widgets.canvas_input import CanvasInputMixin
from widgets.canvas_render import (  # defined there; app/prefetch.py and tests import from here
    DisplayPlan,
    PreparedImage,
    SkyShapes,
    prepare_image,  # noqa: F401 (re-exported)
    sky_shapes,
)
from widgets.canvas_tools import Reads
from widgets.canvas_view import CanvasViewMixin
from widgets.display_controls import DisplayControls, DisplaySettings, auto_levels, display_gray
from widgets.loupe import Loupe, loupe_position
from widgets.overlays import ACCEPTED, PROPOSAL, BoxesItem, TargetsItem
from widgets.overlays_brush import BrushItem
from widgets.overlays_pixels import BadPixelsItem
from widgets.overlays_sky import DraftItem, SkyItem

MODES = tuple(CanvasMode)  # "edit", "draw_sky", "edit_sky", "paint_sky"


class CanvasError(SirstError, ValueError):
    """Data handed to the canvas cannot be shown (wrong shape, unknown mode...)."""


class _View(pg.GraphicsView):
    """Forwards raw input to the canvas (no pyqtgraph default mouse handling)."""

    def __init__(self, canvas: IRCanvas) -> None:
        self._canvas = canvas  # before super(): pyqtgraph calls resizeEvent while initialising
        super().__init__(background="#101113")
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)

    def event(self, ev: QtCore.QEvent) -> bool:
        # Claim our keys before window-level shortcuts, so the focused canvas handles them once.
        if ev.type() == QtCore.QEvent.Type.ShortcutOverride and self._canvas.handles_key(ev):
            ev.accept()
            return True
        return super().event(ev)

    def mousePressEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self.setFocus()
        self._canvas._mouse_press(ev)

    def mouseMoveEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self._canvas._mouse_move(ev)

    def mouseReleaseEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self._canvas._mouse_release(ev)

    def mouseDoubleClickEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self._canvas._double_click(ev)

    def wheelEvent(self, ev: QtGui.QWheelEvent) -> None:  # noqa: N802 (Qt override)
        self._canvas._wheel(ev)

    def keyPressEvent(self, ev: QtGui.QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if not self._canvas._key_press(ev):
            super().keyPressEvent(ev)

    def keyReleaseEvent(self, ev: QtGui.QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if ev.key() == QtCore.Qt.Key.Key_Space and not ev.isAutoRepeat():
            self._canvas._space = False
        super().keyReleaseEvent(ev)

    def leaveEvent(self, ev: QtCore.QEvent) -> None:  # noqa: N802 (Qt override)
        self._canvas._leave()
        super().leaveEvent(ev)

    def resizeEvent(self, ev: QtGui.QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(ev)
        self._canvas._place_overlays()


class IRCanvas(CanvasInputMixin, CanvasViewMixin, CanvasDisplayMixin, QtWidgets.QWidget):
    """The annotation canvas. See the module docstring for the mouse and keyboard map.

    Signal payloads beyond the contract: ``targets_edit_requested`` items are
    ``(id, new_point | None, new_box | None)`` with None = unchanged (whole-pixel moves while
    ``snap_to_pixels``); sky rings are ``core.geometry.Ring`` objects (``np.asarray(ring)`` gives
    the [N, 2] points; pass them to ``apply_ring_edit`` as they are so holes edit exactly);
    ``cursor_moved`` sends ``(nan, nan, None)`` when the cursor leaves the view.
    """

    add_target_requested = QtCore.Signal(float, float)
    selection_changed = QtCore.Signal(list)
    targets_edit_requested = QtCore.Signal(list)
    delete_requested = QtCore.Signal(list)
    accept_requested = QtCore.Signal(list)
    reject_requested = QtCore.Signal(list)
    sky_polygon_requested = QtCore.Signal(object, str)
    sky_brush_requested = QtCore.Signal(object, float, str)  # points [N, 2], radius, SkyOp
    sky_ring_edit_requested = QtCore.Signal(object, object)
    sky_ring_delete_requested = QtCore.Signal(object)
    cursor_moved = QtCore.Signal(float, float, object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.snap_to_pixels = True  # moves / resizes land on whole pixels (DenseSIRST boxes)
        self._raw: np.ndarray | None = None
        self._gray: np.ndarray | None = None
        self._settings = DisplaySettings()
        self._lut = self._settings.lut()
        self._mode = CanvasMode.EDIT
        self._sky_mode = SkyOp.ADD
        self._rings: list[Ring] = []
        self._proposal_rings: list[Ring] = []
        self._sky_mask: np.ndarray | None = None
        self._sky_proposal: np.ndarray | None = None
        self._sky_visible = True
        self._init_tools()  # one tool per mode (widgets/canvas_input.py, TOOLS)
        self._plan: DisplayPlan | None = None
        self._build()
        self._update_plan()

    def _build(self) -> None:
        self.view = _View(self)
        self.viewbox = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setCentralItem(self.viewbox)
        self.image_item = CanvasImageItem(axisOrder="row-major")
        self.sky_item, self.sky_proposal_item = SkyItem(), SkyItem(proposal=True)
        self.bad_pixels_item = BadPixelsItem()  # below the targets: a label always wins
        self.targets_item, self.highlight_item, self.draft_item = (
            TargetsItem(),
            BoxesItem(),
            DraftItem(),
        )
        self.brush_item = BrushItem()
        for z, item in enumerate(
            (
                self.image_item,
                self.sky_proposal_item,
                self.sky_item,
                self.bad_pixels_item,
                self.targets_item,
                self.highlight_item,  # above targets: it often marks one of their boxes
                self.draft_item,
                self.brush_item,
            )
        ):
            item.setZValue(z)
            self.viewbox.addItem(item, ignoreBounds=item is not self.image_item)
        self.rubber = QtWidgets.QGraphicsRectItem()
        pen = QtGui.QPen(QtGui.QColor("#ffffff"), 1, QtCore.Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.rubber.setPen(pen)
        self.rubber.setBrush(QtGui.QColor(255, 255, 255, 30))
        self.rubber.setZValue(20)
        self.rubber.hide()
        self.viewbox.addItem(self.rubber, ignoreBounds=True)
        self.status = QtWidgets.QLabel(self.view)
        self.status.setStyleSheet(
            "background: rgba(16,17,19,200); color: #e8eaed; padding: 2px 6px;"
        )
        self.status.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hint = QtWidgets.QLabel(self._tool.hint, self.view)
        self.hint.setStyleSheet(
            "background: rgba(16,17,19,190); color: #c8cbd0; padding: 2px 6px;"
        )
        self.hint.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hint.setWordWrap(True)
        self._cursor_pos: QtCore.QPointF | None = None  # widget position of the last read-out
        self.loupe = Loupe(self.view)
        self.loupe.hide()
        self.loupe_enabled = False  # off by default: it covers the canvas corner (L shows it)
        self.display_controls = DisplayControls()
        self.display_controls.display_changed.connect(self._apply_display)
        self.display_controls.auto_check.toggled.connect(self._update_plan)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.display_controls)
        self.view.setCursor(QtCore.Qt.CursorShape.ArrowCursor)
        # Wheel zoom, pan and fit change what the read-out says without a mouse move.
        self.viewbox.sigRangeChanged.connect(self._refresh_readout)

    # ==================================================================== setters (contract)
    def set_image(
        self, img: np.ndarray, keep_view: bool = False, prepared: PreparedImage | None = None
    ) -> None:
        """Show raw pixels (any depth; RGB shown as luminance). Auto-contrast per the 'auto' box.
        ``prepared``: ``prepare_image(img)`` computed ahead (e.g. by the prefetch thread)."""
        if prepared is not None and prepared.raw is not img:
            prepared = None  # prepared for other pixels: ignore it
        try:
            gray = prepared.gray if prepared is not None else display_gray(img)
        except ValueError as exc:
            raise CanvasError(f"{exc}; pass the image as read by core.imageio.read_image") from exc
        first = self._gray is None or self._gray.dtype != gray.dtype
        self._raw, self._gray = np.asarray(img), gray
        if self._tool.keeps_draft:
            self._tool.reset()  # a polygon half-drawn on the previous image goes
        if first or (not keep_view and self.display_controls.auto_check.isChecked()):
            levels = prepared.levels if prepared is not None else auto_levels(gray)
            self._settings = DisplaySettings(levels, self._settings.gamma, self._settings.cmap)
        self.image_item.setImage(
            gray, autoLevels=False, levels=self._settings.levels, lut=self._lut
        )
        self.image_item.offer(prepared.rendered if prepared is not None else None)
        self._update_plan()
        histogram = prepared.histogram if prepared is not None else None
        self.display_controls.set_data(gray, histogram, self._settings)
        if not keep_view:
            self._cursor_pos = None  # the previous image's (or project's) read-out is stale
            self.set_highlight_boxes([])  # outlines belong to the image they were set on
            self.loupe.hide()
            self.fit()
            self._refresh_readout()

    def image(self) -> np.ndarray | None:
        """The raw pixels shown (as passed to ``set_image``)."""
        return self._raw

    def set_targets(self, targets: list[Target]) -> None:
        if self._gesture is not None:
            self._cancel_drag_on(Reads.TARGETS)  # its targets may be gone or moved
        before = self.targets_item.selected_ids()
        self.targets_item.set_targets(targets)
        self._selection_maybe_changed(before)

    def set_sky(
        self,
        mask: np.ndarray | None,
        proposal: np.ndarray | None = None,
        shapes: tuple[SkyShapes, SkyShapes] | None = None,
    ) -> None:
        """Accepted sky (editable in "edit_sky") and an optional proposed sky, as polygons.
        ``shapes``: ``(sky_shapes(mask), sky_shapes(proposal))`` computed ahead, if at hand."""
        for m in (mask, proposal):
            if m is not None and self._gray is not None and np.shape(m) != self._gray.shape:
                raise CanvasError(
                    f"sky mask shape {np.shape(m)} does not match the image "
                    f"{self._gray.shape}; pass the mask of the image shown"
                )
        if self._gesture is not None:
            self._cancel_drag_on(Reads.SKY)  # ring indices change with new data
        self._sky_mask = None if mask is None else np.asarray(mask, dtype=bool)
        self._sky_proposal = None if proposal is None else np.asarray(proposal, dtype=bool)
        if shapes is None:
            shapes = (sky_shapes(self._sky_mask), sky_shapes(self._sky_proposal))
        self._rings, self._proposal_rings = shapes[0].rings, shapes[1].rings
        self.sky_item.set_geometry(shapes[0].geometry)
        self.sky_proposal_item.set_geometry(shapes[1].geometry)
        self._update_tints()
        if self._tool.follows_sky:
            self._tool.sky_changed()

    def set_bad_pixels(self, coords: np.ndarray | None) -> None:
        """Mark the sensor pixels the bad-pixel filter repaired: int [K, 2] (x, y); None or
        empty: no markers."""
        if coords is not None and self._gray is not None and len(coords):
            arr = np.asarray(coords).reshape(-1, 2)
            h, w = self._gray.shape
            if arr.min() < 0 or arr[:, 0].max() >= w or arr[:, 1].max() >= h:
                raise CanvasError(f"bad pixels outside the {w}x{h} image; pass those of the image shown")
        if (coords is None or not len(coords)) and not len(self.bad_pixels_item.coords):
            return  # no markers before, none now: nothing to redraw
        self.bad_pixels_item.set_pixels(coords)

    def show_bad_pixels(self, visible: bool) -> None:
        self.bad_pixels_item.setVisible(bool(visible))

    def set_score_threshold(self, thr: float) -> None:
        """Hide proposals scoring below ``thr`` (live; hidden ones leave the selection)."""
        before = self.targets_item.selected_ids()
        self.targets_item.set_threshold(thr)
        self._selection_maybe_changed(before)

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise CanvasError(f"unknown canvas mode {mode!r}; use one of {', '.join(MODES)}")
        self._mode = CanvasMode(mode)
        self._switch_tool(self._mode)  # cancels a drag; the tool sets its cursor
        self.sky_item.setVisible(self._sky_visible or self._tool.edits_sky)
        self.hint.setText(self._tool.hint)
        self._place_overlays()

    def mode(self) -> str:
        return self._mode

    def edited_sky(self) -> tuple[SkyItem, list[Ring]]:
        """The sky "edit_sky" works on, its item and rings: the accepted sky; on an image whose sky
        is only proposed, the proposal (the edit then accepts it with the change, ADR 0043)."""
        if self._rings or not self._proposal_rings:
            return self.sky_item, self._rings
        return self.sky_proposal_item, self._proposal_rings

    def brush_radius(self) -> float:
        """The sky brush's radius (image pixels; "paint_sky")."""
        return self._tools[CanvasMode.PAINT_SKY].radius

    def set_brush_radius(self, radius: float) -> None:
        """Set the sky brush's radius, clamped to what ``[`` / ``]`` reach."""
        self._tools[CanvasMode.PAINT_SKY].set_radius(radius)
        if self._mode == CanvasMode.PAINT_SKY:
            self.hint.setText(self._tool.hint)

    def set_sky_mode(self, mode: str) -> None:
        """Default for closing polygons in "draw_sky": "add" or "subtract" (Shift flips it)."""
        if mode not in ("add", "subtract"):
            raise CanvasError(f"unknown sky mode {mode!r}; use 'add' or 'subtract'")
        self._sky_mode = SkyOp(mode)
        self._tool.sky_mode_changed()

    def set_highlight_boxes(self, boxes: list[Box], color: object = "#ff4df0") -> None:
        self.highlight_item.set_boxes(boxes, color)

    def select(self, ids: list[int]) -> None:
        before = self.targets_item.selected_ids()
        self.targets_item.set_selected(ids)
        self._selection_maybe_changed(before)

    def selected_ids(self) -> list[int]:
        return self.targets_item.selected_ids()

    def gray(self) -> np.ndarray | None:
        """The grays shown (RGB as luminance), in the units the display levels apply to."""
        return self._gray

    def view_rect(self) -> QtCore.QRectF:
        """The image area the view shows now, in image coordinates."""
        return self.viewbox.viewRect()

    def visible_ids(self) -> list[int]:
        """Ids of the targets drawn now (accepted + proposals at or above the score threshold)."""
        return self.targets_item.visible_ids()

    def center_on(self, x: float, y: float, zoom: float | None = None) -> None:
        """Centre the view on image point (x, y); ``zoom`` = screen pixels per image pixel."""
        z = float(np.clip(zoom if zoom is not None else self.zoom(), MIN_ZOOM, MAX_ZOOM))
        w, h = max(self.view.width(), 1), max(self.view.height(), 1)
        self.viewbox.setRange(QtCore.QRectF(x - w / z / 2, y - h / z / 2, w / z, h / z), padding=0)

    def fit(self) -> None:
        if self._gray is not None:
            h, w = self._gray.shape
            self.viewbox.setRange(QtCore.QRectF(0, 0, w, h), padding=0.02)

    def set_display(self, levels=None, gamma=None, cmap=None) -> None:
        """Window (low, high) in raw units, gamma (> 0, out = in ** gamma), colormap name."""
        s = self._settings
        new = DisplaySettings(
            tuple(float(v) for v in levels) if levels is not None else s.levels,
            float(gamma) if gamma is not None else s.gamma,
            cmap if cmap is not None else s.cmap,
        )
        try:
            new.lut()
        except ValueError as exc:
            raise CanvasError(str(exc)) from exc
        if not new.levels[1] > new.levels[0]:
            raise CanvasError(f"levels {new.levels} need high > low")
        self.display_controls.set_settings(new)
        self._apply_display(new)

    def set_loupe_visible(self, visible: bool) -> None:
        self.loupe_enabled = bool(visible)
        self.loupe.setVisible(self.loupe_enabled and self.loupe.isVisible())

    # ==================================================================== helpers
    def zoom(self) -> float:
        """Screen pixels per image pixel."""
        px = self.viewbox.viewPixelSize()[0]
        return 1.0 / px if px > 0 else 1.0

    def widget_to_image(self, pos: QtCore.QPointF) -> tuple[float, float]:
        p = self.viewbox.mapSceneToView(self.view.mapToScene(pos.toPoint()))
        return float(p.x()), float(p.y())

    def image_to_widget(self, x: float, y: float) -> QtCore.QPoint:
        """Widget (viewport) position of image point (x, y); used by tests and tooltips."""
        return self.view.mapFromScene(self.viewbox.mapViewToScene(QtCore.QPointF(x, y)))

    def _tol(self) -> float:
        return pick_tolerance(self.zoom())

    def _in_image(self, x: float, y: float) -> bool:
        return (
            self._gray is not None and 0 <= x < self._gray.shape[1] and 0 <= y < self._gray.shape[0]
        )

    def _selection_maybe_changed(self, before: list[int]) -> None:
        after = self.targets_item.selected_ids()
        if after != before:
            self.selection_changed.emit(after)

    def _place_overlays(self) -> None:
        if not hasattr(self, "loupe"):
            return  # called by the view's first resize, before the overlays exist
        self.status.adjustSize()
        self.status.move(4, self.view.height() - self.status.height() - 4)
        # One line when it fits, wrapped to the view's width otherwise (adjustSize on a word-wrapped
        # label picks a narrow column instead).
        metrics, pad = self.hint.fontMetrics(), 16  # the style sheet's 6 px padding, both sides
        natural = metrics.horizontalAdvance(self.hint.text()) + pad + 2  # +2: rounding
        width = max(50, min(natural, self.view.width() - 12))
        text_rect = metrics.boundingRect(
            QtCore.QRect(0, 0, width - pad, 10_000),
            int(QtCore.Qt.TextFlag.TextWordWrap),
            self.hint.text(),
        )
        self.hint.setFixedSize(width, text_rect.height() + 6)
        self.hint.move(4, 4)
        if self.loupe.isHidden():
            return  # placed when it shows (_report_cursor places it after showing it)
        self.loupe.move(loupe_position(
            self.view.size(), self.loupe.size(), self._cursor_pos,
            0 if self.hint.isHidden() else self.hint.y() + self.hint.height(),
            0 if self.status.isHidden() else self.view.height() - self.status.y(),
        ))  # fmt: skip

    def _toggle_loupe(self) -> None:
        self.set_loupe_visible(not self.loupe_enabled)

    # ==================================================================== cursor read-out
    def value_at(self, x: float, y: float) -> object:
        """Raw pixel value at image point (x, y): a number, a tuple for RGB(A), None outside."""
        if not self._in_image(x, y):
            return None
        v = self._raw[int(np.floor(y)), int(np.floor(x))]
        return tuple(v.tolist()) if np.ndim(v) else v.item()

    def _refresh_readout(self, *_args) -> None:
        """Re-say the read-out after a zoom / pan / new image (the cursor may not have moved)."""
        if self._cursor_pos is not None:
            x, y = self.widget_to_image(self._cursor_pos)
            self._report_cursor(x, y, self._cursor_pos)
            return
        if self._gray is None:
            self.status.setText("")
        else:
            h, w = self._gray.shape
            self.status.setText(f"{w} x {h}   zoom {self.zoom():.2f}x")
        self._place_overlays()

    def _report_cursor(self, x: float, y: float, pos: QtCore.QPointF | None = None) -> None:
        if pos is not None:
            self._cursor_pos = QtCore.QPointF(pos)
        value = self.value_at(x, y)
        self.cursor_moved.emit(x, y, value)
        if value is None:
            self.status.setText(f"x {x:.1f}  y {y:.1f}   zoom {self.zoom():.2f}x")
            self.loupe.hide()
        else:
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            self.status.setText(
                f"({int(np.floor(x))}, {int(np.floor(y))}) = {shown}   "
                f"x {x:.1f}  y {y:.1f}   zoom {self.zoom():.2f}x"
            )
            self._update_loupe(int(np.floor(x)), int(np.floor(y)), shown)
        self._place_overlays()

    def _update_loupe(self, ix: int, iy: int, shown: str) -> None:
        if not self.loupe_enabled:
            return
        r = self.loupe.radius
        item = self.targets_item
        b = item.boxes
        with np.errstate(invalid="ignore"):
            near = (
                item.visible
                & (b[:, 2] >= ix - r)
                & (b[:, 0] <= ix + r + 1)
                & (b[:, 3] >= iy - r)
                & (b[:, 1] <= iy + r + 1)
            )
        boxes = [
            (tuple(b[k]), PROPOSAL if item.proposal[k] else ACCEPTED) for k in np.flatnonzero(near)
        ]
        s = self._settings
        self.loupe.show_pixels(
            self._gray, ix, iy, s.levels, self._lut, boxes, f"({ix}, {iy}) = {shown}"
        )
        self.loupe.show()


def _demo_image(h: int = 512, w: int = 640, n_targets: int = 40, seed: int = 0):
    """A synthetic 16-bit IR frame: warm ground, cool sky with a gradient, noise, and small targets."""
    from core.domain import Source, TargetState

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    horizon = (0.55 * h + 25 * np.sin(xx / 70.0)).astype(int)
    img = 9000.0 + 1500.0 * yy / h + rng.normal(0, 60, (h, w))
    ground = yy > horizon
    img[ground] += 4000.0 + 800.0 * np.sin(xx[ground] / 9.0) * np.cos(yy[ground] / 13.0)
    targets = []
    for k in range(n_targets):
        cx, cy = rng.integers(10, w - 10), rng.integers(10, int(0.5 * h))
        img += (
            2500 * rng.uniform(0.5, 1.5) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 0.8**2))
        )
        proposal = k % 3 == 0
        targets.append(
            Target(
                point=(cx, cy),
                box=(cx - 1, cy - 1, cx + 2, cy + 2),
                id=k + 1,
                source=Source.MODEL if proposal else Source.MANUAL,
                state=TargetState.PROPOSAL if proposal else TargetState.ACCEPTED,
                score=float(rng.uniform(0.2, 0.95)) if proposal else None,
            )
        )
    sky = ~ground
    sky[40:70, 300:360] = False  # a hole (e.g. a cloud edge the annotator excluded)
    proposal_sky = yy < horizon + 12
    return np.clip(img, 0, 65535).astype(np.uint16), targets, sky, proposal_sky


def main(argv: list[str] | None = None) -> int:
    """``python -m widgets.canvas [--screenshot PATH]``: the canvas on a synthetic 16-bit frame."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument(
        "--screenshot", help="save a PNG of the window after it is shown, then exit"
    )
    parser.add_argument("--zoom", type=float, default=None, help="zoom on the first target")
    parser.add_argument("--mode", choices=MODES, default="edit")
    parser.add_argument("--cmap", choices=("grey", "inferno", "jet"), default="grey")
    args = parser.parse_args(argv)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv)
    img, targets, sky, proposal_sky = _demo_image()
    canvas = IRCanvas()
    canvas.resize(1200, 900)
    canvas.set_image(img)
    canvas.set_targets(targets)
    canvas.set_sky(sky, proposal_sky)
    canvas.set_score_threshold(0.3)
    canvas.select([targets[1].id])
    canvas.set_highlight_boxes([targets[4].box], "#ff4df0")
    canvas.set_display(cmap=args.cmap)
    canvas.set_mode(args.mode)
    canvas.show()
    if args.zoom:
        x, y = targets[0].point
        canvas.center_on(x, y, args.zoom)
        canvas._report_cursor(x + 0.5, y + 0.5)
    if args.mode == "edit_sky":
        canvas.sky_item.set_selection(0, 0)
    elif args.mode == "draw_sky":
        canvas.active_tool().draft = [(60.0, 60.0), (200.0, 40.0), (230.0, 150.0)]
        canvas.active_tool().show_draft((120.0, 170.0))
    if args.screenshot:

        def shoot() -> None:
            canvas.grab().save(args.screenshot)
            app.quit()

        QtCore.QTimer.singleShot(500, shoot)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
