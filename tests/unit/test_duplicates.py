"""Accepting never duplicates: the rule (hand-derived cases), accept edits of the document and
pre-annotation storage, checked against project.sqlite read with plain sqlite3."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.document import AnnotationDocument
from core.domain import ImageAnnotation, Source, Target, TargetState
from core.duplicates import is_duplicate, split_duplicates
from core.store.project import Project
from tests._support.labels import add_target
from tests._support.sqlite_rows import project_rows
from tests.unit.test_project import new

PROP = TargetState.PROPOSAL


def box(x0, y0, x1, y1, score=None, state=TargetState.ACCEPTED) -> Target:
    src = Source.MODEL if state == PROP else Source.MANUAL
    return Target(box=(x0, y0, x1, y1), score=score, state=state, source=src)


def test_the_issue_example_is_a_duplicate():
    # issue 19: model 267.2,408.2-271.2,412.1 over manual 267,408-271,413 (centres 0.40 px apart)
    assert is_duplicate(box(267.2, 408.2, 271.2, 412.1), box(267, 408, 271, 413))


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ((10, 10, 11, 11), (12, 10, 13, 11), False),  # 1-px targets, one dark pixel between: 2 px
        ((10, 10, 11, 11), (11.9, 10, 12.9, 11), True),  # centres 1.9 px apart
        ((0, 0, 8, 8), (3, 0, 11, 8), True),  # 8x8 boxes 3 px apart: centres 3 px, IoU 40/88
        ((0, 0, 8, 8), (6, 0, 14, 8), False),  # 6 px apart: IoU 16/112 = 0.14
        ((0, 0, 10, 10), (0, 4.5, 10, 14.5), True),  # IoU 55/145 = 0.38 (centres 4.5 px apart)
        ((0, 0, 10, 10), (0, 5.5, 10, 15.5), False),  # IoU 45/155 = 0.29
    ],
)
def test_centre_and_iou_bounds(a, b, same):
    assert is_duplicate(box(*a), box(*b)) is same
    assert is_duplicate(box(*b), box(*a)) is same


def test_point_only_targets_use_the_pixel_centre():
    assert is_duplicate(Target(point=(5, 5)), box(5, 5, 6, 6))  # same pixel
    assert is_duplicate(Target(point=(5, 5)), Target(point=(6, 6)))  # 1.41 px
    assert not is_duplicate(Target(point=(5, 5)), Target(point=(7, 5)))  # 2 px


def test_split_keeps_the_higher_score_of_two_proposals_on_one_object():
    low, high, other = (box(10, 10, 13, 13, 0.6, PROP), box(10.5, 10, 13.5, 13, 0.9, PROP),
                        box(30, 30, 33, 33, 0.7, PROP))  # fmt: skip
    kept, dropped = split_duplicates([low, high, other], [])
    assert kept == [high, other] and dropped == [low]
    kept, dropped = split_duplicates([low, high, other], [], among_themselves=False)
    assert kept == [low, high, other] and dropped == []


H, W = 30, 40


@pytest.fixture
def project(tmp_path: Path):
    labels = ImageAnnotation(targets=[box(10, 10, 13, 13), box(20, 5, 23, 8)])
    p = Project.create(tmp_path / "p")
    p.add_images([new("img", annotation=labels)])
    yield p
    p.close()


def db_targets(root: Path) -> list[tuple]:
    return project_rows(root, "SELECT x0, y0, x1, y1, state, source FROM targets ORDER BY state, x0, y0")


def test_preannotating_an_image_with_accepted_targets_stores_only_new_proposals(project):
    image_id = project.list_images()[0].id
    proposals = [box(10.2, 10.1, 13.2, 13.3, 0.95, PROP),  # on the first accepted target
                 box(21, 5, 24, 8, 0.9, PROP),  # 1 px off the second: centres 1 px apart
                 box(30, 20, 33, 23, 0.5, PROP)]  # new  # fmt: skip
    edit = project.propose(image_id, proposals, None)
    assert [c.after.box for c in edit.targets if c.after is not None] == [(30, 20, 33, 23)]
    assert db_targets(project.root) == [
        (10.0, 10.0, 13.0, 13.0, "accepted", "manual"),
        (20.0, 5.0, 23.0, 8.0, "accepted", "manual"),
        (30.0, 20.0, 33.0, 23.0, "proposal", "model"),
    ]


def test_accept_edit_rejects_duplicates_in_one_step(project):
    image_id = project.list_images()[0].id
    for t in (box(10.5, 10.5, 13.5, 13.5, 0.9, PROP), box(30, 20, 33, 23, 0.8, PROP),
              box(30.5, 20, 33.5, 23, 0.7, PROP)):
        add_target(project, image_id, t)
    doc = AnnotationDocument(project)
    doc.load(image_id)
    ids = [t.id for t in doc.targets if t.state == PROP]
    edit = doc.accept_edit(ids, " with score >= 0.50")
    assert edit.text == "Accept 1 proposal with score >= 0.50, reject 2 duplicates"
    done = doc.apply(edit)
    assert db_targets(project.root) == [
        (10.0, 10.0, 13.0, 13.0, "accepted", "manual"),
        (20.0, 5.0, 23.0, 8.0, "accepted", "manual"),
        (30.0, 20.0, 33.0, 23.0, "accepted", "model"),
    ]
    doc.apply(done.inverse())  # one undo step brings all three proposals back
    assert [r[4] for r in db_targets(project.root)].count("proposal") == 3
