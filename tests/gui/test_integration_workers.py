"""One worker module: TaskThread lives in app/workers.py (old imports keep working), no panel
defines a thread class of its own, and the generic job runner reports, cancels and fails cleanly."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QThread

from app import bagcp_preview, inspector_panel, stats_panel, workers
from core.errors import ImageReadError

pytestmark = pytest.mark.timeout(60)
APP = Path(__file__).resolve().parents[2] / "app"
PANELS = [*APP.glob("*_panel.py"), APP / "bagcp_preview.py"]


def test_task_thread_has_one_home_and_old_imports_still_work():
    assert workers.TaskThread.__module__ == "app.workers"
    for name in ("TaskThread", "stop_thread", "Progress", "Cancelled"):  # documented re-exports
        assert getattr(stats_panel, name) is getattr(workers, name)
    for module in (stats_panel, bagcp_preview, inspector_panel):
        assert isinstance(module.PanelJob, type)  # the one job lifecycle (app/jobs.py)


@pytest.mark.parametrize("path", PANELS, ids=lambda p: p.name)
def test_no_panel_runs_its_own_job_lifecycle(path):
    """Threads are launched, guarded and stopped by app/jobs.PanelJob, not copied per panel."""
    tree = ast.parse(path.read_text())
    calls = {getattr(n.func, "id", getattr(n.func, "attr", "")) for n in ast.walk(tree)
             if isinstance(n, ast.Call)}  # fmt: skip
    if path.name != "preannotate_panel.py":  # its worker is the model loop, not a TaskThread
        assert not calls & {"TaskThread", "while_current", "stop_thread"}, path.name


@pytest.mark.parametrize("path", PANELS, ids=lambda p: p.name)
def test_no_panel_defines_its_own_thread_class(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
            assert "QThread" not in bases, f"{path.name}: {node.name} belongs in app/workers.py"


def _run(qtbot, thread: workers.TaskThread, signal):
    with qtbot.waitSignal(signal, timeout=10_000) as blocker:
        thread.start()
    thread.wait(5000)
    return blocker.args[0]


def test_task_thread_reports_progress_and_its_result(qtbot):
    def job(progress, cancelled):
        for k in range(1, 4):
            progress(k, 3)
        return "done"

    thread = workers.TaskThread(job)
    seen: list[tuple[int, int]] = []
    thread.progress_changed.connect(lambda d, t: seen.append((d, t)))
    assert _run(qtbot, thread, thread.task_finished) == "done"
    qtbot.waitUntil(lambda: len(seen) == 3)
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_cancel_and_a_dead_project_both_stop_the_job_with_a_partial_result(qtbot):
    started, alive = threading.Event(), [True]

    def job(progress, cancelled):
        done = 0
        started.set()
        while not cancelled() and done < 10_000:
            done += 1
            threading.Event().wait(0.001)
        return done

    thread = workers.TaskThread(job)
    with qtbot.waitSignal(thread.task_finished, timeout=10_000) as blocker:
        thread.start()
        started.wait(5)
        workers.stop_thread(thread)  # cancel + wait: returns only once run() has ended
        assert not thread.isRunning()
    assert 0 < blocker.args[0] < 10_000

    started.clear()
    thread = workers.TaskThread(job, alive=lambda: alive[0])
    with qtbot.waitSignal(thread.task_finished, timeout=10_000) as blocker:
        thread.start()
        started.wait(5)
        alive[0] = False  # e.g. the window's project was closed
    thread.wait(5000)
    assert blocker.args[0] < 10_000


def test_failures_arrive_as_messages(qtbot):
    def unreadable(progress, cancelled):
        raise ImageReadError("/x/a.png", "the file is truncated")

    def bug(progress, cancelled):
        raise KeyError("oops")

    thread = workers.TaskThread(unreadable)
    assert "the file is truncated" in _run(qtbot, thread, thread.task_failed)
    thread = workers.TaskThread(bug)
    assert _run(qtbot, thread, thread.task_failed).startswith("unexpected error: KeyError")


def test_stop_thread_accepts_none_and_finished_threads():
    workers.stop_thread(None)
    workers.stop_thread(QThread())  # never started: nothing to wait for
