"""The "paint_sky" canvas tool: a round brush that paints sky on or erases it.

A sky correction is usually a blob along a tree line or a roof (median 8-10 px across on
DenseSIRST val_v2, resources/models/MODEL.md): one drag of a brush of about that size fixes it,
where the polygon tool needs a click per vertex and Enter. Drag paints in the sky mode's default
(add), Shift held at the press erases instead (subtract); a click paints one dab. ``[`` / ``]``
make the brush smaller / larger. A stroke is one edit (one undo step), applied on release.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui

from core.domain import CanvasMode, SkyOp
from widgets.canvas_tools import CanvasTool, Gesture, Key, KeyAction, Mod, Pointer

RADIUS_DEFAULT = 6.0  # image pixels: the typical correction blob is 16-20 px across
RADIUS_MIN, RADIUS_MAX = 0.5, 256.0
RADIUS_STEP = 1.25  # one [ / ] press


class BrushStroke(Gesture):
    """A left press in "paint_sky": every cursor position joins the stroke; the release (or a
    click: one dab) asks for the sky edit."""

    def __init__(self, canvas: Any, press: Pointer, tool: PaintSkyTool) -> None:
        super().__init__(canvas, press)
        self.tool = tool
        self.subtract = tool.subtracts(press.shift)
        self.points: list[tuple[float, float]] = [press.img]
        tool.show(self.points, press.img, self.subtract)

    def click(self) -> None:
        self.emit()

    def drag(self) -> Gesture:
        return self

    def move(self, pos: QtCore.QPointF, img: tuple[float, float]) -> None:
        self.points.append(img)
        self.tool.show(self.points, img, self.subtract)

    def finish(self, img: tuple[float, float]) -> None:
        if img != self.points[-1]:
            self.points.append(img)
        self.emit()

    def emit(self) -> None:
        self.tool.show([], self.points[-1], self.tool.subtracts(False))
        mode = SkyOp.SUBTRACT if self.subtract else SkyOp.ADD
        pts = np.asarray(self.points, dtype=np.float64)
        self.canvas.sky_brush_requested.emit(pts, float(self.tool.radius), str(mode))

    def cancel(self) -> None:
        self.tool.show([], None, self.subtract)


class PaintSkyTool(CanvasTool):
    """The "paint_sky" mode. ``radius``: the brush's, in image pixels (kept across images)."""

    mode = CanvasMode.PAINT_SKY
    edits_sky = True  # the sky being painted stays shown with the sky hidden (H)

    def __init__(self, canvas: Any) -> None:
        super().__init__(canvas)
        self.radius = RADIUS_DEFAULT

    @property
    def hint(self) -> str:  # type: ignore[override]  (the class attribute of the other tools)
        return (f"Paint sky: drag paints · Shift+drag erases · click paints one dab · "
                f"[ / ] brush size (radius {self.radius:.1f} px)")  # fmt: skip

    def deactivate(self) -> None:
        super().deactivate()
        self.show([], None, False)

    def press(self, pt: Pointer) -> Gesture:
        return BrushStroke(self.canvas, pt, self)

    def hover(self, x: float, y: float) -> None:
        shift = bool(QtGui.QGuiApplication.keyboardModifiers() & Mod.ShiftModifier)
        self.show([], (x, y), self.subtracts(shift))

    def leave(self) -> None:
        self.show([], None, False)

    def key_action(self, key: int, mods: QtCore.Qt.KeyboardModifier) -> KeyAction | None:
        if mods & Mod.ControlModifier:
            return None
        if key == Key.Key_BracketLeft:
            return lambda: self.resize(1.0 / RADIUS_STEP)
        if key == Key.Key_BracketRight:
            return lambda: self.resize(RADIUS_STEP)
        return None

    def sky_mode_changed(self) -> None:
        item = self.canvas.brush_item
        self.show(item.points, item.cursor, self.subtracts(False))

    # -----------------------------------------------------------------------------------------
    def set_radius(self, radius: float) -> None:
        self.radius = float(np.clip(radius, RADIUS_MIN, RADIUS_MAX))

    def resize(self, factor: float) -> None:
        self.set_radius(self.radius * factor)
        item = self.canvas.brush_item
        self.show(item.points, item.cursor, item.subtract)
        self.canvas.hint.setText(self.hint)
        self.canvas._place_overlays()

    def show(self, points: list[tuple[float, float]], cursor: tuple[float, float] | None, subtract: bool) -> None:
        self.canvas.brush_item.set_brush(points, cursor, self.radius, subtract)
