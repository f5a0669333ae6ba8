"""Issue 19, point 6: the smaller rough edges, each against the database, the files or the widgets."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from core.types import Target, TargetState

pytestmark = pytest.mark.timeout(120)


def _log(root: Path, image_id: int) -> list[str]:
    """The image's edit log as stored in project.sqlite (plain sqlite3, not the app's code)."""
    con = sqlite3.connect(f"file:{root / 'project.sqlite'}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT action FROM edit_log WHERE image_id = ? ORDER BY id", (image_id,))
        return [r[0] for r in rows]
    finally:
        con.close()


def _box(root: Path, target_id: int) -> tuple[float, float, float, float]:
    con = sqlite3.connect(f"file:{root / 'project.sqlite'}?mode=ro", uri=True)
    try:
        return tuple(con.execute("SELECT x0, y0, x1, y1 FROM targets WHERE id = ?",
                                 (target_id,)).fetchone())  # fmt: skip
    finally:
        con.close()


def test_the_edit_log_says_undo_and_redo(main_window, app_project_dir):
    w = main_window
    image_id = w.current_image_id
    before = len(_log(app_project_dir, image_id))
    w.controller.add_target(5.5, 5.5)
    stack = w.undo_stacks.stack(image_id)
    text = stack.command(stack.index() - 1).text()
    stack.undo()
    stack.redo()
    assert _log(app_project_dir, image_id)[before:] == [text, f"undo {text}", f"redo {text}"]


def _accepted_target(w) -> Target:
    doc = w.document
    targets = [t for t in doc.targets if t.state == TargetState.ACCEPTED and t.box is not None]
    assert targets, "the demo image needs an accepted target with a box"
    return targets[0]


def test_nudges_and_resizes_are_separate_undo_steps(main_window, app_project_dir):
    w = main_window
    target = _accepted_target(w)
    w.canvas.select([target.id])
    view = w.canvas.view.viewport()
    view.setFocus()
    stack = w.undo_stacks.stack(w.current_image_id)
    start = stack.index()
    shift = Qt.KeyboardModifier.ShiftModifier
    for key, mod in ((Qt.Key.Key_Right, None), (Qt.Key.Key_Right, None), (Qt.Key.Key_Down, shift),
                     (Qt.Key.Key_Down, shift), (Qt.Key.Key_Left, None)):  # fmt: skip
        QTest.keyClick(view, key, mod or Qt.KeyboardModifier.NoModifier)
    x0, y0, x1, y1 = target.box
    assert _box(app_project_dir, target.id) == pytest.approx((x0 + 1, y0, x1 + 1, y1 + 2))
    assert stack.index() - start == 3  # moves, resizes, moves
    stack.undo()  # the last move
    assert _box(app_project_dir, target.id) == pytest.approx((x0 + 2, y0, x1 + 2, y1 + 2))
    stack.undo()  # both resizes
    assert _box(app_project_dir, target.id) == pytest.approx((x0 + 2, y0, x1 + 2, y1))
    stack.undo()  # both moves
    assert _box(app_project_dir, target.id) == pytest.approx(target.box)
