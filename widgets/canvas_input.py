"""Mouse and keyboard input of the IR canvas, as a mixin of ``IRCanvas``: a dispatcher.

What a press, hover, double-click or key does depends on the mode; each mode is one tool class
(widgets/canvas_tools*.py) taken from ``TOOLS``. This mixin only does what every mode shares:
it turns Qt events into ``Pointer``s, runs the press -> drag / click life of the tool's
``Gesture``, pans (middle / right drag, space + drag), zooms with the wheel, and handles the
keys of every mode (F / Home fit, L loupe, Esc). It never changes targets or sky itself.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from core.domain import CanvasMode
from widgets.canvas_hit import MAX_ZOOM, MIN_ZOOM
from widgets.canvas_tools import (
    DRAG_START_PX,
    CanvasTool,
    Gesture,
    KeyAction,
    Mod,
    PanGesture,
    Pointer,
    Reads,
)
from widgets.canvas_tools_brush import PaintSkyTool
from widgets.canvas_tools_sky import DrawSkyTool, EditSkyTool
from widgets.canvas_tools_targets import TargetsTool

Key = QtCore.Qt.Key
Button = QtCore.Qt.MouseButton
# One tool per mode; a new mode is a new tool class and one line here.
TOOLS: dict[CanvasMode, type[CanvasTool]] = {
    CanvasMode.EDIT: TargetsTool,
    CanvasMode.DRAW_SKY: DrawSkyTool,
    CanvasMode.EDIT_SKY: EditSkyTool,
    CanvasMode.PAINT_SKY: PaintSkyTool,
}


class CanvasInputMixin:
    """Routes input to the active tool (``self._tool``); ``self._gesture`` is the press in
    progress (None with no button down) and ``self._dragging`` whether it became a drag."""

    def _init_tools(self) -> None:
        self._tools = {mode: tool(self) for mode, tool in TOOLS.items()}
        self._tool: CanvasTool = self._tools[CanvasMode.EDIT]
        self._gesture: Gesture | None = None
        self._dragging = False
        self._space = False

    def active_tool(self) -> CanvasTool:
        """The tool of the current mode."""
        return self._tool

    def _switch_tool(self, mode: CanvasMode) -> None:
        self._cancel_interaction()
        self._tool.deactivate()
        self._tool = self._tools[mode]
        self._tool.activate()

    # ==================================================================== mouse
    def _pointer(self, ev: QtGui.QMouseEvent) -> Pointer:
        pos = ev.position()
        return Pointer(pos, self.widget_to_image(pos), ev.button(), ev.modifiers())

    def _mouse_press(self, ev: QtGui.QMouseEvent) -> None:
        if self._gesture is not None:
            return  # a second button during a drag: ignore it
        pt = self._pointer(ev)
        left = pt.button == Button.LeftButton
        gesture = None
        if left and not self._space:
            gesture = self._tool.press(pt)
        elif pt.button == Button.RightButton:
            gesture = self._tool.right_press(pt)
        self._gesture = gesture or PanGesture(self, pt)
        self._dragging = gesture is None and not left  # middle / right pan from the first pixel
        if self._dragging:
            self.view.setCursor(PanGesture.drag_cursor)

    def _mouse_move(self, ev: QtGui.QMouseEvent) -> None:
        pos = ev.position()
        img = self.widget_to_image(pos)
        self._report_cursor(*img, pos)
        g = self._gesture
        if g is None:
            self._tool.hover(*img)
            return
        if not self._dragging:
            if (pos - g.press.pos).manhattanLength() < DRAG_START_PX:
                return
            self._dragging = True
            g = self._gesture = g.drag()
            if g.drag_cursor is not None:
                self.view.setCursor(g.drag_cursor)
        g.move(pos, img)

    def _mouse_release(self, ev: QtGui.QMouseEvent) -> None:
        g = self._gesture
        if g is None or ev.button() != g.press.button:
            return
        self._gesture = None
        self.view.setCursor(self._tool.cursor)
        if self._dragging:
            g.finish(self.widget_to_image(ev.position()))
        else:
            g.click()

    def _double_click(self, ev: QtGui.QMouseEvent) -> None:
        self._gesture = None
        if ev.button() == Button.LeftButton:
            self._tool.double_click(self._pointer(ev))

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
        self._tool.leave()
        self.cursor_moved.emit(float("nan"), float("nan"), None)

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

    def _key_action(self, key: int, mods: QtCore.Qt.KeyboardModifier) -> KeyAction | None:
        """The callable a key triggers now: the keys of every mode, then the tool's."""
        if not mods & Mod.ControlModifier:
            common = {Key.Key_F: self.fit, Key.Key_Home: self.fit, Key.Key_L: self._toggle_loupe,
                      Key.Key_Escape: self._escape}  # fmt: skip
            if key in common:
                return common[key]
        return self._tool.key_action(key, mods)

    def _escape(self) -> None:
        """Esc cancels the press in progress (and the tool's unfinished work), else the tool's
        own Esc (clear the selection, drop the polygon)."""
        if self._gesture is not None:
            self._cancel_interaction()
        else:
            self._tool.escape()

    def _cancel_drag_on(self, reads: Reads) -> None:
        """Drop the press in progress when it works on data being replaced."""
        if self._gesture is not None and self._gesture.reads == reads:
            self._gesture.cancel()
            self._gesture = None
            self.view.setCursor(self._tool.cursor)

    def _cancel_interaction(self) -> None:
        if self._gesture is not None:
            self._gesture.cancel()
            self._gesture = None
        self._tool.reset()
        self.view.setCursor(self._tool.cursor)

    # ==================================================================== shared by the tools
    def _clamp(self, x: float, y: float) -> tuple[float, float]:
        h, w = self._gray.shape if self._gray is not None else (np.inf, np.inf)
        return float(np.clip(x, 0, w)), float(np.clip(y, 0, h))
