"""The "edit" (targets) canvas tool: add, select, move, resize, nudge, accept / reject, delete.

Click empty image to add, click / Ctrl- or Shift-click / Ctrl-drag to select, drag a body to
move the selection, drag an edge or corner of a selected box to resize, arrows nudge 1 px,
Shift + arrows move the right / bottom edge, Delete / Backspace delete, A accept, R reject,
double-click a proposal to accept it, Ctrl+A selects all visible. Moves and resizes land on
whole pixels while ``canvas.snap_to_pixels``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtCore

from core.domain import CanvasMode, TargetState
from widgets.canvas_hit import HANDLE_SHARE, handle_at, ids_in_rect, target_at
from widgets.canvas_tools import (
    CanvasTool,
    Cursor,
    Gesture,
    Key,
    KeyAction,
    Mod,
    Pointer,
    Reads,
    target_arrays,
)

ARROWS = {Key.Key_Left: (-1, 0), Key.Key_Right: (1, 0), Key.Key_Up: (0, -1), Key.Key_Down: (0, 1)}
TargetEdit = tuple  # (id, new point | None, new box | None): None = unchanged


def _snap(canvas: Any, v: float) -> float:
    return float(np.round(v)) if canvas.snap_to_pixels else float(v)


def shifted(canvas: Any, tid: int, dx: float, dy: float) -> TargetEdit:
    """The edit moving target ``tid`` by (dx, dy), point and box together."""
    t = canvas.targets_item.target(tid)
    point = None if t.point is None else (t.point[0] + dx, t.point[1] + dy)
    box = None if t.box is None else (t.box[0] + dx, t.box[1] + dy, t.box[2] + dx, t.box[3] + dy)
    return tid, point, box


def changed(canvas: Any, edit: TargetEdit) -> bool:
    t = canvas.targets_item.target(edit[0])
    return (edit[1] is not None and edit[1] != t.point) or (edit[2] is not None and edit[2] != t.box)


def select_clicked(canvas: Any, tid: int, pt: Pointer) -> None:
    """A click on a target selects it alone; Ctrl- or Shift-click toggles it."""
    sel = canvas.selected_ids()
    if pt.ctrl or pt.shift:
        canvas.select([i for i in sel if i != tid] if tid in sel else [*sel, tid])
    else:
        canvas.select([tid])


class EmptyPress(Gesture):
    """A press on empty image: a click clears the selection and asks for a target there."""

    def click(self) -> None:
        c = self.canvas
        c.select([])
        if c._in_image(*self.press.img):
            c.add_target_requested.emit(*self.press.img)


class TargetPress(Gesture):
    """A press on a target's body: a click selects, a drag moves the selection."""

    reads = Reads.TARGETS

    def __init__(self, canvas: Any, press: Pointer, tid: int) -> None:
        super().__init__(canvas, press)
        self.tid = tid

    def click(self) -> None:
        select_clicked(self.canvas, self.tid, self.press)

    def drag(self) -> Gesture:
        c = self.canvas
        if self.tid not in c.selected_ids():
            c.select([*c.selected_ids(), self.tid] if self.press.ctrl else [self.tid])
        return MoveGesture(c, self.press, c.selected_ids())


class MoveGesture(Gesture):
    """Dragging the selection: a live preview, one edit request for all moved targets."""

    reads = Reads.TARGETS

    def __init__(self, canvas: Any, press: Pointer, ids: list[int]) -> None:
        super().__init__(canvas, press)
        self.ids = ids

    def drag(self) -> Gesture:
        return self

    def edits(self, img: tuple[float, float]) -> list[TargetEdit]:
        c, (x0, y0) = self.canvas, self.press.img
        dx, dy = _snap(c, img[0] - x0), _snap(c, img[1] - y0)
        return [shifted(c, tid, dx, dy) for tid in self.ids]

    def move(self, pos: QtCore.QPointF, img: tuple[float, float]) -> None:
        self.canvas.targets_item.set_preview({e[0]: e[1:] for e in self.edits(img)})

    def finish(self, img: tuple[float, float]) -> None:
        self.cancel()
        edits = [e for e in self.edits(img) if changed(self.canvas, e)]
        if edits:
            self.canvas.targets_edit_requested.emit(edits)

    def cancel(self) -> None:
        self.canvas.targets_item.set_preview({})


class ResizeGesture(MoveGesture):
    """A press on an edge or corner of a selected box: a click selects, a drag resizes."""

    def __init__(self, canvas: Any, press: Pointer, handle: tuple) -> None:
        super().__init__(canvas, press, [handle[0]])
        self.tid, self.sides = handle

    def click(self) -> None:
        select_clicked(self.canvas, self.tid, self.press)

    def edits(self, img: tuple[float, float]) -> list[TargetEdit]:
        c = self.canvas
        left, top, right, bottom = self.sides
        x0, y0, x1, y1 = c.targets_item.target(self.tid).box
        x, y = _snap(c, img[0]), _snap(c, img[1])
        least = 1.0 if c.snap_to_pixels else 0.1  # a box never shrinks below this
        if left:
            x0 = min(x, x1 - least)
        if right:
            x1 = max(x, x0 + least)
        if top:
            y0 = min(y, y1 - least)
        if bottom:
            y1 = max(y, y0 + least)
        return [(self.tid, None, (x0, y0, x1, y1))]


class RubberGesture(Gesture):
    """Ctrl + drag from empty image: the targets whose centres fall in the band join the
    selection."""

    def drag(self) -> Gesture:
        return self

    def move(self, pos: QtCore.QPointF, img: tuple[float, float]) -> None:
        rubber = self.canvas.rubber
        rubber.setRect(QtCore.QRectF(QtCore.QPointF(*self.press.img), QtCore.QPointF(*img)).normalized())
        rubber.show()

    def finish(self, img: tuple[float, float]) -> None:
        self.cancel()
        c = self.canvas
        hits = ids_in_rect(target_arrays(c), *self.press.img, *img)
        c.select(sorted(set(c.selected_ids()) | set(hits)))

    def cancel(self) -> None:
        self.canvas.rubber.hide()


class TargetsTool(CanvasTool):
    """The "edit" mode."""

    mode = CanvasMode.EDIT
    hint = "Targets: click on a target to add it · drag to move · arrows nudge · Del deletes"
    cursor = Cursor.ArrowCursor

    def press(self, pt: Pointer) -> Gesture:
        c, (x, y) = self.canvas, pt.img
        tol = c._tol()
        handle = handle_at(self.targets(), x, y, HANDLE_SHARE * tol)
        if handle and not pt.ctrl:
            return ResizeGesture(c, pt, handle)
        tid = target_at(self.targets(), x, y, tol)
        if tid is not None:
            return TargetPress(c, pt, tid)
        return RubberGesture(c, pt) if pt.ctrl else EmptyPress(c, pt)

    def double_click(self, pt: Pointer) -> None:
        tid = target_at(self.targets(), *pt.img, self.canvas._tol())
        t = self.canvas.targets_item.target(tid) if tid is not None else None
        if t is not None and t.state == TargetState.PROPOSAL:
            self.canvas.accept_requested.emit([tid])

    def hover(self, x: float, y: float) -> None:
        self.canvas.view.setCursor(self.cursor_at(x, y))

    def cursor_at(self, x: float, y: float) -> Cursor:
        """Resize arrows on the handles of selected boxes, a hand over targets."""
        tol = self.canvas._tol()
        handle = handle_at(self.targets(), x, y, HANDLE_SHARE * tol)
        if handle:
            left, top, right, bottom = handle[1]
            if (left or right) and (top or bottom):
                diagonal = (left and top) or (right and bottom)
                return Cursor.SizeFDiagCursor if diagonal else Cursor.SizeBDiagCursor
            return Cursor.SizeHorCursor if left or right else Cursor.SizeVerCursor
        if target_at(self.targets(), x, y, tol) is not None:
            return Cursor.PointingHandCursor
        return Cursor.ArrowCursor

    def key_action(self, key: int, mods: QtCore.Qt.KeyboardModifier) -> KeyAction | None:
        c = self.canvas
        shift = bool(mods & Mod.ShiftModifier)
        if mods & Mod.ControlModifier:  # Ctrl+A is ours (select all); Ctrl+Shift+A the app's
            return (lambda: c.select(c.visible_ids())) if key == Key.Key_A and not shift else None
        if key in ARROWS:
            return lambda: self.nudge(*ARROWS[key], resize=shift)
        emit = {Key.Key_A: c.accept_requested, Key.Key_R: c.reject_requested}
        if key in emit:
            return lambda: self.emit_proposals(emit[key])
        if key in (Key.Key_Delete, Key.Key_Backspace):
            return lambda: c.selected_ids() and c.delete_requested.emit(c.selected_ids())
        return None

    def escape(self) -> None:
        self.canvas.select([])

    def nudge(self, dx: int, dy: int, resize: bool) -> None:
        """Move the selection 1 px; ``resize``: move the right / bottom edge 1 px instead."""
        c, edits = self.canvas, []
        for tid in c.selected_ids():
            t = c.targets_item.target(tid)
            if not resize:
                edits.append(shifted(c, tid, dx, dy))
            elif t.box is not None:
                x0, y0, x1, y1 = t.box
                new = (x0, y0, max(x1 + dx, x0 + 1), max(y1 + dy, y0 + 1))  # never below 1 px
                if new != t.box:
                    edits.append((tid, None, new))
        if edits:
            c.targets_edit_requested.emit(edits)

    def emit_proposals(self, signal: Any) -> None:
        """Accept / reject: the selected proposals (accepted targets are left alone)."""
        c = self.canvas
        ids = [i for i in c.selected_ids() if c.targets_item.target(i).state == TargetState.PROPOSAL]
        if ids:
            signal.emit(ids)
