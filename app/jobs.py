"""The one lifecycle of a panel's background job: launch, progress, cancel, stop when the project
closes, deliver the result.

Before this helper the inspector, statistics and BAG-CP panels each copied the same dozen lines
(a parented TaskThread, a project-liveness check, a guard against a stopped job's queued news,
deleteLater, stop on project_closed and on quit) and a new panel had to remember every one.
A panel now owns one ``PanelJob`` and gives it plain callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QObject

from app.workers import (
    Cancelled,
    Progress,
    TaskThread,
    on_project_closed,
    stop_thread,
    while_current,
)

Job = Callable[[Progress, Cancelled], object]


class PanelJob(QObject):
    """At most one job at a time for one panel.

    - ``start(fn, on_result, on_failed, on_progress)`` runs ``fn(progress, cancelled)`` on a
      ``TaskThread``; ``cancelled()`` also turns True once the window's project is not the one the
      job started on.
    - ``on_result`` / ``on_failed`` run on the GUI thread, after ``on_idle``, and only while the
      job's project is still the window's: results of a closed project are void.
    - ``stop()`` (also on the window's ``project_closed`` and on application quit) cancels, waits
      for the thread, and drops whatever the stopped job had already queued.
    """

    def __init__(self, window, parent: QObject, on_idle: Callable[[], None] | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.thread: TaskThread | None = None
        self.project = None  # the project of the last job started
        self._on_idle = on_idle or (lambda: None)
        on_project_closed(window, lambda _project: self.stop())
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)

    def is_running(self) -> bool:
        """True until the job's result is delivered (not just until its run() returns)."""
        return self.thread is not None

    def project_is_current(self) -> bool:
        return self.project is not None and self.window.project is self.project

    def start(
        self,
        fn: Job,
        on_result: Callable[[object], object],
        on_failed: Callable[[str], object],
        on_progress: Callable[[int, int], object] | None = None,
    ) -> bool:
        """Launch ``fn``; False when a job is running already (nothing started)."""
        if self.is_running():
            return False
        project = self.window.project
        # Parented to the panel: Qt keeps the thread object alive until it has really finished
        # (a QThread destroyed while running aborts the process); deleteLater frees it then.
        thread = TaskThread(fn, parent=self.parent(), alive=lambda: self.window.project is project)
        mine = partial(while_current, lambda: self.thread, thread)  # drop a stopped job's news
        if on_progress is not None:
            thread.progress_changed.connect(mine(on_progress))
        thread.task_finished.connect(mine(partial(self._deliver, on_result)))
        thread.task_failed.connect(mine(partial(self._deliver, on_failed)))
        thread.finished.connect(thread.deleteLater)
        self.thread, self.project = thread, project
        thread.start()
        return True

    def wait(self, timeout_ms: int = 60_000) -> None:
        """Block until the job finished and its result was delivered (tests, scripts)."""
        deadline = QDeadlineTimer(timeout_ms)
        while self.is_running() and not deadline.hasExpired():
            QCoreApplication.processEvents()
            if self.thread is not None:
                self.thread.wait(20)

    def cancel(self) -> None:
        """Ask the job to stop at its next check; its (partial) result is still delivered."""
        if self.thread is not None:
            self.thread.cancel()

    def stop(self) -> None:
        """Cancel and wait: a job must not outlive the project it reads. Idempotent."""
        if self.thread is None:
            return
        stop_thread(self.thread)
        self.thread = None  # what it had queued is dropped (while_current)
        self._on_idle()

    def _deliver(self, slot: Callable[[object], object], value: object) -> None:
        self.thread = None
        self._on_idle()
        if self.project_is_current():
            slot(value)
