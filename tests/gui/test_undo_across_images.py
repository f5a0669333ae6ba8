"""Issue 10's defect through the window with real clicks and keys: undo / redo on image A never
reaches image B, also after a pre-annotation run (its result is an undo step of its own image)."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt

from core.store.project import Project
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


def test_preannotating_the_open_image_reuses_its_pixels_and_is_one_undo_step(
    main_window, qtbot, app_project_dir, monkeypatch
):
    """One decode per visit: the worker gets the document's pixels, not a second file read; its
    result comes back as an edit (no database re-read on the GUI thread) and undoes as one step."""
    from app import preannotate_panel
    from tests.gui.test_preannotate_support import FakePredictor

    w = main_window
    seen: list = []

    class Recording(FakePredictor):
        def prepare(self, image):
            seen.append(image)
            return super().prepare(image)

    panel_ctl = preannotate_panel.PreannotateController(w, lambda _weights: Recording())
    image_id = w.current_image_id
    before = snapshot(app_project_dir)
    reads: list[int] = []  # by the run (the list's thumbnail thread reads files of its own)
    real = w.project.load_pixels

    def load_pixels(i):
        if threading.current_thread().name.startswith("preannotate"):
            reads.append(i)
        return real(i)

    monkeypatch.setattr(w.project, "load_pixels", load_pixels)
    with qtbot.waitSignal(panel_ctl.run_ended, timeout=30_000):
        assert panel_ctl.start([image_id])
    assert seen and seen[0] is w.current_pixels  # the very array the canvas shows
    assert reads == []  # no second decode of the open image
    assert w.undo_stacks.stack(image_id).count() == 1
    assert w.list_model.info(image_id).n_proposals == len(w.project.targets(image_id, "proposal"))
    w.undo_stacks.stack(image_id).undo()
    assert snapshot(app_project_dir) == before
    panel_ctl.shutdown()
