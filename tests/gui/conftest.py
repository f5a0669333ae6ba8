"""GUI test fixtures: QSettings and the per-user data dir point into a temp dir, each test gets its
own copy of the demo project (tests edit it), and nothing Qt outlives the test that made it:
windows closed, worker threads joined, deleted widgets destroyed and garbage collected on the GUI
thread before the next test starts (see ``qt_lifecycle``)."""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QEvent, QSettings, QThread  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.gui_gc import ensure_gui_thread_gc  # noqa: E402

THREAD_WAIT_MS = 30_000  # a worker still running after this is a bug in the test or the app


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, monkeypatch):
    """Never read or write the real user's settings or data dir."""
    base = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(base))
    QCoreApplication.setOrganizationName("SIRST Studio Tests")
    QCoreApplication.setApplicationName("SIRST Studio Tests")
    monkeypatch.setenv("SIRST_STUDIO_DATA_DIR", str(base / "data"))
    # No background model load in a window a test opens a project in (app/model_warmup.py): it
    # would only cost CPU seconds and delay the thread join after the test. Its own tests enable it.
    monkeypatch.setenv("SIRST_STUDIO_WARM_MODEL", "0")
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


@pytest.fixture(scope="package", autouse=True)
def gui_thread_gc(qapp):
    """Python garbage is collected on the GUI thread only while GUI tests run (as in the app once
    a worker exists); automatic collection comes back for the tests after this package."""
    collector = ensure_gui_thread_gc()
    yield collector
    if collector is not None:
        collector.stop()


def close_windows(app: QApplication) -> None:
    """Close every window still shown (their closeEvent stops the work they own) and schedule
    its deletion."""
    for widget in app.topLevelWidgets():
        if widget.isVisible():
            widget.close()
            widget.deleteLater()


def join_qt_threads(app: QApplication, wait_ms: int = THREAD_WAIT_MS) -> list[str]:
    """Interrupt and wait for every running QThread owned by a window or by the application;
    returns the names of those that did not stop (deleting one of them would abort)."""
    owners = [app, *app.topLevelWidgets()]
    threads = {t for owner in owners for t in owner.findChildren(QThread) if t.isRunning()}
    for thread in threads:
        thread.requestInterruption()
    return [type(t).__name__ for t in threads if not t.wait(wait_ms)]


def destroy_garbage() -> None:
    """Run the deferred deletions now and collect garbage on this (the GUI) thread, at a point
    where no Qt code is on the stack. A plain processEvents() outside an event loop never runs
    the deleteLater() that pytest-qt posts, so closed windows would otherwise be destroyed in
    the middle of a later test."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture(autouse=True)
def qt_lifecycle(qapp, isolated_settings, gui_thread_gc):
    """After each test: close its windows, join its worker threads, destroy what it left."""
    ensure_gui_thread_gc()  # a test may have handed collection back to Python
    yield
    close_windows(qapp)
    stuck = join_qt_threads(qapp)
    if stuck:  # destroying a running QThread aborts the whole run: leave them and say so
        pytest.fail(f"worker threads still running {THREAD_WAIT_MS} ms after the test: {stuck}")
    destroy_garbage()
