"""Issue 19, point 6: the smaller rough edges, each against the database, the files or the widgets."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from core.domain import Target, TargetState
from tests._support.sqlite_rows import project_rows

pytestmark = pytest.mark.timeout(120)


def _log(root: Path, image_id: int) -> list[str]:
    """The image's edit log as stored in project.sqlite (plain sqlite3, not the app's code)."""
    return [r[0] for r in project_rows(root, "SELECT action FROM edit_log WHERE image_id = ? ORDER BY id",
                                       image_id)]  # fmt: skip


def _box(root: Path, target_id: int) -> tuple[float, float, float, float]:
    (box,) = project_rows(root, "SELECT x0, y0, x1, y1 FROM targets WHERE id = ?", target_id)
    return tuple(box)


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


def test_the_list_filter_is_reset_when_another_project_opens(main_window, app_project_dir, tmp_path):
    import shutil

    from core.domain import ReviewStatus

    w = main_window
    all_ids = w.list_model.ids()
    w.image_list.set_filters("no image is called this")
    assert w.image_list.visible_ids() == []
    other = tmp_path / "other"
    shutil.copytree(app_project_dir, other, ignore=shutil.ignore_patterns(".cache"))  # thumbnails being written
    assert w.open_project(other)
    assert w.image_list.search.text() == ""
    assert w.image_list.visible_ids() == w.list_model.ids() and len(all_ids) > 1
    assert w.current_image_id in w.image_list.visible_ids()  # the canvas shows a listed image
    w.image_list.set_filters(status=ReviewStatus.REVIEWED.value)
    w.close_project()
    assert w.image_list.status_filter.currentData() is None


def test_the_loupe_keeps_clear_of_the_cursor_the_hint_and_the_readout(main_window, qtbot):
    w = main_window
    canvas = w.canvas
    canvas.set_loupe_visible(True)
    view = canvas.view.viewport()
    h, wd = canvas.image().shape[:2]
    for fx, fy in ((0.97, 0.03), (0.03, 0.03), (0.03, 0.97), (0.97, 0.97), (0.5, 0.5)):
        pos = canvas.image_to_widget(fx * wd, fy * h)
        qtbot.mouseMove(view, pos)
        qtbot.waitUntil(canvas.loupe.isVisible, timeout=3000)
        loupe = canvas.loupe.geometry()
        assert not loupe.contains(pos), (fx, fy, loupe, pos)
        assert not loupe.intersects(canvas.hint.geometry()), (fx, fy)
        assert not loupe.intersects(canvas.status.geometry()), (fx, fy)
        if fy < 0.5:  # looking at the upper half: its corners stay uncovered
            assert not loupe.contains(canvas.image_to_widget(wd - 1, 0))
            assert not loupe.contains(canvas.image_to_widget(0, 0))


def test_readouts_are_cleared_on_image_switch_and_project_close(main_window, qtbot):
    w = main_window
    qtbot.mouseMove(w.canvas.view.viewport(), w.canvas.image_to_widget(3.5, 3.5))
    qtbot.waitUntil(lambda: w.cursor_label.text() != "", timeout=3000)
    w.controller.add_target(5.5, 5.5)
    assert w.saved_label.text().startswith("saved ")
    w.step_image(1)
    assert (w.cursor_label.text(), w.saved_label.text()) == ("", "")
    w.controller.add_target(6.5, 6.5)
    assert w.saved_label.text().startswith("saved ")
    w.close_project()
    assert (w.cursor_label.text(), w.saved_label.text()) == ("", "")


def test_export_starts_beside_the_project_then_where_this_project_exported(
    main_window, app_project_dir, tmp_path, monkeypatch
):
    import app.project_actions as project_actions
    from app.export_dialog import ExportDialog

    shown: list[str] = []
    chosen = tmp_path / "my exports"

    def fake_exec(dialog) -> int:
        shown.append(dialog.out_edit.text())
        dialog.out_edit.setText(str(chosen))
        return 0

    monkeypatch.setattr(ExportDialog, "exec", fake_exec)
    project_actions.export_dialog(main_window)
    project_actions.export_dialog(main_window)
    assert shown == [str(app_project_dir / "exports"), str(chosen)]
    assert not str(Path.home()) == shown[0]


def test_controls_needing_a_project_are_grey_without_one(qtbot, app_project_dir):
    from PySide6.QtWidgets import QDockWidget

    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings

    create_application(exception_hook=False)
    w = MainWindow(AppSettings())
    qtbot.addWidget(w)
    w.show()
    dock = w.findChild(QDockWidget, "PreannotateDock")

    def enabled() -> list[bool]:
        ids = ("export", "accept_above", "mode_edit", "preannotate_current")
        return [w.actions_by_id[a].isEnabled() for a in ids] + [dock.widget().isEnabled()]

    assert enabled() == [False] * 5
    assert w.actions_by_id["open_project"].isEnabled()
    assert w.open_project(app_project_dir)
    assert enabled() == [True] * 5
    w.close_project()
    assert enabled() == [False] * 5
    assert w.findChild(QDockWidget, "TrainingDock").widget().isEnabled()  # Stop stays usable
    w.close()


def test_an_edit_conflict_is_a_status_message_not_an_error_dialog(main_window, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from app.application import show_exception
    from core.errors import EditConflict

    dialogs: list[str] = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: dialogs.append(box.text()))
    exc = EditConflict(1, "img.png", "you had version 3, it is now 4", "ann")
    show_exception(EditConflict, exc, None)
    assert dialogs == []
    assert "changed by ann meanwhile" in main_window.statusBar().currentMessage()
    show_exception(ValueError, ValueError("a real bug"), None)  # still a dialog
    assert len(dialogs) == 1


def test_the_window_title_names_the_app_once(main_window, app_project_dir):
    from PySide6.QtGui import QGuiApplication

    name = QGuiApplication.applicationDisplayName()
    title = main_window.windowTitle()
    # Qt appends the display name to a title that does not end with it (QPlatformWindow).
    shown = title if title.endswith(name) else f"{title} — {name}"
    assert shown == f"{app_project_dir.name} — SIRST Studio"
    main_window.close_project()
    assert main_window.windowTitle() == "SIRST Studio"
