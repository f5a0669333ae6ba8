"""Undo commands against a real Project: every redo/undo lands in the database exactly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtGui import QUndoStack

from app.annotation_controller import clip_mask, is_nudge, moved_target
from app.commands import (
    AcceptSkyCommand,
    AddTargetCommand,
    DeleteTargetsCommand,
    EditTargetsCommand,
    SetImageFieldCommand,
    SetTargetStatesCommand,
    SkyMaskCommand,
    decode_mask,
    encode_mask,
)
from core.project import NewImage, Project
from core.types import ImageAnnotation, ReviewStatus, Split, Target, TargetMask, TargetState


class Host:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.refreshed: list[tuple[int, str]] = []

    def after_edit(self, image_id: int, what: str) -> None:
        self.refreshed.append((image_id, what))


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
    cmd = AddTargetCommand(host, iid, Target(point=(40, 30), box=(39, 29, 42, 32)))
    stack.push(cmd)
    first_id = cmd.target.id
    check_undo_redo(host, stack, before)
    assert cmd.target.id == first_id  # later commands may refer to that id
    assert host.refreshed[-1] == (iid, "targets")


def test_nudges_of_same_selection_merge_into_one_step(host):
    stack, iid, before = QUndoStack(), image_id(host), state(host)
    t = host.project.targets(iid)[0]
    current = t
    for _ in range(3):
        new = moved_target(current, None, tuple(v + 1 for v in current.box))
        assert is_nudge(current, new)
        stack.push(EditTargetsCommand(host, iid, [current], [new], mergeable=True))
        current = new
    assert stack.count() == 1
    moved = host.project.targets(iid)[0]
    assert moved.box == (12, 7, 15, 10) and moved.point == (13, 8)
    assert (moved.mask.x0, moved.mask.y0) == (12, 7)  # the mask travels with the box
    check_undo_redo(host, stack, before)


def test_drag_does_not_merge_with_nudge(host):
    stack, iid = QUndoStack(), image_id(host)
    t = host.project.targets(iid)[0]
    n1 = moved_target(t, None, tuple(v + 1 for v in t.box))
    stack.push(EditTargetsCommand(host, iid, [t], [n1], mergeable=True))
    n2 = moved_target(n1, None, (20.5, 10.5, 23.5, 13.5))
    assert not is_nudge(n1, n2)
    stack.push(EditTargetsCommand(host, iid, [n1], [n2], mergeable=False))
    assert stack.count() == 2


def test_delete_restores_same_ids_and_masks(host):
    stack, iid, before = QUndoStack(), image_id(host), state(host)
    ids = [t.id for t in host.project.targets(iid)]
    stack.push(DeleteTargetsCommand(host, iid, ids))
    assert host.project.targets(iid) == []
    check_undo_redo(host, stack, before)


def test_accept_and_reject_proposals(host):
    iid = image_id(host)
    props = host.project.replace_proposals(
        iid, [Target(point=(50, 10), box=(49, 9, 52, 12), score=0.9),
              Target(point=(55, 15), box=(54, 14, 57, 17), score=0.3)], None)  # fmt: skip
    stack, before = QUndoStack(), state(host)
    stack.push(SetTargetStatesCommand(host, iid, {props[0].id: TargetState.PROPOSAL},
                                      TargetState.ACCEPTED))  # fmt: skip
    assert host.project.targets(iid, TargetState.PROPOSAL)[0].id == props[1].id
    check_undo_redo(host, stack, before)
    mid = state(host)
    stack.push(DeleteTargetsCommand(host, iid, [props[1].id], "Reject"))
    assert host.project.targets(iid, TargetState.PROPOSAL) == []
    check_undo_redo(host, stack, mid)


def test_sky_mask_command_from_none_and_back(host):
    iid, stack = image_id(host), QUndoStack()
    host.project.set_sky_mask(iid, None)
    before = state(host)
    new = np.zeros((48, 64), bool)
    new[5:9, 3:60] = True
    stack.push(SkyMaskCommand(host, iid, None, new, "Add sky polygon"))
    assert np.array_equal(host.project.sky_mask(iid), new)
    check_undo_redo(host, stack, before)
    stack.undo()
    assert host.project.sky_mask(iid) is None


def test_accept_proposed_sky_consumes_the_proposal(host):
    iid, stack = image_id(host), QUndoStack()
    proposal = np.zeros((48, 64), bool)
    proposal[:30] = True
    host.project.replace_proposals(iid, [], proposal)
    before = state(host)
    stack.push(AcceptSkyCommand(host, iid, host.project.sky_mask(iid), proposal))
    assert np.array_equal(host.project.sky_mask(iid), proposal)
    assert host.project.sky_mask(iid, TargetState.PROPOSAL) is None
    check_undo_redo(host, stack, before)


def test_image_fields_and_note_merging(host):
    iid, stack, before = image_id(host), QUndoStack(), state(host)
    stack.push(SetImageFieldCommand(host, iid, "note", "", "cl"))
    stack.push(SetImageFieldCommand(host, iid, "note", "cl", "cloud edge"))
    assert stack.count() == 1 and host.project.get_image(iid).note == "cloud edge"
    stack.push(SetImageFieldCommand(host, iid, "split", Split.UNASSIGNED, Split.VAL))
    stack.push(SetImageFieldCommand(host, iid, "status", ReviewStatus.REVIEWED, ReviewStatus.NEW))
    assert stack.count() == 3
    info = host.project.get_image(iid)
    assert (info.split, info.status) == (Split.VAL, ReviewStatus.NEW)
    for _ in range(3):
        stack.undo()
    assert state(host) == before
    with pytest.raises(ValueError, match="unknown image field"):
        SetImageFieldCommand(host, iid, "colour", "a", "b")


def test_mask_png_round_trip_and_resize_clip():
    rng = np.random.default_rng(1)
    mask = rng.random((37, 53)) > 0.5
    assert np.array_equal(decode_mask(encode_mask(mask)), mask)
    assert decode_mask(encode_mask(None)) is None
    m = TargetMask(10, 10, np.ones((4, 4), bool))
    clipped = clip_mask(m, (11, 10, 13, 14))
    assert (clipped.x0, clipped.y0, clipped.pixels.shape) == (11, 10, (4, 2))
    assert clip_mask(m, (20, 20, 22, 22)) is None
    t = Target(point=(11, 11), box=(10, 10, 14, 14), mask=m)
    grown = moved_target(t, None, (10, 10, 16, 14))
    assert grown.point == (11, 11) and grown.mask.pixels.shape == (4, 4)
