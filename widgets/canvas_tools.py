"""Canvas tools: what the mouse and the mode keys do on the IR canvas, one class per mode.

The canvas (widgets/canvas_input.py) picks the active tool from a table keyed by ``CanvasMode``
(as napari dispatches its layer modes) and hands it every press, hover, double-click and key;
the tool answers a press with a ``Gesture`` that lives until the release. A gesture that moves
``DRAG_START_PX`` becomes a drag (``Gesture.drag`` says which gesture drags: often itself, a
pan otherwise); a release before that is a click. Tools and gestures never change targets or
sky themselves: they emit the canvas's request signals, as the canvas did before them.

The tools reach the canvas's items and signals through ``self.canvas`` (an ``IRCanvas``; it
imports this module, so it is not imported back). What is under the cursor comes from the
Qt-free functions of widgets/canvas_hit.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from PySide6 import QtCore

from core.domain import CanvasMode, SkyOp
from widgets.canvas_hit import TargetArrays

Qt = QtCore.Qt
Key = Qt.Key
Mod = Qt.KeyboardModifier
Cursor = Qt.CursorShape
DRAG_START_PX = 4  # a press becomes a drag after moving this far (screen pixels, Manhattan)
KeyAction = Callable[[], object]


class Reads(Enum):
    """The canvas data a gesture works on: new data of that kind cancels the gesture."""

    TARGETS = "targets"
    SKY = "sky"


@dataclass(frozen=True)
class Pointer:
    """One mouse event in both coordinate systems."""

    pos: QtCore.QPointF  # widget (viewport) coordinates
    img: tuple[float, float]  # image coordinates
    button: Qt.MouseButton
    mods: Qt.KeyboardModifier

    @property
    def ctrl(self) -> bool:
        return bool(self.mods & Mod.ControlModifier)

    @property
    def shift(self) -> bool:
        return bool(self.mods & Mod.ShiftModifier)


class Gesture:
    """What one mouse press does until its release. The base gesture pans when dragged and does
    nothing on a click."""

    reads: ClassVar[Reads | None] = None
    drag_cursor: ClassVar[Cursor | None] = None  # set while dragging, when not None

    def __init__(self, canvas: Any, press: Pointer) -> None:
        self.canvas = canvas
        self.press = press

    def click(self) -> None:
        """Released before moving ``DRAG_START_PX``."""

    def drag(self) -> Gesture:
        """The press moved far enough: the gesture that handles the drag from now on."""
        return PanGesture(self.canvas, self.press)

    def move(self, pos: QtCore.QPointF, img: tuple[float, float]) -> None:
        """The cursor moved during the drag (live feedback only)."""

    def finish(self, img: tuple[float, float]) -> None:
        """The drag ended at ``img``: emit the request, drop the feedback."""
        self.cancel()

    def cancel(self) -> None:
        """Esc, new data or a mode switch: drop the feedback, emit nothing."""


class PanGesture(Gesture):
    """Dragging moves the view with the cursor (middle / right drag, space + drag, or a left drag
    that starts where the tool has nothing to do)."""

    drag_cursor = Cursor.ClosedHandCursor

    def __init__(self, canvas: Any, press: Pointer) -> None:
        super().__init__(canvas, press)
        self.last = press.pos

    def drag(self) -> Gesture:
        return self

    def move(self, pos: QtCore.QPointF, img: tuple[float, float]) -> None:
        c = self.canvas
        a = c.viewbox.mapSceneToView(c.view.mapToScene(self.last.toPoint()))
        b = c.viewbox.mapSceneToView(c.view.mapToScene(pos.toPoint()))
        c.viewbox.translateBy(x=a.x() - b.x(), y=a.y() - b.y())
        self.last = pos


class CanvasTool:
    """One canvas mode's input. Subclasses override what their mode uses; the defaults pan on a
    drag, ignore clicks, keys and hovers."""

    mode: ClassVar[CanvasMode]
    hint: ClassVar[str]  # what the mode expects, shown on the canvas (top left)
    cursor: ClassVar[Cursor] = Cursor.CrossCursor  # the cursor while no drag is in progress
    edits_sky: ClassVar[bool] = False  # sky outlines shown (and editable) even with sky hidden
    # What the tool follows besides the pointer (issue 24: the canvas calls only the tools that
    # follow a change, as panels follow only while shown); tests/gui/test_canvas_tools.py checks
    # that a tool overriding ``reset`` / ``sky_changed`` says so here.
    keeps_draft: ClassVar[bool] = False  # holds unfinished work (``reset`` on a new image)
    follows_sky: ClassVar[bool] = False  # ``sky_changed`` when the sky is replaced

    def __init__(self, canvas: Any) -> None:
        self.canvas = canvas

    # -- life cycle ---------------------------------------------------------------------------
    def activate(self) -> None:
        """The mode was switched to this tool."""
        self.canvas.view.setCursor(self.cursor)

    def deactivate(self) -> None:
        """The mode is switched away (the canvas has cancelled any gesture first)."""
        self.reset()

    def reset(self) -> None:
        """Drop unfinished work that is not a gesture (a polygon being drawn); new image."""

    # -- mouse ---------------------------------------------------------------------------------
    def press(self, pt: Pointer) -> Gesture | None:
        """A left press (space not held); None: the press pans."""
        return None

    def right_press(self, pt: Pointer) -> Gesture | None:
        """A right press; None: it pans at once."""
        return None

    def double_click(self, pt: Pointer) -> None:
        """A left double-click."""

    def hover(self, x: float, y: float) -> None:
        """The cursor moved with no button down."""

    def leave(self) -> None:
        """The cursor left the view."""

    # -- keys ----------------------------------------------------------------------------------
    def key_action(self, key: int, mods: Qt.KeyboardModifier) -> KeyAction | None:
        """What a key does in this mode (None: not the tool's key). Ctrl combinations reach the
        tool too; they belong to the app unless the tool claims one."""
        return None

    def escape(self) -> None:
        """Esc with no gesture in progress."""

    # -- canvas data changed -------------------------------------------------------------------
    def sky_changed(self) -> None:
        """New sky rings were set."""

    def sky_mode_changed(self) -> None:
        """The add / subtract default for closing sky polygons changed."""

    # -- helpers -------------------------------------------------------------------------------
    def subtracts(self, shift: bool) -> bool:
        """Whether a sky polygon closed / a brush stroke started now takes sky away: the canvas's
        add / subtract default, flipped by Shift."""
        return (self.canvas._sky_mode == SkyOp.SUBTRACT) != shift

    def targets(self) -> TargetArrays:
        return target_arrays(self.canvas)


def target_arrays(canvas: Any) -> TargetArrays:
    """The targets the canvas draws now, as the hit-test functions take them."""
    item = canvas.targets_item
    return TargetArrays(item.ids, item.boxes, item.centres, item.visible, item.selected)
