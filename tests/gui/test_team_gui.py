"""Team project in the GUI against the real PostgreSQL server: File > Open server project...,
live refresh of the open image, a conflict shown to the second writer, claim / filter / next."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtWidgets import QDialog

from core.domain import ReviewStatus, Target
from core.errors import EditConflict
from core.machine import MachineSettings, os_user
from core.store.new_image import NewImage
from core.store.project import Project
from tests._support.labels import add_target
from tests._support.windows import team_window


@pytest.fixture
def server_project(pg_url, tmp_path: Path) -> str:
    paths = []
    for k in range(3):
        p = tmp_path / f"f{k}.png"
        cv2.imwrite(str(p), np.full((24, 32), 40 * k, np.uint8))
        paths.append(p)
    with Project.create(pg_url) as p:
        p.add_images([NewImage(path, status=ReviewStatus.NEW) for path in paths])
        p.add_images([NewImage(tmp_path / "share" / "gone.png", header=_header(), sha256="x")])
    return pg_url


def _header():
    from types import SimpleNamespace

    return SimpleNamespace(width=32, height=24, bit_depth=8, channels=1)


@pytest.fixture
def window(qtbot):
    yield from team_window(qtbot)


def _open_through_the_menu(window, url, monkeypatch) -> None:
    from app.team_panel import ServerProjectDialog

    def answer(dialog):
        assert not dialog.open_button.isEnabled()  # nothing typed yet: Open is off
        dialog.url_edit.setText(url)
        assert dialog.open_button.isEnabled()
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(ServerProjectDialog, "exec", answer)
    action = window.actions_by_id["open_server_project"]
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.menu() and action in a.menu().actions())
    assert window.actions_by_id["open_project"] in file_menu.actions()  # it sits in File
    action.trigger()


def test_open_server_project_live_refresh_and_conflict(window, server_project, qtbot, monkeypatch):
    _open_through_the_menu(window, server_project, monkeypatch)
    assert window.project is not None and window.project.is_server
    assert server_project.rsplit("/", 1)[1] in window.windowTitle()
    assert len(window.list_model.ids()) == 4
    iid = window.current_image_id
    assert iid is not None and window.document.targets == []
    panel = window.team_panel
    # files are checked in the background; the dock names the unmapped folder once they are
    qtbot.waitUntil(lambda: "share" in panel.unmapped_label.text(), timeout=10_000)
    assert "gone.png" not in panel.unmapped_label.text()

    # Live: bob (another machine) adds a target to the open image; it shows here within 2 s.
    with Project.open(server_project, machine=MachineSettings("bob")) as bob:
        add_target(bob, iid, Target(point=(5, 6), box=(4, 5, 7, 8)))
        qtbot.waitUntil(lambda: len(window.document.targets) == 1, timeout=2000)
        assert "bob changed this image" in window.statusBar().currentMessage()
        assert window.list_model.info(iid).n_targets == 1

        # Conflict: bob moves it while this window does not know yet (live refresh paused).
        panel.live.timer.stop()
        t = bob.targets(iid)[0]
        from dataclasses import replace

        bob.apply_edit(_move(t, iid))
        reported = []
        monkeypatch.setattr("app.commands._report", reported.append)
        doc = window.document
        window.apply_edit(doc.edit_targets_edit([replace(doc.targets[0], point=(1.0, 1.0))], "Move"))
        assert isinstance(reported[0][1], EditConflict) and "bob" in str(reported[0][1])
        assert window.document.targets[0].point == (9.0, 9.0)  # the window shows bob's move
        assert bob.targets(iid)[0].point == (9.0, 9.0)  # and nothing of ours overwrote it
        panel.live.timer.start()


def _move(t, iid):
    from dataclasses import replace

    from core.edits import AnnotationEdit, TargetChange

    return AnnotationEdit(iid, "Move", (TargetChange(t, replace(t, point=(9.0, 9.0))),))


def test_claim_filter_and_next_unreviewed_skip_others(window, server_project, qtbot, monkeypatch):
    _open_through_the_menu(window, server_project, monkeypatch)
    ids = window.list_model.ids()
    panel = window.team_panel
    window.goto_image(ids[0])
    window.actions_by_id["claim_image"].trigger()
    assert window.project.get_image(ids[0]).assignee == os_user()
    with Project.open(server_project, machine=MachineSettings("bob")) as bob:
        bob.claim(ids[1])
    qtbot.waitUntil(lambda: window.list_model.info(ids[1]).assignee == "bob", timeout=2000)
    window.next_unreviewed()
    assert window.current_image_id == ids[2]  # ids[1] is bob's: skipped
    panel._fill_filter(window.project.annotators())
    panel.set_filter("bob")
    assert window.image_list.visible_ids() == [ids[1]]
    from app.team_panel import MINE, NOBODY

    panel.set_filter(MINE)
    assert window.image_list.visible_ids() == [ids[0]]
    panel.set_filter(NOBODY)
    assert window.image_list.visible_ids() == ids[2:]
    window.goto_image(ids[1])
    reported = []
    monkeypatch.setattr("app.team_panel.show_error", lambda *a: reported.append(a[2]))
    window.actions_by_id["claim_image"].trigger()
    assert "held by bob" in reported[0]


def test_own_claim_is_not_news_and_the_team_dock_follows_live_changes(window, server_project, qtbot, monkeypatch):
    _open_through_the_menu(window, server_project, monkeypatch)
    iid, panel = window.current_image_id, window.team_panel
    window.statusBar().clearMessage()
    panel.claim_current()
    qtbot.wait(1200)  # two live-refresh ticks hear our own claim
    assert "changed this image" not in window.statusBar().currentMessage()
    assert f"held by {window.project.user}" in panel.holder_label.text()
    with Project.open(server_project, machine=MachineSettings("bob")) as bob:
        add_target(bob, iid, Target(point=(5, 6), box=(4, 5, 7, 8)))
    qtbot.waitUntil(lambda: "last change by bob" in panel.holder_label.text(), timeout=3000)
    assert "bob changed this image" in window.statusBar().currentMessage()


def test_live_refresh_reconnects_after_losing_the_server(window, server_project, qtbot, monkeypatch):
    _open_through_the_menu(window, server_project, monkeypatch)
    live, iid = window.team_panel.live, window.current_image_id
    live.listener._conn.close()  # what a server restart does to the listening connection
    qtbot.waitUntil(lambda: "reconnecting" in window.statusBar().currentMessage(), timeout=3000)
    with Project.open(server_project, machine=MachineSettings("bob")) as bob:
        add_target(bob, iid, Target(point=(5, 6), box=(4, 5, 7, 8)))  # made while not listening
    qtbot.waitUntil(lambda: len(window.document.targets) == 1, timeout=5000)
    assert live.timer.isActive() and live.timer.interval() == 500


def test_editing_an_image_someone_else_holds_asks_first(window, server_project, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    _open_through_the_menu(window, server_project, monkeypatch)
    iid = window.current_image_id
    with Project.open(server_project, machine=MachineSettings("bob")) as bob:
        bob.claim(iid)
    qtbot.waitUntil(lambda: window.list_model.info(iid).assignee == "bob", timeout=3000)
    asked = []

    def answer(button):
        def question(_parent, _title, text, *_args):
            asked.append(text)
            return button

        return question

    edit = window.document.add_target_edit(Target(point=(5, 6), box=(4, 5, 7, 8)), "Add target")
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    window.apply_edit(edit)
    assert "held by bob" in asked[0]
    with Project.open(server_project, machine=MachineSettings("carol")) as carol:
        assert carol.targets(iid) == []  # declined: nothing written
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    window.apply_edit(edit)
    window.apply_edit(window.document.add_target_edit(Target(point=(15, 6)), "Add target"))
    assert len(asked) == 2  # asked once more, then remembered for this image
    with Project.open(server_project, machine=MachineSettings("carol")) as carol:
        assert len(carol.targets(iid)) == 2
