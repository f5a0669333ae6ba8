"""The app shell on the demo project: title, list, keyboard navigation, filters, review flow,
shortcut table vs menus, settings, errors shown instead of crashes."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMessageBox

from app.application import error_text
from app.settings import AppSettings
from app.shortcuts import SHORTCUTS, CheatSheetDialog, key_text
from core.domain import ReviewStatus
from core.errors import ProjectError
from core.store.project import Project
from tests._support.labels import set_status


def key(qtbot, window, k, modifier=Qt.KeyboardModifier.NoModifier):
    """A real key press on the canvas viewport (where the user's focus is while annotating)."""
    viewport = window.canvas.view.viewport()
    viewport.setFocus()
    qtbot.keyClick(viewport, k, modifier)


def test_title_list_and_first_image(main_window, app_project_dir):
    w = main_window
    assert w.windowTitle() == f"{app_project_dir.name} — SIRST Studio"
    with Project.open(app_project_dir) as p:
        infos = p.list_images()
    assert w.list_model.ids() == [i.id for i in infos]
    assert w.current_image_id == infos[0].id
    assert w.editor.currentWidget() is w.canvas
    assert w.canvas.image is not None or w.current_pixels is not None


def test_keyboard_next_previous_and_next_unreviewed(main_window, qtbot):
    w = main_window
    ids = w.list_model.ids()
    key(qtbot, w, Qt.Key.Key_D)
    assert w.current_image_id == ids[1]
    key(qtbot, w, Qt.Key.Key_PageDown)
    assert w.current_image_id == ids[2]
    key(qtbot, w, Qt.Key.Key_S)
    assert w.current_image_id == ids[1]
    for image_id in ids:
        set_status(w.project, image_id, ReviewStatus.REVIEWED)
    set_status(w.project, ids[4], ReviewStatus.NEW)
    w.reload_images()
    key(qtbot, w, Qt.Key.Key_N)
    assert w.current_image_id == ids[4]
    # Ctrl+Enter: mark reviewed (saved at once) and go on; nothing unreviewed is left.
    key(qtbot, w, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert w.project.get_image(ids[4]).status == ReviewStatus.REVIEWED
    assert "reviewed" in w.statusBar().currentMessage()
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert w.project.get_image(ids[4]).status == ReviewStatus.NEW


def test_filters_and_search(main_window, qtbot):
    w = main_window
    ids = w.list_model.ids()
    set_status(w.project, ids[0], ReviewStatus.NEW)
    set_status(w.project, ids[1], ReviewStatus.PRE_ANNOTATED)
    w.reload_images()
    w.image_list.set_filters(status=ReviewStatus.PRE_ANNOTATED.value)
    expected = [i.id for i in w.project.list_images(status=ReviewStatus.PRE_ANNOTATED)]
    assert w.image_list.visible_ids() == expected
    name = w.list_model.info(ids[2]).name
    w.image_list.set_filters()
    w.image_list.focus_search()
    qtbot.keyClicks(w.image_list.search, name.upper())
    assert ids[2] in w.image_list.visible_ids()
    assert all(
        name.lower() in w.list_model.info(i).name.lower() for i in w.image_list.visible_ids()
    )
    assert w.image_list.count_label.text().endswith(f"of {len(ids)} images")


def test_shortcuts_menus_and_cheat_sheet_agree(main_window):
    w = main_window
    seen: dict[str, str] = {}
    for spec in SHORTCUTS:
        action = w.actions_by_id.get(spec.action_id)
        if action is None:  # a gesture on the canvas (drag, wheel...): cheat sheet only
            assert spec.on_canvas
            continue
        assert action.isEnabled() or spec.action_id in ("undo", "redo")  # nothing to undo yet
        if spec.on_canvas:
            assert action.shortcuts() == []  # the canvas owns these keys
            assert key_text(spec) in action.text()
            continue
        assert [s.toString() for s in action.shortcuts()] == [
            QKeySequence(k).toString() for k in spec.keys
        ]
        for seq in action.shortcuts():
            assert seq.toString() not in seen, f"{seq.toString()} bound twice"
            seen[seq.toString()] = spec.action_id
    rows = CheatSheetDialog(w).rows()
    assert len(rows) == len(SHORTCUTS)
    for spec in SHORTCUTS:
        assert (spec.category, spec.label.replace("&", ""), key_text(spec)) in rows


def test_settings_restore_last_project_and_image(qtbot, app_project_dir):
    from app.main_window import MainWindow

    w1 = MainWindow(AppSettings(), install_panels=False)
    qtbot.addWidget(w1)
    w1.show()
    assert w1.open_project(app_project_dir)
    third = w1.list_model.ids()[2]
    w1.goto_image(third)
    w1.set_score_threshold(0.7)
    w1.resize(700, 540)  # fits the offscreen screen (restoreGeometry clamps to it)
    w1.images_dock.hide()
    w1.close()
    settings = AppSettings()
    assert settings.last_project() == str(app_project_dir.absolute())
    assert settings.recent_projects()[0] == str(app_project_dir.absolute())
    w2 = MainWindow(AppSettings(), install_panels=False)
    qtbot.addWidget(w2)
    assert w2.score_threshold == pytest.approx(0.7)
    # Geometry and dock layout come back (the width is clamped to the 800 px offscreen screen).
    assert w2.height() == 540
    assert w2.images_dock.isHidden()
    assert (
        w2.welcome.recent_list.item(0).data(Qt.ItemDataRole.UserRole)
        == settings.recent_projects()[0]
    )
    w2.show()
    recent = w2.welcome.recent_list
    recent.setCurrentRow(0)
    recent.setFocus()
    qtbot.keyClick(recent, Qt.Key.Key_Return)  # open it from the welcome screen's recent list
    assert w2.project is not None and w2.project.root == app_project_dir.absolute()
    assert w2.current_image_id == third
    w2.close()


def test_missing_image_file_shows_message_not_crash(main_window, app_project_dir):
    w = main_window
    second = w.list_model.ids()[3]  # not a neighbour of the shown image: not prefetched
    path = w.project.resolve_path(w.project.get_image(second))
    shutil.move(path, path.with_suffix(".moved"))
    w.goto_image(second)
    assert w.current_image_id == second
    assert w.editor.currentWidget() is w.message_page
    assert path.name in w.message_page.text() or "Move the file back" in w.message_page.text()
    assert w.list_model.info(second).missing
    shutil.move(path.with_suffix(".moved"), path)
    w.goto_image(second)  # put back: shown again
    assert w.editor.currentWidget() is w.canvas


def test_unopenable_project_says_why(main_window, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box.text()) or 0)
    before = main_window.project.root
    assert not main_window.open_project(tmp_path / "nothing-here")
    assert shown and "not a SIRST Studio project" in shown[0]
    assert main_window.project.root == before  # the open project stays open


def test_error_text_is_actionable():
    headline, advice = error_text(ProjectError("the database is locked; close the other app"))
    assert "locked" in headline and "Nothing was changed" in advice
    headline, advice = error_text(ZeroDivisionError("x"))
    assert headline.startswith("Unexpected error: ZeroDivisionError") and "saved" in advice


def test_image_dock_split_and_note_are_saved_and_undoable(main_window, qtbot):
    w = main_window
    image_id = w.current_image_id
    before = w.project.get_image(image_id)
    combo = w.image_panel.split_combo
    combo.setFocus()
    at_end = combo.currentIndex() == combo.count() - 1
    qtbot.keyClick(combo, Qt.Key.Key_Up if at_end else Qt.Key.Key_Down)
    after = w.project.get_image(image_id)
    assert after.split != before.split and after.split.value == combo.currentData()
    qtbot.keyClicks(w.image_panel.note_edit, "faint cloud edge")
    qtbot.waitUntil(lambda: w.project.get_image(image_id).note == "faint cloud edge", timeout=3000)
    stack = w.undo_stacks.stack(image_id)
    assert stack.count() == 2  # the note's keystrokes are one step
    stack.undo()
    stack.undo()
    final = w.project.get_image(image_id)
    assert (final.split, final.note) == (before.split, before.note)


def test_gui_cli_refuses_a_non_folder(tmp_path, capsys):
    from app.cli import EXIT_USAGE, main

    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("x")
    assert main(["gui", str(not_a_folder)]) == EXIT_USAGE
    assert "is not a folder" in capsys.readouterr().err


def test_exception_hook_shows_a_dialog_with_details(qapp, monkeypatch):
    from app.application import show_exception

    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(
        (box.text(), box.detailedText())) or 0)  # fmt: skip
    try:
        raise ProjectError("project.sqlite is locked; close the other SIRST Studio window")
    except ProjectError as exc:
        show_exception(type(exc), exc, exc.__traceback__)
    assert shown and "locked" in shown[0][0] and "Traceback" in shown[0][1]
