"""Issue 25 item 4 in the GUI: File > Open server project... with a malformed URL shows the
reason in the error dialog and keeps the window as it was (no crash, no project)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialog

from tests._support.windows import team_window


@pytest.fixture
def window(qtbot):
    yield from team_window(qtbot)


@pytest.mark.parametrize(
    "url, words",
    [
        ("postgresql+psycopg://u@127.0.0.1:notaport/db", "the port is not a number"),
        ("postgresql+psycopg://u@[::1/db", "IPv6 host are not closed"),
        ("postgresql+nosuchdriver://u@h/db", "unknown database driver 'nosuchdriver'"),
    ],
)
def test_open_server_project_dialog_shows_why_a_url_is_malformed(window, monkeypatch, url, words):
    from app.team_panel import ServerProjectDialog

    def answer(dialog):
        dialog.url_edit.setText(url)
        return QDialog.DialogCode.Accepted

    reported = []
    monkeypatch.setattr(ServerProjectDialog, "exec", answer)
    monkeypatch.setattr("app.team_panel.show_error", lambda *a: reported.append(a[2]))
    window.actions_by_id["open_server_project"].trigger()
    assert len(reported) == 1 and words in reported[0]
    assert window.project is None
    # the same URL from the command line / recent projects goes through MainWindow.open_project
    monkeypatch.setattr("app.project_actions.show_error", lambda *a: reported.append(a[2]))
    assert window.open_project(url) is False
    assert len(reported) == 2 and words in reported[1] and window.project is None
