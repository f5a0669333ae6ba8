"""Turns the canvas's edit requests into undoable edits, and keeps one undo stack per image.

The canvas only asks ("add a target here", "this ring changed"); this controller computes the new
geometry with core.geometry on the annotation document's labels (never a database re-read), has
the document build the edit value and pushes it as an EditCommand. The document commits it and
announces the change once; the window redraws from that announcement.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QUndoGroup, QUndoStack

from app.commands import EditCommand, KeyStep
from core import geometry
from core.document import AnnotationDocument, field_edit
from core.domain import SkyOp, Source, Target, TargetMask, TargetState
from core.edits import AnnotationEdit, ImageField
from core.geometry import GeometryError
from widgets.text import plural


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
        canvas.sky_brush_requested.connect(self.sky_brush)
        canvas.sky_ring_edit_requested.connect(self.sky_ring_edit)
        canvas.sky_ring_delete_requested.connect(self.sky_ring_delete)

    # ---------------------------------------------------------------- helpers
    def _doc(self) -> AnnotationDocument | None:
        """The document when an image is open in it, else None (requests are then ignored)."""
        doc = getattr(self.w, "document", None)
        if self.w.project is None or doc is None or doc.image_id is None:
            return None
        return doc

    def _push(self, edit: AnnotationEdit | None, mergeable: KeyStep | None = None) -> None:
        if edit is not None and not edit.is_empty:
            self.w.push_command(EditCommand(self.w.document, edit, mergeable))

    # ---------------------------------------------------------------- targets
    def add_target(self, x: float, y: float) -> None:
        doc = self._doc()
        if doc is None or doc.pixels is None:
            return
        h, w = doc.pixels.shape[:2]
        if not (0 <= x < w and 0 <= y < h):
            return  # a click outside the image is not a target
        fitted = geometry.fit_target(doc.pixels, float(x), float(y))
        target = replace(
            fitted, source=Source.MANUAL, state=TargetState.ACCEPTED, score=None, id=None
        )
        self._push(doc.add_target_edit(target))

    def edit_targets(self, changes: list) -> None:
        doc = self._doc()
        if doc is None or not changes:
            return
        by_id = {t.id: t for t in doc.targets_by_id(c[0] for c in changes)}
        old, new = [], []
        for tid, point, box in changes:
            if int(tid) in by_id:
                old.append(by_id[int(tid)])
                new.append(moved_target(by_id[int(tid)], point, box))
        if not new or old == new:
            return
        steps = {key_step(o, n) for o, n in zip(old, new, strict=True)}
        step = steps.pop() if len(steps) == 1 else None
        text = {KeyStep.MOVE: "Nudge targets", KeyStep.RESIZE: "Resize targets"}.get(
            step, f"Edit {len(new)} target{'s' * (len(new) != 1)}"
        )
        self._push(doc.edit_targets_edit(new, text), mergeable=step)

    def delete_targets(self, ids: list) -> None:
        doc = self._doc()
        if doc is not None:
            self._push(doc.delete_edit(ids))

    def _proposals(self, doc: AnnotationDocument, ids: list) -> list[int]:
        return [t.id for t in doc.targets_by_id(ids) if t.state == TargetState.PROPOSAL]

    def accept(self, ids: list) -> None:
        doc = self._doc()
        if doc is not None:
            self._push_accept(doc.accept_edit(self._proposals(doc, ids)))

    def _push_accept(self, edit: AnnotationEdit | None) -> None:
        """Push an accept edit; say so when it rejected proposals that duplicate a label."""
        self._push(edit)
        dropped = sum(1 for c in edit.targets if c.after is None) if edit is not None else 0
        if dropped and not getattr(self.w.project, "read_only", False):  # else: why it was refused
            self.w.show_message(f"{plural(dropped, 'proposal')} on an already accepted target "
                                "rejected instead of accepted (no duplicate labels).")  # fmt: skip

    def reject(self, ids: list) -> None:
        doc = self._doc()
        if doc is None:
            return
        found = self._proposals(doc, ids)
        if found:
            n = len(found)
            self._push(doc.delete_edit(found, f"Reject {n} proposal{'s' * (n != 1)}"))

    def accept_above_threshold(self) -> int:
        """Accept every proposal whose score reaches the toolbar threshold (duplicates of
        accepted targets are rejected instead, core.duplicates); returns how many were accepted."""
        doc = self._doc()
        if doc is None:
            return 0
        thr = self.w.score_threshold
        found = [t.id for t in doc.targets if t.state == TargetState.PROPOSAL
                 and (t.score if t.score is not None else 1.0) >= thr]  # fmt: skip
        edit = doc.accept_edit(found, f" with score >= {thr:.2f}")
        self._push_accept(edit)
        return sum(1 for c in edit.targets if c.after is not None) if edit is not None else 0

    # ---------------------------------------------------------------- sky
    def sky_polygon(self, ring: object, mode: SkyOp | str) -> None:
        add = SkyOp(mode) == SkyOp.ADD
        self._edit_sky("Add sky polygon" if add else "Subtract sky polygon",
                       lambda base, h, w: geometry.apply_polygon(base, ring, mode, h, w))  # fmt: skip

    def sky_brush(self, points: object, radius: float, mode: SkyOp | str) -> None:
        self._edit_sky("Paint sky" if SkyOp(mode) == SkyOp.ADD else "Erase sky",
                       lambda base, h, w: geometry.apply_brush(base, points, radius, mode, h, w))  # fmt: skip

    def sky_ring_edit(self, old_ring: object, new_ring: object) -> None:
        self._edit_sky("Edit sky vertices", lambda base, h, w: geometry.apply_ring_edit(base, old_ring, new_ring),
                       needs_sky=True)  # fmt: skip

    def sky_ring_delete(self, ring: object) -> None:
        def delete(base: np.ndarray, h: int, w: int) -> np.ndarray:
            shape = ring if isinstance(ring, geometry.Ring) else geometry.Ring(ring, is_hole=_looks_like_hole(base, ring))
            return geometry.apply_ring_delete(base, shape)

        self._edit_sky("Delete sky ring", delete, needs_sky=True)

    def _edit_sky(self, text: str, edited: Callable[[np.ndarray | None, int, int], np.ndarray],
                  needs_sky: bool = False) -> None:
        """One sky edit: ``edited(base, h, w)`` is the new mask from the sky being edited, the
        accepted one or, on an image whose sky is only proposed, the proposal, which the same
        undoable edit then accepts (ADR 0043). Bad geometry is said and changes nothing; a mask
        equal to its base pushes no undo step."""
        doc = self._doc()
        if doc is None:
            return
        base, proposed = doc.sky_to_edit()
        if base is None and needs_sky:
            return
        try:
            mask = edited(base, doc.info.height, doc.info.width)
        except GeometryError as exc:
            self.w.show_message(str(exc))  # e.g. fewer than 3 vertices: tell, change nothing
            return
        if np.array_equal(mask, base if base is not None else np.zeros_like(mask)):
            return  # nothing changed (erased where there was no sky...): no undo step
        self._push(doc.sky_edit(mask, text + (" (the proposed sky)" if proposed else ""), from_proposal=proposed))

    def accept_proposed_sky(self) -> bool:
        doc = self._doc()
        edit = doc.accept_sky_edit() if doc is not None else None
        self._push(edit)
        return edit is not None

    # ---------------------------------------------------------------- image fields
    def set_field(self, image_id: int, field: str, value: object) -> None:
        """Status, split or note of ``image_id`` (which may have just been left)."""
        doc = self.w.document
        info = doc.info if doc is not None and doc.image_id == image_id else None
        info = info or self.w.list_model.info(int(image_id)) or self.w.project.get_image(image_id)
        edit = field_edit(info, ImageField(field), value)
        if edit is not None:
            # onto that image's own stack: a note may be committed just after switching images
            refuse = getattr(self.w, "refuse_if_read_only", None)  # read-only project
            if refuse is not None and refuse():
                return
            self.w.undo_stacks.stack(image_id).push(EditCommand(doc, edit))


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


def key_step(old: Target, new: Target) -> KeyStep | None:
    """Which keyboard step turned ``old`` into ``new``: a 1 px move (the box keeps its size), a
    1 px resize (Shift + arrow), or None (not a keyboard step)."""
    if not is_nudge(old, new):
        return None
    if old.box is None or new.box is None:
        return KeyStep.MOVE
    same_size = all(
        math.isclose(new.box[k + 2] - new.box[k], old.box[k + 2] - old.box[k], abs_tol=1e-6)
        for k in (0, 1)
    )
    return KeyStep.MOVE if same_size else KeyStep.RESIZE


def _pair(value: object) -> tuple[float, float]:
    x, y = value  # type: ignore[misc]
    return float(x), float(y)


def _looks_like_hole(mask: np.ndarray, points: object) -> bool:
    """A bare ring is a hole when most pixels inside it are not sky."""
    inside = geometry.rasterize_ring(np.asarray(points, dtype=np.float64), *mask.shape)
    return bool(inside.any()) and float(mask[inside].mean()) < 0.5
