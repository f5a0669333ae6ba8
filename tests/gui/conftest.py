"""GUI test fixtures: QSettings and the per-user data dir point into a temp dir, and each test
gets its own copy of the demo project (tests edit it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, monkeypatch):
    """Never read or write the real user's settings or data dir."""
    base = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(base))
    QCoreApplication.setOrganizationName("SIRST Studio Tests")
    QCoreApplication.setApplicationName("SIRST Studio Tests")
    monkeypatch.setenv("SIRST_STUDIO_DATA_DIR", str(base / "data"))
    yield base


@pytest.fixture
def app_project_dir(demo_project_dir, tmp_path) -> Path:
    """A private, editable copy of the demo project (tests/conftest.py builds it once)."""
    root = tmp_path / "demo"
    shutil.copytree(demo_project_dir, root, ignore=shutil.ignore_patterns(".cache"))
    return root


@pytest.fixture
def main_window(qtbot, app_project_dir):
    """A shown MainWindow (no extension panels) with the demo copy open."""
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings

    create_application(exception_hook=False)
    window = MainWindow(AppSettings(), install_panels=False)
    qtbot.addWidget(window)
    window.resize(1280, 860)
    window.show()
    qtbot.waitExposed(window)
    assert window.open_project(app_project_dir)
    yield window
    window.close()
