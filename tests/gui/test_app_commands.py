"""Undo commands against a real Project: every redo/undo lands in the database exactly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtGui import QUndoStack

from app.annotation_controller import clip_mask, is_nudge, moved_target
from app.commands import EditCommand
from core.document import AnnotationDocument, field_edit
from core.domain import ImageAnnotation, ReviewStatus, Split, Target, TargetMask, TargetState
from core.edits import ImageField
from core.errors import EditConflict
from core.store.new_image import NewImage
from core.store.project import Project
from tests._support.labels import delete_targets, replace_proposals, set_sky_mask


class Host:
    """The document of the only image, and the changes it announced."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.doc = AnnotationDocument(project)
        self.refreshed: list = []
        self.doc.subscribe(self.refreshed.append)
        self.doc.load(project.list_images()[0].id)

    def push(self, stack: QUndoStack, edit, mergeable: bool = False) -> EditCommand:
        cmd = EditCommand(self.doc, edit, mergeable)
        stack.push(cmd)
        return cmd


@pytest.fixture
def host(tmp_path, qapp):
    img = np.zeros((48, 64), np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    sky = np.zeros((48, 64), bool)
    sky[:20] = True
    targets = [
        Target(point=(10, 5), box=(9, 4, 12, 7), mask=TargetMask(9, 4, np.ones((3, 3), bool))),
        Target(point=(30, 8), box=(29, 7, 31, 9)),
    ]
    project = Project.create(tmp_path / "p")
    project.add_images([NewImage(tmp_path / "a.png", annotation=ImageAnnotation(targets, sky))])
    yield Host(project)
    project.close()


def image_id(h: Host) -> int:
    return h.project.list_images()[0].id


def state(h: Host) -> tuple:
    iid = image_id(h)
    info = h.project.get_image(iid)
    targets = [
        (t.id, t.point, t.box, t.state.value, t.score, None if t.mask is None else
         (t.mask.x0, t.mask.y0, t.mask.pixels.tobytes(), t.mask.pixels.shape))
        for t in h.project.targets(iid)
    ]  # fmt: skip
    masks = [h.project.sky_mask(iid, s) for s in TargetState]
    return (info.status, info.split, info.note, targets,
            [None if m is None else np.packbits(m).tobytes() for m in masks])  # fmt: skip


def check_undo_redo(h: Host, stack: QUndoStack, before: tuple) -> None:
    after = state(h)
    assert after != before
    stack.undo()
    assert state(h) == before
    stack.redo()
    assert state(h) == after


def test_add_target_undo_redo_keeps_id(host):
    stack, iid, before = QUndoStack(), image_id(host), state(host)
    cmd = host.push(stack, host.doc.add_target_edit(Target(point=(40, 30), box=(39, 29, 42, 32))))
    first_id = cmd.edit.targets[0].after.id
    check_undo_redo(host, stack, before)
    assert cmd.edit.targets[0].after.id == first_id  # later commands may refer to that id
    assert [t.id for t in host.doc.targets][-1] == first_id
    last = host.refreshed[-1]
    assert (last.image_id, last.current, last.edit.targets[0].id) == (iid, True, first_id)


def test_nudges_of_same_selection_merge_into_one_step(host):
    stack, iid, before = QUndoStack(), image_id(host), state(host)
    current = host.doc.targets[0]
    for _ in range(3):
        new = moved_target(current, None, tuple(v + 1 for v in current.box))
        assert is_nudge(current, new)
        host.push(stack, host.doc.edit_targets_edit([new], "Nudge"), mergeable=True)
        current = new
    assert stack.count() == 1
    moved = host.project.targets(iid)[0]
    assert moved.box == (12, 7, 15, 10) and moved.point == (13, 8)
    assert (moved.mask.x0, moved.mask.y0) == (12, 7)  # the mask travels with the box
    check_undo_redo(host, stack, before)


def test_drag_does_not_merge_with_nudge(host):
    stack = QUndoStack()
    t = host.doc.targets[0]
    n1 = moved_target(t, None, tuple(v + 1 for v in t.box))
    host.push(stack, host.doc.edit_targets_edit([n1], "Nudge"), mergeable=True)
    n2 = moved_target(n1, None, (20.5, 10.5, 23.5, 13.5))
    assert not is_nudge(n1, n2)
    host.push(stack, host.doc.edit_targets_edit([n2], "Move"))
    assert stack.count() == 2


def test_delete_restores_same_ids_and_masks(host):
    stack, iid, before = QUndoStack(), image_id(host), state(host)
    host.push(stack, host.doc.delete_edit([t.id for t in host.doc.targets]))
    assert host.project.targets(iid) == [] and host.doc.targets == []
    check_undo_redo(host, stack, before)


def test_accept_and_reject_proposals(host):
    iid = image_id(host)
    props = replace_proposals(host.project,
        iid, [Target(point=(50, 10), box=(49, 9, 52, 12), score=0.9),
              Target(point=(55, 15), box=(54, 14, 57, 17), score=0.3)], None)  # fmt: skip
    host.doc.load(iid)
    stack, before = QUndoStack(), state(host)
    host.push(stack, host.doc.set_states_edit([props[0].id], TargetState.ACCEPTED))
    assert host.project.targets(iid, TargetState.PROPOSAL)[0].id == props[1].id
    check_undo_redo(host, stack, before)
    mid = state(host)
    host.push(stack, host.doc.delete_edit([props[1].id], "Reject"))
    assert host.project.targets(iid, TargetState.PROPOSAL) == []
    check_undo_redo(host, stack, mid)


def test_sky_mask_command_from_none_and_back(host):
    iid, stack = image_id(host), QUndoStack()
    set_sky_mask(host.project, iid, None)
    host.doc.load(iid)
    before = state(host)
    new = np.zeros((48, 64), bool)
    new[5:9, 3:60] = True
    host.push(stack, host.doc.sky_edit(new, "Add sky polygon"))
    assert np.array_equal(host.project.sky_mask(iid), new)
    assert np.array_equal(host.doc.sky(), new)
    assert host.doc.sky_edit(new, "again") is None  # no empty undo step
    check_undo_redo(host, stack, before)
    stack.undo()
    assert host.project.sky_mask(iid) is None and host.doc.sky() is None


def test_accept_proposed_sky_consumes_the_proposal(host):
    iid, stack = image_id(host), QUndoStack()
    proposal = np.zeros((48, 64), bool)
    proposal[:30] = True
    replace_proposals(host.project, iid, [], proposal)
    host.doc.load(iid)
    before = state(host)
    host.push(stack, host.doc.accept_sky_edit())
    assert np.array_equal(host.project.sky_mask(iid), proposal)
    assert host.project.sky_mask(iid, TargetState.PROPOSAL) is None
    check_undo_redo(host, stack, before)


def test_image_fields_and_note_merging(host):
    iid, stack, before = image_id(host), QUndoStack(), state(host)

    def set_field(name: ImageField, value) -> None:
        host.push(stack, field_edit(host.doc.info, name, value))

    set_field(ImageField.NOTE, "cl")
    set_field(ImageField.NOTE, "cloud edge")
    assert stack.count() == 1 and host.project.get_image(iid).note == "cloud edge"
    set_field(ImageField.SPLIT, Split.VAL)
    set_field(ImageField.STATUS, ReviewStatus.NEW)
    assert stack.count() == 3
    info = host.project.get_image(iid)
    assert (info.split, info.status) == (Split.VAL, ReviewStatus.NEW)
    assert (host.doc.info.split, host.doc.info.status) == (Split.VAL, ReviewStatus.NEW)
    for _ in range(3):
        stack.undo()
    assert state(host) == before
    assert field_edit(host.doc.info, ImageField.SPLIT, host.doc.info.split) is None
    with pytest.raises(ValueError, match="colour"):
        field_edit(host.doc.info, "colour", "b")


def test_a_refused_undo_is_reported_and_leaves_the_stack(host, monkeypatch):
    """Another writer deleted the target meanwhile: the undo says so and changes nothing."""
    stack, iid = QUndoStack(), image_id(host)
    t = host.doc.targets[0]
    host.push(stack, host.doc.edit_targets_edit([moved_target(t, None, (1, 1, 4, 4))], "Move"))
    delete_targets(host.project, iid, [t.id])
    reported = []
    monkeypatch.setattr("app.commands._report", reported.append)
    before = state(host)
    stack.undo()
    assert state(host) == before
    # Someone else changed the image: an optimistic-concurrency conflict (ADR 0008), and the
    # document now shows their change (the target is gone).
    assert isinstance(reported[0][1], EditConflict) and "was changed" in str(reported[0][1])
    assert t.id not in {x.id for x in host.doc.targets}
    assert stack.count() == 0  # the obsolete command was dropped


def test_resize_clip():
    m = TargetMask(10, 10, np.ones((4, 4), bool))
    clipped = clip_mask(m, (11, 10, 13, 14))
    assert (clipped.x0, clipped.y0, clipped.pixels.shape) == (11, 10, (4, 2))
    assert clip_mask(m, (20, 20, 22, 22)) is None
    t = Target(point=(11, 11), box=(10, 10, 14, 14), mask=m)
    grown = moved_target(t, None, (10, 10, 16, 14))
    assert grown.point == (11, 11) and grown.mask.pixels.shape == (4, 4)
