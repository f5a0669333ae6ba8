"""The one job mechanism (ADR 0023): ``JobThread`` runs any ``job(progress, cancelled)`` off the
GUI thread with one cancel protocol; ``PanelJob`` is a panel's lifecycle around it.

Every background job of the window goes through ``JobThread``: imports, exports and the demo build
(``keyword_job`` adapts core's ``fn(**kwargs, progress=..., [cancel=...])``), statistics,
inspection, BAG-CP libraries, the review queue's ranking and the noise finder. Only the model loop
of pre-annotation (app/preannotate_worker.py) has a thread of its own, for its per-image signals.

One cancel protocol: ``cancel()`` is ``requestInterruption()``; a job polls ``cancelled()`` between
units of work and returns what it has (a partial result arrives like a full one). A core
function that cannot poll (no ``cancel`` argument) is stopped by its next ``progress`` call.

Before ``PanelJob`` the inspector, statistics and BAG-CP panels each copied the same dozen lines
(a parented thread, a project-liveness check, a guard against a stopped job's queued news,
deleteLater, stop on project_closed and on quit) and a new panel had to remember every one.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QObject, QThread, Signal

from core.errors import SirstError

log = logging.getLogger(__name__)

Progress = Callable[..., None]  # progress(done, total[, label])
Cancelled = Callable[[], bool]
Job = Callable[[Progress, Cancelled], object]

# Failures a job reports in its own words: unreadable files, DB refusals (wrong mask shape),
# model errors on one odd image (torch raises RuntimeError / ValueError for bad shapes).
IMAGE_ERRORS: tuple[type[BaseException], ...] = (SirstError, OSError, ValueError, RuntimeError)


class JobCancelled(Exception):
    """Raised from a progress callback to stop a core function that takes no ``cancel``."""


class JobThread(QThread):
    """Runs ``job(progress, cancelled) -> result`` off the GUI thread.

    ``job`` reports with ``progress(done, total[, label])`` and polls ``cancelled()`` between units
    of work; whatever it returns (also after a cancel) arrives through ``task_finished``. A failure
    arrives as ``task_failed(message)``; ``details`` then holds the traceback (for a dialog).
    """

    progress_changed = Signal(int, int)  # done, total
    status_changed = Signal(str)  # the label a job may give with its progress
    task_finished = Signal(object)
    task_failed = Signal(str)

    def __init__(
        self, fn: Job, parent: QObject | None = None, alive: Callable[[], bool] | None = None
    ) -> None:
        """``alive()`` turning False (e.g. the project was closed) stops the job like a cancel."""
        super().__init__(parent)
        self._fn = fn
        self._alive = alive
        self.details = ""
        self.stopped_early = False  # asked to stop before the job returned (set in run())

    def cancelled(self) -> bool:
        return self.isInterruptionRequested() or (self._alive is not None and not self._alive())

    def cancel(self) -> None:
        """Ask the job to stop at its next check (thread-safe)."""
        self.requestInterruption()

    def _progress(self, done: object = 0, total: object = 0, label: object = None) -> None:
        self.progress_changed.emit(int(done or 0), int(total or 0))
        if label:
            self.status_changed.emit(str(label))

    def run(self) -> None:
        try:
            result = self._fn(self._progress, self.cancelled)
        except JobCancelled:
            result = None
        except IMAGE_ERRORS as exc:
            self._fail(str(exc))
            return
        except Exception as exc:  # a thread must report, never die silently
            log.exception("background job failed")
            self._fail(f"unexpected error: {type(exc).__name__}: {exc}")
            return
        # read here: Qt forgets an interruption request once the thread has finished
        self.stopped_early = self.cancelled()
        self.task_finished.emit(result)

    def _fail(self, message: str) -> None:
        self.details = traceback.format_exc()
        self.task_failed.emit(message)


def keyword_job(fn: Callable[..., object], **kwargs: object) -> Job:
    """``fn(**kwargs, progress=..., [cancel=...])`` (core's import, export, demo) as a job.

    ``progress`` is passed when ``fn`` takes it (with its label, if any); ``cancel`` is the job's
    ``cancelled``. A function without ``cancel`` is stopped by its next progress call after a
    cancel (``JobCancelled``); what it wrote before that is complete (whole images per batch).
    """
    params = _parameters(fn)

    def job(progress: Progress, cancelled: Cancelled) -> object:
        call = dict(kwargs)
        if "progress" in params:

            def report(done: object = 0, total: object = 0, *rest: object) -> None:
                if "cancel" not in params and cancelled():
                    raise JobCancelled
                progress(done, total, rest[0] if rest else None)

            call["progress"] = report
        if "cancel" in params:
            call["cancel"] = cancelled
        return fn(**call)

    return job


def _parameters(fn: Callable[..., object]) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def stop_thread(thread: QThread | None, wait_ms: int = 30_000) -> None:
    """Cancel and wait: a worker must not outlive the project it reads."""
    if thread is not None and thread.isRunning():
        thread.requestInterruption()
        thread.wait(wait_ms)


def while_current(
    current: Callable[[], object], worker: object, slot: Callable[..., object]
) -> Callable[..., None]:
    """``slot``, called only while ``current()`` is ``worker``. A stopped worker's signals that
    were already queued still arrive after the stop; they must not repaint a panel that moved
    on (reset for a closed project, or running a newer job)."""

    def guarded(*args: object) -> None:
        if current() is worker:
            slot(*args)

    return guarded


class PanelJob(QObject):
    """At most one job at a time for one panel.

    - ``start(fn, on_result, on_failed, on_progress)`` runs ``fn(progress, cancelled)`` on a
      ``JobThread``; ``cancelled()`` also turns True once the window's project is not the one the
      job started on.
    - ``on_result`` / ``on_failed`` run on the GUI thread, after ``on_idle``, and only while the
      job's project is still the window's: results of a closed project are void.
    - ``stop()`` (also on the window's ``project_closed`` and on application quit) cancels, waits
      for the thread, and drops whatever the stopped job had already queued.
    """

    def __init__(self, window, parent: QObject, on_idle: Callable[[], None] | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.thread: JobThread | None = None
        self.project = None  # the project of the last job started
        self._on_idle = on_idle or (lambda: None)
        window.project_closed.connect(lambda _project: self.stop())
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
        thread = JobThread(fn, parent=self.parent(), alive=lambda: self.window.project is project)
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
