"""Turns the canvas's edit requests into undoable commands, and keeps one undo stack per image.

The canvas only asks ("add a target here", "this ring changed"); this controller computes the new
geometry with core.geometry on the stored data, builds the command and pushes it. Commands then
call Project and the window refreshes the canvas from the database, so what is shown is what is
saved.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QUndoCommand, QUndoGroup, QUndoStack

from app.commands import (
    AcceptSkyCommand,
    AddTargetCommand,
    DeleteTargetsCommand,
    EditTargetsCommand,
    SetImageFieldCommand,
    SetTargetStatesCommand,
    SkyMaskCommand,
)
from core import geometry
from core.geometry import GeometryError
from core.types import Source, Target, TargetMask, TargetState


class UndoStacks(QUndoGroup):
    """One QUndoStack per image id, created on first use; the current image's stack is active."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stacks: dict[int, QUndoStack] = {}

    def stack(self, image_id: int) -> QUndoStack:
        stack = self._stacks.get(int(image_id))
        if stack is None:
            stack = QUndoStack(self)
            self.addStack(stack)
            self._stacks[int(image_id)] = stack
        return stack

    def activate(self, image_id: int | None) -> None:
        self.setActiveStack(self.stack(image_id) if image_id is not None else None)

    def clear_all(self) -> None:
        for stack in self._stacks.values():
            self.removeStack(stack)
            stack.deleteLater()
        self._stacks.clear()


class AnnotationController(QObject):
    """Slots for the canvas signals plus the toolbar / menu edit actions."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.w = window

    def connect_canvas(self, canvas) -> None:
        canvas.add_target_requested.connect(self.add_target)
        canvas.targets_edit_requested.connect(self.edit_targets)
        canvas.delete_requested.connect(self.delete_targets)
        canvas.accept_requested.connect(self.accept)
        canvas.reject_requested.connect(self.reject)
        canvas.sky_polygon_requested.connect(self.sky_polygon)
        canvas.sky_ring_edit_requested.connect(self.sky_ring_edit)
        canvas.sky_ring_delete_requested.connect(self.sky_ring_delete)

    # ---------------------------------------------------------------- helpers
    def _image(self) -> int | None:
        return self.w.current_image_id if self.w.project is not None else None

    def _push(self, cmd: QUndoCommand) -> None:
        self.w.push_command(cmd)

    def _targets(self, image_id: int, ids: list[int]) -> list[Target]:
        wanted = {int(i) for i in ids}
        return [t for t in self.w.project.targets(image_id) if t.id in wanted]

    def _shape(self, image_id: int) -> tuple[int, int]:
        info = self.w.project.get_image(image_id)
        return info.height, info.width

    # ---------------------------------------------------------------- targets
    def add_target(self, x: float, y: float) -> None:
        image_id, pixels = self._image(), self.w.current_pixels
        if image_id is None or pixels is None:
            return
        h, w = pixels.shape[:2]
        if not (0 <= x < w and 0 <= y < h):
            return  # a click outside the image is not a target
        fitted = geometry.fit_target(pixels, float(x), float(y))
        target = replace(
            fitted, source=Source.MANUAL, state=TargetState.ACCEPTED, score=None, id=None
        )
        self._push(AddTargetCommand(self.w, image_id, target))

    def edit_targets(self, changes: list) -> None:
        image_id = self._image()
        if image_id is None or not changes:
            return
        by_id = {t.id: t for t in self._targets(image_id, [c[0] for c in changes])}
        old, new = [], []
        for tid, point, box in changes:
            if int(tid) in by_id:
                old.append(by_id[int(tid)])
                new.append(moved_target(by_id[int(tid)], point, box))
        if not new or old == new:
            return
        nudge = all(is_nudge(o, n) for o, n in zip(old, new, strict=True))
        text = "Nudge targets" if nudge else f"Edit {len(new)} target{'s' * (len(new) != 1)}"
        self._push(EditTargetsCommand(self.w, image_id, old, new, text, mergeable=nudge))

    def delete_targets(self, ids: list) -> None:
        image_id = self._image()
        present = [t.id for t in self._targets(image_id, ids)] if image_id is not None else []
        if present:
            self._push(DeleteTargetsCommand(self.w, image_id, present))

    def accept(self, ids: list) -> None:
        image_id = self._image()
        if image_id is None:
            return
        found = [t for t in self._targets(image_id, ids) if t.state == TargetState.PROPOSAL]
        if found:
            old = {int(t.id): t.state for t in found}
            self._push(SetTargetStatesCommand(self.w, image_id, old, TargetState.ACCEPTED))

    def reject(self, ids: list) -> None:
        image_id = self._image()
        if image_id is None:
            return
        found = [t.id for t in self._targets(image_id, ids) if t.state == TargetState.PROPOSAL]
        if found:
            n = len(found)
            text = f"Reject {n} proposal{'s' * (n != 1)}"
            self._push(DeleteTargetsCommand(self.w, image_id, found, text))

    def accept_above_threshold(self) -> int:
        """Accept every proposal whose score reaches the toolbar threshold; returns how many."""
        image_id = self._image()
        if image_id is None:
            return 0
        thr = self.w.score_threshold
        found = [t for t in self.w.project.targets(image_id, TargetState.PROPOSAL)
                 if (t.score if t.score is not None else 1.0) >= thr]  # fmt: skip
        if found:
            old = {int(t.id): t.state for t in found}
            text = f"Accept {len(found)} proposals with score >= {thr:.2f}"
            self._push(SetTargetStatesCommand(self.w, image_id, old, TargetState.ACCEPTED, text))
        return len(found)

    # ---------------------------------------------------------------- sky
    def _sky_edit(self, image_id: int, new: np.ndarray, text: str) -> None:
        old = self.w.project.sky_mask(image_id)
        if old is not None and np.array_equal(old, new):
            return  # nothing changed: no empty undo step
        self._push(SkyMaskCommand(self.w, image_id, old, new, text))

    def sky_polygon(self, ring: object, mode: str) -> None:
        image_id = self._image()
        if image_id is None:
            return
        h, w = self._shape(image_id)
        try:
            mask = geometry.apply_polygon(self.w.project.sky_mask(image_id), ring, mode, h, w)
        except GeometryError as exc:
            self.w.show_message(str(exc))  # e.g. fewer than 3 vertices: tell, change nothing
            return
        text = "Add sky polygon" if mode == "add" else "Subtract sky polygon"
        self._sky_edit(image_id, mask, text)

    def sky_ring_edit(self, old_ring: object, new_ring: object) -> None:
        image_id = self._image()
        current = self.w.project.sky_mask(image_id) if image_id is not None else None
        if current is None:
            return
        try:
            mask = geometry.apply_ring_edit(current, old_ring, new_ring)
        except GeometryError as exc:
            self.w.show_message(str(exc))
            return
        self._sky_edit(image_id, mask, "Edit sky vertices")

    def sky_ring_delete(self, ring: object) -> None:
        image_id = self._image()
        current = self.w.project.sky_mask(image_id) if image_id is not None else None
        if current is None:
            return
        if not isinstance(ring, geometry.Ring):
            ring = geometry.Ring(ring, is_hole=_looks_like_hole(current, ring))
        self._sky_edit(image_id, geometry.apply_ring_delete(current, ring), "Delete sky ring")

    def accept_proposed_sky(self) -> bool:
        image_id = self._image()
        if image_id is None:
            return False
        proposal = self.w.project.sky_mask(image_id, TargetState.PROPOSAL)
        if proposal is None:
            return False
        accepted = self.w.project.sky_mask(image_id)
        self._push(AcceptSkyCommand(self.w, image_id, accepted, proposal))
        return True

    # ---------------------------------------------------------------- image fields
    def set_field(self, image_id: int, field: str, value: object) -> None:
        info = self.w.project.get_image(image_id)
        old = getattr(info, field)
        if str(old) != str(value):
            # onto that image's own stack: a note may be committed just after switching images
            refuse = getattr(self.w, "refuse_if_read_only", None)  # read-only project
            if refuse is not None and refuse():
                return
            cmd = SetImageFieldCommand(self.w, image_id, field, old, value)
            self.w.undo_stacks.stack(image_id).push(cmd)


def moved_target(old: Target, point: object, box: object) -> Target:
    """``old`` with a new point and/or box; a pure box translation carries the point and mask
    along, a resize keeps the mask pixels that stay inside the new box."""
    new_point = _pair(point) if point is not None else old.point
    new_box = tuple(float(v) for v in box) if box is not None else old.box
    mask = old.mask
    if box is not None and old.box is not None:
        dx, dy = new_box[0] - old.box[0], new_box[1] - old.box[1]
        same_size = math.isclose(new_box[2] - new_box[0], old.box[2] - old.box[0], abs_tol=1e-6) and \
            math.isclose(new_box[3] - new_box[1], old.box[3] - old.box[1], abs_tol=1e-6)  # fmt: skip
        if same_size:
            if point is None and old.point is not None:
                new_point = (old.point[0] + dx, old.point[1] + dy)
            if mask is not None:
                mask = TargetMask(mask.x0 + round(dx), mask.y0 + round(dy), mask.pixels)
        elif mask is not None:
            mask = clip_mask(mask, new_box)
    return replace(old, point=new_point, box=new_box, mask=mask)


def clip_mask(mask: TargetMask, box: tuple[float, float, float, float]) -> TargetMask | None:
    """The mask pixels covered by ``box``; None when none remain (export then fills the box)."""
    x0, y0 = max(math.floor(box[0]), mask.x0), max(math.floor(box[1]), mask.y0)
    ph, pw = mask.pixels.shape
    x1, y1 = min(math.ceil(box[2]), mask.x0 + pw), min(math.ceil(box[3]), mask.y0 + ph)
    if x1 <= x0 or y1 <= y0:
        return None
    crop = mask.pixels[y0 - mask.y0 : y1 - mask.y0, x0 - mask.x0 : x1 - mask.x0]
    return TargetMask(x0, y0, crop.copy()) if crop.any() else None


def is_nudge(old: Target, new: Target) -> bool:
    """A keyboard step: every coordinate moved by -1, 0 or +1 px and something moved."""
    pairs = []
    if old.box is not None and new.box is not None:
        pairs += list(zip(old.box, new.box, strict=True))
    if old.point is not None and new.point is not None:
        pairs += list(zip(old.point, new.point, strict=True))
    deltas = [b - a for a, b in pairs]
    return bool(deltas) and any(deltas) and all(d in (-1.0, 0.0, 1.0) for d in deltas)


def _pair(value: object) -> tuple[float, float]:
    x, y = value  # type: ignore[misc]
    return float(x), float(y)


def _looks_like_hole(mask: np.ndarray, points: object) -> bool:
    """A bare ring is a hole when most pixels inside it are not sky."""
    inside = geometry.rasterize_ring(np.asarray(points, dtype=np.float64), *mask.shape)
    return bool(inside.any()) and float(mask[inside].mean()) < 0.5
