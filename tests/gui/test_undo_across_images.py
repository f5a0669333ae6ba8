"""Issue 10's defect through the window with real clicks and keys: undo / redo on image A never
reaches image B, also after a pre-annotation run (its result is an undo step of its own image)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from core.project import Project
from tests.gui.test_app_edit_undo import Driver, free_spot, snapshot

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def targets_of(root, image_id: int) -> list:
    with Project.open(root) as p:
        return [(t.id, t.point, t.box) for t in p.targets(image_id)]


def add_by_click(w, d: Driver, image_id: int) -> int:
    info = w.project.get_image(image_id)
    x, y = free_spot((info.height, info.width), [t.box for t in w.project.targets(image_id)])
    d.look_at(x, y)
    before = {t.id for t in w.project.targets(image_id)}
    d.click(x, y)
    (new,) = {t.id for t in w.project.targets(image_id)} - before
    w.canvas.select([new])
    return new


def test_redo_on_a_never_moves_b(main_window, qtbot, app_project_dir):
    w = main_window
    d = Driver(qtbot, w)
    a, b = (i.id for i in w.project.list_images()[:2])
    w.goto_image(a)
    # 1. On A: add a target (click) and nudge it (arrow key); undo both (Ctrl+Z twice).
    added = add_by_click(w, d, a)
    d.key(Qt.Key.Key_Right)
    moved_on_a = targets_of(app_project_dir, a)
    d.key(Qt.Key.Key_Z, CTRL)
    d.key(Qt.Key.Key_Z, CTRL)
    assert added not in {t[0] for t in targets_of(app_project_dir, a)}
    # 2. On B: add a target; it must get a fresh id.
    w.goto_image(b)
    on_b = add_by_click(w, d, b)
    assert on_b != added
    b_after_add = targets_of(app_project_dir, b)
    everything = snapshot(app_project_dir)
    # 3. Back on A: redo twice (Ctrl+Shift+Z). A's target is back, moved; B is untouched.
    w.goto_image(a)
    d.key(Qt.Key.Key_Z, CTRL | SHIFT)
    d.key(Qt.Key.Key_Z, CTRL | SHIFT)
    assert targets_of(app_project_dir, a) == moved_on_a
    assert targets_of(app_project_dir, b) == b_after_add
    others = [row for row in snapshot(app_project_dir) if row[0] != a]
    assert others == [row for row in everything if row[0] != a]
    # What the canvas shows is what the database holds.
    assert sorted(w.canvas.visible_ids()) == sorted(t[0] for t in targets_of(app_project_dir, a))
