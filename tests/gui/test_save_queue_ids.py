"""Provisional target ids of unsaved adds (app/save_queue.py, ADR 0022): what the worker writes
for an edit made on top of an add whose save had not landed yet (hand-derived cases)."""

from __future__ import annotations

import pytest

from app.save_queue import _translate
from core.domain import Target
from core.edits import AnnotationEdit, TargetChange
from core.errors import ProjectError


def t(tid: int | None, x: float = 1.0) -> Target:
    return Target(point=(x, 2.0), id=tid)


def test_an_add_not_landed_is_written_as_new_and_its_index_remembered() -> None:
    edit = AnnotationEdit(7, "Add", (TargetChange(None, t(-3)), TargetChange(t(5), t(5, 9.0))))
    written, fresh = _translate(edit, {}, for_writing=True)
    assert written.targets[0].after.id is None  # the database gives it its id
    assert written.targets[1] == edit.targets[1]  # a stored target is left alone
    assert fresh == {0: -3}


def test_edits_on_top_of_a_landed_add_use_its_real_id() -> None:
    nudge = AnnotationEdit(7, "Nudge", (TargetChange(t(-3), t(-3, 4.0)),))
    written, fresh = _translate(nudge, {-3: 41}, for_writing=True)
    assert written.targets[0] == TargetChange(t(41), t(41, 4.0)) and fresh == {}
    redo_add = AnnotationEdit(7, "redo Add", (TargetChange(None, t(-3)),))
    assert _translate(redo_add, {-3: 41}, for_writing=True)[0].targets[0].after.id == 41  # restore


def test_an_edit_on_a_target_whose_add_was_refused_is_refused() -> None:
    nudge = AnnotationEdit(7, "Nudge", (TargetChange(t(-3), t(-3, 4.0)),))
    with pytest.raises(ProjectError, match="whose own save was refused"):
        _translate(nudge, {}, for_writing=True)
    assert _translate(nudge, {})[0] is nudge  # for display: unknown ids stay provisional
