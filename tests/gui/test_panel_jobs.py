"""app/jobs.py: the one job lifecycle of the panels (launch, progress, cancel, stop on project
close, result only for the project it was computed on), and GUI-thread garbage collection set up
by the application itself."""

from __future__ import annotations

import gc
import threading

import pytest
from PySide6.QtCore import QObject, Signal

from app.jobs import PanelJob
from core.errors import ProjectError

pytestmark = pytest.mark.timeout(60)


class Host(QObject):
    """The two members of the MainWindow API a PanelJob uses."""

    project_closed = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.project = object()


@pytest.fixture
def host(qapp):
    h = Host()
    yield h
    h.deleteLater()


def recorder():
    events: list = []
    return events, {
        "on_result": lambda r: events.append(("result", r)),
        "on_failed": lambda m: events.append(("failed", m)),
        "on_progress": lambda d, t: events.append(("progress", d, t)),
    }


def test_progress_then_idle_then_result(host, qtbot):
    events, slots = recorder()
    job = PanelJob(host, host, on_idle=lambda: events.append(("idle",)))

    def work(progress, cancelled):
        for k in range(3):
            progress(k + 1, 3)
        return "done"

    assert job.start(work, **slots)
    assert not job.start(work, **slots)  # one job at a time
    qtbot.waitUntil(lambda: not job.is_running(), timeout=10_000)
    assert events == [("progress", 1, 3), ("progress", 2, 3), ("progress", 3, 3), ("idle",),
                      ("result", "done")]  # fmt: skip


def test_a_failure_is_delivered_as_its_message(host, qtbot):
    events, slots = recorder()
    job = PanelJob(host, host)

    def work(progress, cancelled):
        raise ProjectError("the database refused the change")

    job.start(work, **slots)
    qtbot.waitUntil(lambda: not job.is_running(), timeout=10_000)
    assert events == [("failed", "the database refused the change")]


def test_project_closed_stops_the_job_and_drops_its_news(host, qtbot):
    events, slots = recorder()
    job = PanelJob(host, host, on_idle=lambda: events.append(("idle",)))
    started, saw_cancel = threading.Event(), threading.Event()

    def work(progress, cancelled):
        started.set()
        progress(1, 2)  # queued for the GUI thread, never delivered: the job is stopped first
        while not cancelled():
            pass
        saw_cancel.set()
        return "partial"

    job.start(work, **slots)
    assert started.wait(10)
    host.project_closed.emit(host.project)  # the window's signal, before the project closes
    assert saw_cancel.is_set()  # stop() waited for the thread
    assert not job.is_running()
    qtbot.wait(50)  # let anything queued arrive
    assert events == [("idle",)]


def test_a_result_for_a_replaced_project_is_void(host, qtbot):
    events, slots = recorder()
    job = PanelJob(host, host)
    gate = threading.Event()

    def work(progress, cancelled):
        gate.wait(10)
        return "stale" if cancelled() else "fresh"

    job.start(work, **slots)
    host.project = object()  # another project shown, no close announced
    gate.set()
    qtbot.waitUntil(lambda: not job.is_running(), timeout=10_000)
    assert events == []


def test_the_application_collects_garbage_on_the_gui_thread_itself(qapp):
    from app.application import create_application
    from app.gui_gc import ensure_gui_thread_gc

    ensure_gui_thread_gc().stop()  # automatic collection, in any thread
    assert gc.isenabled()
    create_application(exception_hook=False)
    assert not gc.isenabled() and ensure_gui_thread_gc().active
