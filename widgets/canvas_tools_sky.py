"""The sky canvas tools: "draw_sky" (click a polygon) and "edit_sky" (move, insert and delete
ring vertices, delete rings).

draw_sky: click vertices, Enter or double-click closes (Shift at closing flips the add /
subtract default), Backspace drops the last vertex, Esc drops the polygon.
edit_sky: drag a vertex, press on an edge and drag to insert one, right-click or Delete removes
the selected vertex, Delete with a ring (not a vertex) selected removes the ring. Edited
vertices land on pixel centres.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui

from core.domain import CanvasMode, SkyOp
from core.geometry import Ring, ring_delete_vertex, ring_insert_vertex, ring_move_vertex
from widgets.canvas_hit import edge_at, ring_at, vertex_at
from widgets.canvas_tools import CanvasTool, Gesture, Key, KeyAction, Mod, Pointer, Reads


# ============================================================================ draw sky
class VertexPress(Gesture):
    """A press in "draw_sky": a click places a vertex, a drag pans."""

    def __init__(self, canvas: Any, press: Pointer, tool: DrawSkyTool) -> None:
        super().__init__(canvas, press)
        self.tool = tool

    def click(self) -> None:
        self.tool.place(*self.press.img)


class DrawSkyTool(CanvasTool):
    """The "draw_sky" mode: the polygon being drawn is ``draft`` (image coordinates)."""

    mode = CanvasMode.DRAW_SKY
    hint = ("Draw sky: click vertices · Enter closes and adds · Shift+Enter subtracts · "
            "Backspace drops the last vertex · Esc cancels")  # fmt: skip
    keeps_draft = True

    def __init__(self, canvas: Any) -> None:
        super().__init__(canvas)
        self.draft: list[tuple[float, float]] = []

    def reset(self) -> None:
        self.draft = []
        self.show_draft()

    def press(self, pt: Pointer) -> Gesture:
        return VertexPress(self.canvas, pt, self)

    def double_click(self, pt: Pointer) -> None:
        self.close(pt.shift)

    def hover(self, x: float, y: float) -> None:
        if self.draft:
            self.show_draft((x, y))

    def key_action(self, key: int, mods: QtCore.Qt.KeyboardModifier) -> KeyAction | None:
        if mods & Mod.ControlModifier:
            return None
        if key in (Key.Key_Return, Key.Key_Enter):
            return lambda: self.close(bool(mods & Mod.ShiftModifier))
        if key == Key.Key_Backspace:
            return self.drop_last
        return None

    def escape(self) -> None:
        self.reset()

    def sky_mode_changed(self) -> None:
        self.show_draft()

    def place(self, x: float, y: float) -> None:
        """Add a vertex (clamped to the image); the same point twice in a row counts once."""
        if not self.draft or self.draft[-1] != (x, y):
            self.draft.append(self.canvas._clamp(x, y))
        self.show_draft((x, y))

    def drop_last(self) -> None:
        if self.draft:
            self.draft.pop()
            self.show_draft()

    def show_draft(self, cursor: tuple[float, float] | None = None) -> None:
        """Draw the polygon so far, the rubber edge to ``cursor``, in the add / subtract colour
        the Shift key held now would give."""
        shift = bool(QtGui.QGuiApplication.keyboardModifiers() & Mod.ShiftModifier)
        active = self.canvas._tool is self
        self.canvas.draft_item.set_draft(self.draft, cursor if active else None, self.subtracts(shift))

    def close(self, shift: bool) -> None:
        """Emit the drawn polygon; Shift at closing flips the default add / subtract mode."""
        c = self.canvas
        pts = [p for i, p in enumerate(self.draft) if i == 0 or p != self.draft[i - 1]]
        if len(pts) < 3:
            c.status.setText(f"A sky polygon needs at least 3 vertices ({len(pts)} placed)")
            c._place_overlays()
            return
        mode = SkyOp.SUBTRACT if self.subtracts(shift) else SkyOp.ADD
        self.reset()
        c.sky_polygon_requested.emit(np.asarray(pts, dtype=np.float64), mode)


# ============================================================================ edit sky
class RingPress(Gesture):
    """A press inside a ring (or on no ring): a click selects the ring (or nothing), a drag pans."""

    def __init__(self, canvas: Any, press: Pointer, tool: EditSkyTool, ring: int | None) -> None:
        super().__init__(canvas, press)
        self.tool, self.ring = tool, ring

    def click(self) -> None:
        self.tool.anchor = self.press.img if self.ring is not None else None
        self.canvas.edited_sky()[0].set_selection(self.ring, None)


class VertexDrag(Gesture):
    """A press on a vertex: a click selects it, a drag moves it to the pixel centre under the
    cursor and asks for the ring edit on release."""

    reads = Reads.SKY

    def __init__(self, canvas: Any, press: Pointer, tool: EditSkyTool, ring: int, vertex: int) -> None:
        super().__init__(canvas, press)
        self.tool, self.ring, self.vertex = tool, ring, vertex

    def selection(self) -> tuple[int, int | None]:
        return self.ring, self.vertex

    def click(self) -> None:
        self.tool.anchor = self.press.img
        self.canvas.edited_sky()[0].set_selection(*self.selection())

    def drag(self) -> Gesture:
        self.canvas.edited_sky()[0].set_selection(*self.selection())
        return self

    def edited(self, img: tuple[float, float]) -> Ring:
        xy = (np.floor(img[0]) + 0.5, np.floor(img[1]) + 0.5)
        return ring_move_vertex(self.canvas.edited_sky()[1][self.ring], self.vertex, xy)

    def moved_vertex(self) -> int:
        """Index of the dragged vertex in the edited ring."""
        return self.vertex

    def move(self, pos: QtCore.QPointF, img: tuple[float, float]) -> None:
        self.canvas.edited_sky()[0].set_preview(self.edited(img).points)

    def finish(self, img: tuple[float, float]) -> None:
        self.cancel()
        old, new = self.canvas.edited_sky()[1][self.ring], self.edited(img)
        self.tool.anchor = tuple(new.points[self.moved_vertex()])
        if new != old:
            self.canvas.sky_ring_edit_requested.emit(old, new)

    def cancel(self) -> None:
        self.canvas.edited_sky()[0].set_preview(None)


class EdgeDrag(VertexDrag):
    """A press on an edge (off its vertices): a click selects the ring, a drag inserts a vertex
    after the segment's first vertex."""

    def selection(self) -> tuple[int, int | None]:
        return self.ring, None

    def edited(self, img: tuple[float, float]) -> Ring:
        xy = (np.floor(img[0]) + 0.5, np.floor(img[1]) + 0.5)
        return ring_insert_vertex(self.canvas.edited_sky()[1][self.ring], self.vertex, xy)

    def moved_vertex(self) -> int:
        return self.vertex + 1


class VertexDelete(Gesture):
    """A right press on a vertex: a click deletes it, a drag pans."""

    reads = Reads.SKY

    def __init__(self, canvas: Any, press: Pointer, tool: EditSkyTool, ring: int, vertex: int) -> None:
        super().__init__(canvas, press)
        self.tool, self.ring, self.vertex = tool, ring, vertex

    def click(self) -> None:
        self.tool.delete_vertex(self.ring, self.vertex)


class EditSkyTool(CanvasTool):
    """The "edit_sky" mode. ``anchor``: the image point of the last vertex / ring the user worked
    on, so the same ring stays selected when the edited sky comes back as new rings."""

    mode = CanvasMode.EDIT_SKY
    hint = ("Edit sky: drag a vertex · drag an edge to insert one · right-click or Del "
            "removes the vertex · Del on a selected ring removes it")  # fmt: skip
    edits_sky = True
    follows_sky = True

    def __init__(self, canvas: Any) -> None:
        super().__init__(canvas)
        self.anchor: tuple[float, float] | None = None

    def activate(self) -> None:
        super().activate()
        self.show_handles()

    def deactivate(self) -> None:
        super().deactivate()
        self.show_handles(False)

    def show_handles(self, on: bool = True) -> None:
        """Vertex handles on the sky being edited (``canvas.edited_sky``), none on the other."""
        edited = self.canvas.edited_sky()[0]
        for item in (self.canvas.sky_item, self.canvas.sky_proposal_item):
            if item.editing != (on and item is edited):
                item.editing = on and item is edited
                item.update()

    def press(self, pt: Pointer) -> Gesture:
        c, (x, y) = self.canvas, pt.img
        index, tol = c.edited_sky()[0].index, c._tol()
        hit = vertex_at(index, x, y, tol)
        if hit:
            return VertexDrag(c, pt, self, *hit)
        edge = edge_at(index, x, y, tol)
        if edge:
            return EdgeDrag(c, pt, self, edge[0], edge[1])
        return RingPress(c, pt, self, ring_at(index, x, y))

    def right_press(self, pt: Pointer) -> Gesture | None:
        hit = vertex_at(self.canvas.edited_sky()[0].index, *pt.img, self.canvas._tol())
        return VertexDelete(self.canvas, pt, self, *hit) if hit else None

    def hover(self, x: float, y: float) -> None:
        sky = self.canvas.edited_sky()[0]
        tol = self.canvas._tol()
        hit = vertex_at(sky.index, x, y, tol) or edge_at(sky.index, x, y, tol)
        sky.set_hover(hit[0] if hit else ring_at(sky.index, x, y))

    def leave(self) -> None:
        self.canvas.edited_sky()[0].set_hover(None)

    def key_action(self, key: int, mods: QtCore.Qt.KeyboardModifier) -> KeyAction | None:
        if mods & Mod.ControlModifier:
            return None
        return self.delete_selection if key in (Key.Key_Delete, Key.Key_Backspace) else None

    def escape(self) -> None:
        self.canvas.edited_sky()[0].set_selection(None, None)
        self.anchor = None

    def sky_changed(self) -> None:
        """Keep the ring the user was working on selected when it survives the edit (an edit of
        a proposed sky moves the handles to the accepted one it became)."""
        self.show_handles()
        if self.anchor is None:
            return
        x, y = self.anchor
        sky = self.canvas.edited_sky()[0]
        tol = max(self.canvas._tol(), 1.0)
        hit = vertex_at(sky.index, x, y, tol)
        if hit:
            sky.set_selection(*hit)
            return
        edge = edge_at(sky.index, x, y, tol)
        sky.set_selection(edge[0] if edge else ring_at(sky.index, x, y), None)

    def delete_vertex(self, ring_i: int, vertex: int) -> None:
        c = self.canvas
        old = c.edited_sky()[1][ring_i]
        new = ring_delete_vertex(old, vertex)
        c.edited_sky()[0].set_selection(ring_i, None)
        if new is None:  # fewer than 3 vertices left: the ring goes
            c.sky_ring_delete_requested.emit(old)
        else:
            c.sky_ring_edit_requested.emit(old, new)

    def delete_selection(self) -> None:
        sky = self.canvas.edited_sky()[0]
        ring, vertex = sky.selected_ring, sky.selected_vertex
        if ring is None:
            return
        if vertex is not None:
            self.delete_vertex(ring, vertex)
        else:
            self.anchor = None
            sky.set_selection(None, None)
            self.canvas.sky_ring_delete_requested.emit(self.canvas.edited_sky()[1][ring])
