"""One job mechanism: JobThread lives in app/jobs.py (app/workers.py is gone), no panel or dialog
defines a thread class of its own, and the job thread reports, cancels and fails cleanly."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QThread

from app import bagcp_preview, inspector_panel, jobs, stats_panel
from core.errors import ImageReadError

pytestmark = pytest.mark.timeout(60)
APP = Path(__file__).resolve().parents[2] / "app"
PANELS = [*APP.glob("*_panel.py"), APP / "bagcp_preview.py"]
# every module that runs a job: panels, the import / export dialogs, the review queue
JOB_USERS = [*PANELS, *APP.glob("*_dialog.py"), APP / "review_queue.py", APP / "project_actions.py",
             APP / "model_warmup.py"]


def test_the_job_thread_has_one_home():
    assert jobs.JobThread.__module__ == "app.jobs"
    assert not (APP / "workers.py").exists() and not (APP / "export_dialog.py").read_text().count(
        "QThread")  # the export dialog's own job thread went into app.jobs
    for name in ("JobThread", "Progress", "Cancelled"):  # what panels import
        assert getattr(stats_panel, name) is getattr(jobs, name)
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


@pytest.mark.parametrize("path", JOB_USERS, ids=lambda p: p.name)
def test_no_panel_defines_its_own_thread_class(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
            assert "QThread" not in bases, f"{path.name}: {node.name}: jobs run on app/jobs.JobThread"


def _run(qtbot, thread: jobs.JobThread, signal):
    with qtbot.waitSignal(signal, timeout=10_000) as blocker:
        thread.start()
    thread.wait(5000)
    return blocker.args[0]


def test_task_thread_reports_progress_and_its_result(qtbot):
    def job(progress, cancelled):
        for k in range(1, 4):
            progress(k, 3)
        return "done"

    thread = jobs.JobThread(job)
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

    thread = jobs.JobThread(job)
    with qtbot.waitSignal(thread.task_finished, timeout=10_000) as blocker:
        thread.start()
        started.wait(5)
        jobs.stop_thread(thread)  # cancel + wait: returns only once run() has ended
        assert not thread.isRunning()
    assert 0 < blocker.args[0] < 10_000

    started.clear()
    thread = jobs.JobThread(job, alive=lambda: alive[0])
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

    thread = jobs.JobThread(unreadable)
    assert "the file is truncated" in _run(qtbot, thread, thread.task_failed)
    thread = jobs.JobThread(bug)
    assert _run(qtbot, thread, thread.task_failed).startswith("unexpected error: KeyError")


def test_stop_thread_accepts_none_and_finished_threads():
    jobs.stop_thread(None)
    jobs.stop_thread(QThread())  # never started: nothing to wait for
