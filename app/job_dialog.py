"""A long job behind a dialog: ``run_with_progress`` (a modal progress dialog, used by the demo
build and the drag-and-drop import) and ``JobDialog`` (a form, a progress bar and Start / Cancel /
Close; the Import and Export dialogs). Both run the job on ``app.jobs.JobThread``.

Failures end in a dialog that says what went wrong and what to do. Imports write whole images per
batch, so a cancel keeps what was done.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QProgressDialog,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.error_dialog import show_error
from app.jobs import JobThread, keyword_job
from core.domain import Split


def was_cancelled(job: JobThread, result: object) -> bool:
    """The job stopped early (asked to, or its result says so); what it wrote is complete."""
    return job.stopped_early or bool(getattr(result, "cancelled", False))


def run_with_progress(
    parent: QWidget | None, title: str, fn: Callable[..., object], advice: str, **kwargs
) -> tuple[str, object]:
    """Run a job behind a modal progress dialog; returns ("ok" | "cancelled" | "failed", result)."""
    dialog = QProgressDialog(title, "Cancel", 0, 0, parent)
    dialog.setWindowTitle(title)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    job = JobThread(keyword_job(fn, **kwargs), parent)
    outcome: dict[str, object] = {"state": "failed", "result": None}
    loop = QEventLoop()

    def on_progress(done: int, total: int) -> None:
        dialog.setMaximum(max(total, 0))
        dialog.setValue(min(done, total) if total else 0)

    def on_finished(result: object) -> None:
        state = "cancelled" if was_cancelled(job, result) else "ok"
        outcome.update(state=state, result=result)

    job.progress_changed.connect(on_progress)
    job.status_changed.connect(lambda label: dialog.setLabelText(f"{title}\n{label}"))
    job.task_finished.connect(on_finished)
    job.task_failed.connect(lambda message: outcome.update(error=(message, job.details)))
    job.finished.connect(loop.quit)
    dialog.canceled.connect(job.cancel)
    dialog.show()
    job.start()
    loop.exec()
    job.wait()
    dialog.close()
    if "error" in outcome:
        message, details = outcome["error"]  # type: ignore[misc]
        show_error(parent, f"{title} failed", message, advice, details)
    return str(outcome["state"]), outcome["result"]


def summarize(report: object) -> str:
    """One line from an Import/ExportReport, whatever counters it carries."""
    if report is None:
        return "done"
    parts = []
    for name in ("added", "exported", "existing", "skipped"):
        value = getattr(report, name, None)
        if value is not None:
            count = len(value) if isinstance(value, list | tuple | set | dict) else value
            parts.append(f"{count} {name}")
    errors = getattr(report, "errors", None) or []
    if errors:
        parts.append(f"{len(errors)} problem(s), first: {_first_error(errors)}")
    return ", ".join(parts) if parts else str(report)


def _first_error(errors: list) -> str:
    first = errors[0]
    return ": ".join(str(x) for x in first) if isinstance(first, tuple | list) else str(first)


def path_row(parent: QWidget, pick: Callable[[], str]) -> tuple[QWidget, QLineEdit]:
    row = QWidget(parent)
    edit = QLineEdit(row)
    browse = QPushButton("Browse...", row)
    browse.clicked.connect(lambda: (path := pick()) and edit.setText(path))
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    layout.addWidget(browse)
    return row, edit


def split_combo(parent: QWidget, first: str) -> QComboBox:
    combo = QComboBox(parent)
    combo.addItem(first, None)
    for split in Split:
        combo.addItem(split.value, split.value)
    return combo


class JobDialog(QDialog):
    """A form, a progress bar, a status line, and Start / Cancel / Close."""

    start_label = "Start"

    def __init__(self, title: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.form = QFormLayout()
        self.progress = QProgressBar(self)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(self)
        self.start_button = self.buttons.addButton(
            self.start_label, QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.cancel_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.job: JobThread | None = None
        self.result_report: object = None
        self.resize(560, 0)

    def job_function(self) -> tuple[Callable[..., object], dict] | None:
        """The callable and its kwargs, or None after telling the user what is missing."""
        raise NotImplementedError

    advice = "Check the paths and try again."

    def start(self) -> None:
        spec = self.job_function()
        if spec is None:
            return
        fn, kwargs = spec
        self.job = JobThread(keyword_job(fn, **kwargs), self)
        self.job.progress_changed.connect(self._on_progress)
        self.job.status_changed.connect(self.status.setText)
        self.job.task_finished.connect(self._on_done)
        self.job.task_failed.connect(self._on_failed)
        self.job.finished.connect(self._on_finished)
        self._set_running(True)
        self.status.setText("Working...")
        self.job.start()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling...")

    def reject(self) -> None:
        if self.job is not None and self.job.isRunning():
            self.cancel()
            self.job.wait()
        super().reject()

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setRange(0, 0 if running else 1)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))

    def _on_done(self, report: object) -> None:
        if self.job is not None and was_cancelled(self.job, report):
            self.status.setText("Cancelled; what was done is kept.")  # what it wrote is complete
            return
        self.result_report = report
        self.status.setText(f"Finished: {summarize(report)}")

    def _on_failed(self, message: str) -> None:
        self.status.setText(f"Failed: {message}")
        details = self.job.details if self.job is not None else ""
        show_error(self, f"{self.windowTitle()} failed", message, self.advice, details)

    def _on_finished(self) -> None:
        self._set_running(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self.result_report is not None else 0)
