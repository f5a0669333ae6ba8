"""Mouse and keyboard handling of the IR canvas, as a mixin of ``IRCanvas``.

Kept apart from widgets/canvas.py (display and data) so each file stays readable. The mixin uses
the canvas's items (``targets_item``, ``sky_item``, ``draft_item``, ``rubber``), its view and
viewbox, and emits the canvas's request signals; it never changes targets or sky itself.
A press is classified by what it lands on; it becomes a drag after DRAG_START_PX of motion,
otherwise its release is a click.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from core.domain import CanvasMode, SkyOp, TargetState
from core.geometry import Ring, ring_delete_vertex, ring_insert_vertex, ring_move_vertex

MIN_ZOOM, MAX_ZOOM = 0.02, 96.0  # screen pixels per image pixel
Key = QtCore.Qt.Key
Mod = QtCore.Qt.KeyboardModifier


class PressKind(StrEnum):
    """What a mouse press started on; decides what its click or drag does."""

    PAN = "pan"
    TARGET = "target"
    RESIZE = "resize"
    RUBBER = "rubber"
    EMPTY = "empty"
    DRAW = "draw"
    VERTEX = "vertex"
    EDGE = "edge"
    RING = "ring"
    VDELETE = "vdelete"
    MOVE = "move"


@dataclass
class _Press:
    """A mouse press until release: what it started on decides what a click / drag does."""

    button: QtCore.Qt.MouseButton
    pos: QtCore.QPointF  # widget coordinates
    img: tuple[float, float]
    mods: QtCore.Qt.KeyboardModifier
    kind: PressKind
    data: object = None
    dragging: bool = False
    last: QtCore.QPointF | None = None


class CanvasInputMixin:
    """Input state machine for the three canvas modes ("edit", "draw_sky", "edit_sky")."""

    DRAG_START_PX = 4  # a press becomes a drag after moving this far (screen pixels)
    PICK_PX = 6  # hit-test tolerance (screen pixels)

    # ==================================================================== mouse
    def _mouse_press(self, ev: QtGui.QMouseEvent) -> None:
        if self._press is not None:
            return  # a second button during a drag: ignore it
        pos, btn, mods = ev.position(), ev.button(), ev.modifiers()
        img = self.widget_to_image(pos)
        left = btn == QtCore.Qt.MouseButton.LeftButton
        kind, data = PressKind.PAN, None
        if left and not self._space:
            kind, data = self._classify_left(img, mods)
        elif btn == QtCore.Qt.MouseButton.RightButton and self._mode == CanvasMode.EDIT_SKY:
            hit = self.sky_item.vertex_at(*img, self._tol())
            kind, data = (PressKind.VDELETE, hit) if hit else (PressKind.PAN, None)
        self._press = _Press(btn, pos, img, mods, kind, data, dragging=kind == PressKind.PAN and not left)
        self._press.last = pos
        if self._press.dragging:
            self.view.setCursor(QtCore.Qt.CursorShape.ClosedHandCursor)

    def _classify_left(self, img: tuple[float, float], mods) -> tuple[str, object]:
        x, y = img
        tol = self._tol()
        ctrl = bool(mods & QtCore.Qt.KeyboardModifier.ControlModifier)
        if self._mode == CanvasMode.DRAW_SKY:
            return PressKind.DRAW, None
        if self._mode == CanvasMode.EDIT_SKY:
            hit = self.sky_item.vertex_at(x, y, tol)
            if hit:
                return PressKind.VERTEX, hit
            edge = self.sky_item.edge_at(x, y, tol)
            if edge:
                return PressKind.EDGE, edge
            ring = self.sky_item.ring_at(x, y)
            return (PressKind.RING, ring) if ring is not None else (PressKind.EMPTY, None)
        handle = self.targets_item.hit_handle(x, y, 0.8 * tol)
        if handle and not ctrl:
            return PressKind.RESIZE, handle
        tid = self.targets_item.hit_target(x, y, tol)
        if tid is not None:
            return PressKind.TARGET, tid
        return (PressKind.RUBBER, None) if ctrl else (PressKind.EMPTY, None)

    def _mouse_move(self, ev: QtGui.QMouseEvent) -> None:
        pos = ev.position()
        img = self.widget_to_image(pos)
        self._report_cursor(*img, pos)
        p = self._press
        if p is None:
            self._hover(*img)
            return
        if not p.dragging:
            if (pos - p.pos).manhattanLength() < self.DRAG_START_PX:
                return
            p.dragging = True
            self._drag_start(p)
        self._drag_update(p, pos, img)
        p.last = pos

    def _mouse_release(self, ev: QtGui.QMouseEvent) -> None:
        p = self._press
        if p is None or ev.button() != p.button:
            return
        self._press = None
        img = self.widget_to_image(ev.position())
        self.view.setCursor(self._mode_cursor())
        if p.dragging:
            self._drag_finish(p, img)
        else:
            self._click(p)

    def _double_click(self, ev: QtGui.QMouseEvent) -> None:
        self._press = None
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        x, y = self.widget_to_image(ev.position())
        if self._mode == CanvasMode.DRAW_SKY:
            self._close_draft(bool(ev.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier))
        elif self._mode == CanvasMode.EDIT:
            tid = self.targets_item.hit_target(x, y, self._tol())
            t = self.targets_item.target(tid) if tid is not None else None
            if t is not None and t.state == TargetState.PROPOSAL:
                self.accept_requested.emit([tid])

    def _wheel(self, ev: QtGui.QWheelEvent) -> None:
        delta = ev.angleDelta().y() or ev.angleDelta().x()
        if not delta or self._gray is None:
            return
        z = self.zoom()
        target = float(np.clip(z * 1.0015**delta, MIN_ZOOM, MAX_ZOOM))
        cx, cy = self.widget_to_image(ev.position())
        s = z / target
        self.viewbox.scaleBy((s, s), center=pg.Point(cx, cy))
        ev.accept()

    def _leave(self) -> None:
        self._cursor_pos = None
        self.loupe.hide()
        self.sky_item.set_hover(None)
        self.cursor_moved.emit(float("nan"), float("nan"), None)

    # ==================================================================== clicks and drags
    def _click(self, p: _Press) -> None:
        x, y = p.img
        toggle = bool(
            p.mods
            & (
                QtCore.Qt.KeyboardModifier.ControlModifier
                | QtCore.Qt.KeyboardModifier.ShiftModifier
            )
        )
        if p.kind in (PressKind.TARGET, PressKind.RESIZE):
            tid = p.data if p.kind == PressKind.TARGET else p.data[0]
            sel = self.selected_ids()
            if toggle:
                self.select([i for i in sel if i != tid] if tid in sel else [*sel, tid])
            else:
                self.select([tid])
        elif p.kind == PressKind.EMPTY and self._mode == CanvasMode.EDIT:
            self.select([])
            if self._in_image(x, y):
                self.add_target_requested.emit(x, y)
        elif p.kind == PressKind.DRAW:
            if not self._draft or self._draft[-1] != (x, y):
                self._draft.append(self._clamp(x, y))
            self._update_draft((x, y))
        elif p.kind in (PressKind.VERTEX, PressKind.EDGE, PressKind.RING, PressKind.EMPTY) and self._mode == CanvasMode.EDIT_SKY:
            ring = p.data[0] if p.kind in (PressKind.VERTEX, PressKind.EDGE) else p.data
            self._sky_anchor = (x, y) if ring is not None else None
            self.sky_item.set_selection(ring, p.data[1] if p.kind == PressKind.VERTEX else None)
        elif p.kind == PressKind.VDELETE:
            self._delete_vertex(*p.data)

    def _drag_start(self, p: _Press) -> None:
        if p.kind == PressKind.TARGET:
            if p.data not in self.selected_ids():
                ctrl = p.mods & QtCore.Qt.KeyboardModifier.ControlModifier
                self.select([*self.selected_ids(), p.data] if ctrl else [p.data])
            p.kind, p.data = PressKind.MOVE, self.selected_ids()
        elif p.kind in (PressKind.EMPTY, PressKind.RING, PressKind.DRAW, PressKind.VDELETE):
            p.kind = PressKind.PAN
        elif p.kind == PressKind.VERTEX:
            self.sky_item.set_selection(*p.data)
        elif p.kind == PressKind.EDGE:
            ring_i, seg, _ = p.data
            self.sky_item.set_selection(ring_i, None)
        if p.kind == PressKind.PAN:
            self.view.setCursor(QtCore.Qt.CursorShape.ClosedHandCursor)

    def _drag_update(self, p: _Press, pos: QtCore.QPointF, img: tuple[float, float]) -> None:
        if p.kind == PressKind.PAN:
            a = self.viewbox.mapSceneToView(self.view.mapToScene(p.last.toPoint()))
            b = self.viewbox.mapSceneToView(self.view.mapToScene(pos.toPoint()))
            self.viewbox.translateBy(x=a.x() - b.x(), y=a.y() - b.y())
        elif p.kind == PressKind.MOVE:
            self.targets_item.set_preview({e[0]: e[1:] for e in self._moved(p, img)})
        elif p.kind == PressKind.RESIZE:
            self.targets_item.set_preview({e[0]: e[1:] for e in self._resized(p, img)})
        elif p.kind == PressKind.RUBBER:
            x0, y0 = p.img
            self.rubber.setRect(
                QtCore.QRectF(QtCore.QPointF(x0, y0), QtCore.QPointF(*img)).normalized()
            )
            self.rubber.show()
        elif p.kind in (PressKind.VERTEX, PressKind.EDGE):
            self.sky_item.set_preview(self._edited_ring(p, img).points)

    def _drag_finish(self, p: _Press, img: tuple[float, float]) -> None:
        self.targets_item.set_preview({})
        self.sky_item.set_preview(None)
        self.rubber.hide()
        if p.kind in (PressKind.MOVE, PressKind.RESIZE):
            edits = self._moved(p, img) if p.kind == PressKind.MOVE else self._resized(p, img)
            edits = [e for e in edits if self._changed(e)]
            if edits:
                self.targets_edit_requested.emit(edits)
        elif p.kind == PressKind.RUBBER:
            hits = self.targets_item.ids_in_rect(*p.img, *img)
            self.select(sorted(set(self.selected_ids()) | set(hits)))
        elif p.kind in (PressKind.VERTEX, PressKind.EDGE):
            old = self._rings[p.data[0]]
            new = self._edited_ring(p, img)
            self._sky_anchor = tuple(new.points[p.data[1] + (p.kind == PressKind.EDGE)])
            if new != old:
                self.sky_ring_edit_requested.emit(old, new)

    def _snap(self, v: float) -> float:
        return float(np.round(v)) if self.snap_to_pixels else float(v)

    def _moved(self, p: _Press, img: tuple[float, float]) -> list[tuple]:
        dx, dy = self._snap(img[0] - p.img[0]), self._snap(img[1] - p.img[1])
        return [self._shifted(tid, dx, dy) for tid in p.data]

    def _shifted(self, tid: int, dx: float, dy: float) -> tuple:
        t = self.targets_item.target(tid)
        point = None if t.point is None else (t.point[0] + dx, t.point[1] + dy)
        box = (
            None if t.box is None else (t.box[0] + dx, t.box[1] + dy, t.box[2] + dx, t.box[3] + dy)
        )
        return tid, point, box

    def _resized(self, p: _Press, img: tuple[float, float]) -> list[tuple]:
        tid, (left, top, right, bottom) = p.data
        x0, y0, x1, y1 = self.targets_item.target(tid).box
        x, y = self._snap(img[0]), self._snap(img[1])
        min_size = 1.0 if self.snap_to_pixels else 0.1
        if left:
            x0 = min(x, x1 - min_size)
        if right:
            x1 = max(x, x0 + min_size)
        if top:
            y0 = min(y, y1 - min_size)
        if bottom:
            y1 = max(y, y0 + min_size)
        return [(tid, None, (x0, y0, x1, y1))]

    def _changed(self, edit: tuple) -> bool:
        t = self.targets_item.target(edit[0])
        return (edit[1] is not None and edit[1] != t.point) or (
            edit[2] is not None and edit[2] != t.box
        )

    def _edited_ring(self, p: _Press, img: tuple[float, float]) -> Ring:
        """The ring under edit with its vertex at the cursor, snapped to a pixel centre."""
        xy = (np.floor(img[0]) + 0.5, np.floor(img[1]) + 0.5)
        ring = self._rings[p.data[0]]
        if p.kind == PressKind.VERTEX:
            return ring_move_vertex(ring, p.data[1], xy)
        return ring_insert_vertex(ring, p.data[1], xy)

    def _delete_vertex(self, ring_i: int, vertex: int) -> None:
        old = self._rings[ring_i]
        new = ring_delete_vertex(old, vertex)
        self.sky_item.set_selection(ring_i, None)
        if new is None:
            self.sky_ring_delete_requested.emit(old)
        else:
            self.sky_ring_edit_requested.emit(old, new)

    def _reselect_ring(self) -> None:
        """After new sky data, keep the ring the user was working on selected when it survives."""
        if self._sky_anchor is None or self._mode != CanvasMode.EDIT_SKY:
            return
        x, y = self._sky_anchor
        hit = self.sky_item.vertex_at(x, y, max(self._tol(), 1.0))
        if hit:
            self.sky_item.set_selection(*hit)
        else:
            edge = self.sky_item.edge_at(x, y, max(self._tol(), 1.0))
            ring = edge[0] if edge else self.sky_item.ring_at(x, y)
            self.sky_item.set_selection(ring, None)

    # ==================================================================== hover
    def _hover(self, x: float, y: float) -> None:
        if self._mode == CanvasMode.DRAW_SKY:
            if self._draft:
                self._update_draft((x, y))
        elif self._mode == CanvasMode.EDIT_SKY:
            tol = self._tol()
            hit = self.sky_item.vertex_at(x, y, tol) or self.sky_item.edge_at(x, y, tol)
            self.sky_item.set_hover(hit[0] if hit else self.sky_item.ring_at(x, y))
        else:
            self.view.setCursor(self._edit_cursor(x, y))

    def _edit_cursor(self, x: float, y: float) -> QtCore.Qt.CursorShape:
        """Cursor feedback in "edit": resize arrows on handles, a hand over targets."""
        shapes = QtCore.Qt.CursorShape
        handle = self.targets_item.hit_handle(x, y, 0.8 * self._tol())
        if handle:
            left, top, right, bottom = handle[1]
            if (left or right) and (top or bottom):
                return (
                    shapes.SizeFDiagCursor
                    if (left and top) or (right and bottom)
                    else shapes.SizeBDiagCursor
                )
            return shapes.SizeHorCursor if left or right else shapes.SizeVerCursor
        if self.targets_item.hit_target(x, y, self._tol()) is not None:
            return shapes.PointingHandCursor
        return shapes.ArrowCursor

    def _mode_cursor(self) -> QtCore.Qt.CursorShape:
        shapes = QtCore.Qt.CursorShape
        return shapes.ArrowCursor if self._mode == CanvasMode.EDIT else shapes.CrossCursor

    # ==================================================================== keys
    def handles_key(self, ev: QtGui.QKeyEvent) -> bool:
        """Whether the canvas uses this key now (it then wins over window-level shortcuts)."""
        return ev.key() == Key.Key_Space or self._key_action(ev.key(), ev.modifiers()) is not None

    def _key_press(self, ev: QtGui.QKeyEvent) -> bool:
        if ev.key() == Key.Key_Space:
            if not ev.isAutoRepeat():
                self._space = True
            return True
        action = self._key_action(ev.key(), ev.modifiers())
        if action is None:
            return False
        action()
        return True

    def _key_action(self, key: int, mods: QtCore.Qt.KeyboardModifier):
        """The callable a key triggers in the current mode, or None when the canvas ignores it."""
        shift, ctrl = bool(mods & Mod.ShiftModifier), bool(mods & Mod.ControlModifier)
        if ctrl:  # Ctrl+Z, Ctrl+Shift+A... belong to the app; only Ctrl+A (select all) is ours
            if key == Key.Key_A and not shift and self._mode == CanvasMode.EDIT:
                return lambda: self.select(self.visible_ids())
            return None
        common = {
            Key.Key_F: self.fit,
            Key.Key_Home: self.fit,
            Key.Key_L: self._toggle_loupe,
            Key.Key_Escape: self._escape,
        }
        if key in common:
            return common[key]
        deleting = key in (Key.Key_Delete, Key.Key_Backspace)
        if self._mode == CanvasMode.EDIT:
            if key in (Key.Key_Left, Key.Key_Right, Key.Key_Up, Key.Key_Down):
                return lambda: self._nudge(key, shift)
            emit = {Key.Key_A: self.accept_requested, Key.Key_R: self.reject_requested}
            if key in emit:
                return lambda: self._emit_proposals(emit[key])
            if deleting:
                return lambda: (
                    self.selected_ids() and self.delete_requested.emit(self.selected_ids())
                )
        elif self._mode == CanvasMode.DRAW_SKY:
            if key in (Key.Key_Return, Key.Key_Enter):
                return lambda: self._close_draft(shift)
            if key == Key.Key_Backspace:
                return self._drop_last_vertex
        elif self._mode == CanvasMode.EDIT_SKY and deleting:
            return self._delete_sky_selection
        return None

    def _nudge(self, key: int, resize: bool) -> None:
        """Arrows move the selection 1 px; Shift + arrows move the right / bottom edge 1 px."""
        dx, dy = {
            Key.Key_Left: (-1, 0),
            Key.Key_Right: (1, 0),
            Key.Key_Up: (0, -1),
            Key.Key_Down: (0, 1),
        }[key]
        edits = []
        for tid in self.selected_ids():
            t = self.targets_item.target(tid)
            if not resize:
                edits.append(self._shifted(tid, dx, dy))
            elif t.box is not None:
                x0, y0, x1, y1 = t.box
                new = (x0, y0, max(x1 + dx, x0 + 1), max(y1 + dy, y0 + 1))  # never below 1 px
                if new != t.box:
                    edits.append((tid, None, new))
        if edits:
            self.targets_edit_requested.emit(edits)

    def _emit_proposals(self, signal) -> None:
        ids = [i for i in self.selected_ids() if self.targets_item.target(i).state == TargetState.PROPOSAL]
        if ids:
            signal.emit(ids)

    def _escape(self) -> None:
        if self._press is not None or (self._mode == CanvasMode.DRAW_SKY and self._draft):
            self._cancel_interaction()
        elif self._mode == CanvasMode.EDIT:
            self.select([])
        else:
            self.sky_item.set_selection(None, None)
            self._sky_anchor = None

    def _cancel_drag_on(self, kinds: tuple[str, ...]) -> None:
        """Drop a press / drag of one of these kinds (its data is being replaced)."""
        if self._press is not None and self._press.kind in kinds:
            self._press = None
            self.targets_item.set_preview({})
            self.sky_item.set_preview(None)
            self.view.setCursor(self._mode_cursor())

    def _cancel_interaction(self) -> None:
        self._press = None
        self.targets_item.set_preview({})
        self.sky_item.set_preview(None)
        self.rubber.hide()
        self._draft = []
        self._update_draft()
        self.view.setCursor(self._mode_cursor())

    def _delete_sky_selection(self) -> None:
        ring, vertex = self.sky_item.selected_ring, self.sky_item.selected_vertex
        if ring is None:
            return
        if vertex is not None:
            self._delete_vertex(ring, vertex)
        else:
            self._sky_anchor = None
            self.sky_item.set_selection(None, None)
            self.sky_ring_delete_requested.emit(self._rings[ring])

    # ==================================================================== sky drawing
    def _clamp(self, x: float, y: float) -> tuple[float, float]:
        h, w = self._gray.shape if self._gray is not None else (np.inf, np.inf)
        return float(np.clip(x, 0, w)), float(np.clip(y, 0, h))

    def _update_draft(self, cursor: tuple[float, float] | None = None) -> None:
        shift = bool(QtGui.QGuiApplication.keyboardModifiers() & Mod.ShiftModifier)
        subtract = (self._sky_mode == SkyOp.SUBTRACT) != shift
        self.draft_item.set_draft(
            self._draft, cursor if self._mode == CanvasMode.DRAW_SKY else None, subtract
        )

    def _drop_last_vertex(self) -> None:
        if self._draft:
            self._draft.pop()
            self._update_draft()

    def _close_draft(self, shift: bool) -> None:
        """Emit the drawn polygon; Shift at closing flips the default add / subtract mode."""
        pts = [p for i, p in enumerate(self._draft) if i == 0 or p != self._draft[i - 1]]
        if len(pts) < 3:
            self.status.setText(f"A sky polygon needs at least 3 vertices ({len(pts)} placed)")
            self._place_overlays()
            return
        mode = SkyOp.SUBTRACT if (self._sky_mode == SkyOp.SUBTRACT) != shift else SkyOp.ADD
        self._draft = []
        self._update_draft()
        self.sky_polygon_requested.emit(np.asarray(pts, dtype=np.float64), mode)
