"""Issue 11 item 7 (GUI): a read-only project opens, says so in the title and refuses edits with
a message instead of failing."""

from __future__ import annotations

from core.store.project import Project


def test_read_only_project_title_and_refused_edit(main_window, app_project_dir, qtbot):
    w = main_window
    w.set_project(Project.open(app_project_dir, read_only=True))
    assert w.windowTitle().startswith(f"{app_project_dir.name} (read-only)")
    image_id = w.project.list_images()[0].id
    w.goto_image(image_id)
    before = len(w.project.targets(image_id))
    w.canvas.add_target_requested.emit(10.0, 10.0)
    qtbot.wait(50)
    assert len(w.project.targets(image_id)) == before
    assert "read-only" in w.statusBar().currentMessage()
    assert w.undo_stacks.stack(image_id).count() == 0
