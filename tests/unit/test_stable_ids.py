"""Issue 10's defect at the project level: undo / redo of one image never reaches another.

Undo and redo replay stored values (core.edits), the way the undo commands do: redo of an add
restores the target with the id it got; redo of a nudge rewrites that id. With reused rowids
the freed id went to image B's new target, and A's redo moved B's target.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.domain import Target, TargetState
from core.edits import AnnotationEdit, TargetChange
from core.errors import ProjectError
from core.store.project import Project
from tests._support.labels import (
    add_target,
    delete_targets,
    replace_proposals,
    restore_targets,
)
from tests.unit.test_project import new


@pytest.fixture
def two_images(project_target):
    with Project.create(project_target) as p:  # both back-ends (ADR 0008)
        a, b = (i.id for i in p.add_images([new("A"), new("B")]))
        yield p, a, b


def test_redo_on_image_a_never_moves_image_b_target(two_images) -> None:
    p, a, b = two_images
    # 1. On A: add a target and nudge it (the edits the commands record).
    add = p.apply_edit(AnnotationEdit(a, "add", (TargetChange(None, Target(point=(5, 5))),)))
    added = add.targets[0].after
    nudged = replace(added, point=(6.0, 5.0))
    nudge = p.apply_edit(AnnotationEdit(a, "nudge", (TargetChange(added, nudged),)))
    # ... undo both: the target is deleted, its id freed.
    p.apply_edit(nudge.inverse())
    p.apply_edit(add.inverse())
    assert p.targets(a) == []
    # 2. On B: add a target. It must not take the freed id.
    on_b = add_target(p, b, Target(point=(20, 20)))
    assert on_b.id != added.id
    # 3. Back on A: redo twice. A's target moves; B's does not.
    p.apply_edit(add)
    p.apply_edit(nudge)
    assert p.targets(a) == [nudged]
    assert p.targets(b) == [on_b]


def test_every_write_refuses_a_target_of_another_image(two_images) -> None:
    p, a, b = two_images
    on_b = add_target(p, b, Target(point=(20, 20)))
    moved = replace(on_b, point=(1.0, 1.0))
    for write in (
        lambda: p.apply_edit(AnnotationEdit(a, "x", (TargetChange(moved, moved),)), verify=False),
        lambda: p.apply_edit(AnnotationEdit(a, "x", (TargetChange(on_b, None),)), verify=False),
        lambda: p.apply_edit(AnnotationEdit(a, "x", (
            TargetChange(on_b, replace(on_b, state=TargetState.PROPOSAL)),))),  # fmt: skip
        lambda: p.apply_edit(AnnotationEdit(a, "x", (TargetChange(on_b, moved),))),
        lambda: p.apply_edit(AnnotationEdit(a, "x", (TargetChange(on_b, None),))),
    ):
        with pytest.raises(ProjectError, match=f"belongs to image {b}, not to image {a}"):
            write()
    assert p.targets(b) == [on_b] and p.targets(a) == []


def test_a_refused_edit_changes_nothing(two_images) -> None:
    p, a, b = two_images
    mine = add_target(p, a, Target(point=(2, 2)))
    theirs = add_target(p, b, Target(point=(20, 20)))
    edit = AnnotationEdit(a, "both", (
        TargetChange(mine, replace(mine, point=(3.0, 3.0))),
        TargetChange(theirs, None),  # not A's: the whole edit is refused
    ))  # fmt: skip
    with pytest.raises(ProjectError):
        p.apply_edit(edit)
    assert p.targets(a) == [mine] and p.targets(b) == [theirs]


def test_undo_of_a_delete_restores_the_same_ids_after_other_images_added(two_images) -> None:
    p, a, b = two_images
    t = add_target(p, a, Target(point=(2, 2)))
    deleted = delete_targets(p, a, [t.id])
    for k in range(3):  # other images' inserts meanwhile (a pre-annotation run, say)
        add_target(p, b, Target(point=(10 + k, 10)))
    restore_targets(p, a, deleted)  # used to fail: "cannot restore target id"
    assert p.targets(a) == [t]


def test_pre_annotation_proposals_never_take_a_freed_id(two_images) -> None:
    p, a, b = two_images
    t = add_target(p, a, Target(point=(2, 2)))
    delete_targets(p, a, [t.id])
    stored = replace_proposals(p, b, [Target(point=(4, 4), score=0.5)], None)
    assert stored[0].id > t.id
