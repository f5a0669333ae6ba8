"""Export and import dialogs, and the background job runner they share (also used by the
welcome screen's drag-and-drop import).

Long jobs run in a QThread with a progress bar and Cancel; failures end in a dialog that says what
went wrong and what to do. Imports write whole images per batch, so a cancel keeps what was done.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QEventLoop, QThread, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QProgressDialog,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.workers import ensure_gui_thread_gc
from core.domain import ReviewStatus, Split
from core.errors import SirstError
from core.image_query import ImageQuery
from widgets.text import plural

EXPORT_FORMATS = ("densesirst", "coco", "voc", "yolo")
IMPORT_KINDS = {"densesirst": "DenseSIRST folder", "coco": "COCO JSON", "images": "Image folder"}


class JobCancelled(Exception):
    """Raised from a progress callback to stop a job that takes no ``cancel`` argument."""


class JobThread(QThread):
    """Runs ``fn(**kwargs, progress=..., [cancel=...])`` off the GUI thread."""

    progressed = Signal(int, int, str)  # done, total, label
    succeeded = Signal(object)
    failed = Signal(str, str)  # message, details
    was_cancelled = Signal()

    def __init__(self, fn: Callable[..., object], parent: QWidget | None = None, **kwargs) -> None:
        super().__init__(parent)
        ensure_gui_thread_gc()  # run() is Python: no garbage collection on this thread
        self.fn, self.kwargs = fn, kwargs
        self._cancel = False

    def cancel(self) -> None:
        self._cancel = True
        self.requestInterruption()

    def _progress(self, done: object = 0, total: object = 0, *rest: object) -> None:
        if self._cancel and not self._takes_cancel:
            raise JobCancelled
        label = str(rest[0]) if rest else ""
        self.progressed.emit(int(done or 0), int(total or 0), label)

    def run(self) -> None:
        params = _parameters(self.fn)
        self._takes_cancel = "cancel" in params
        kwargs = dict(self.kwargs)
        if "progress" in params:
            kwargs["progress"] = self._progress
        if self._takes_cancel:
            kwargs["cancel"] = lambda: self._cancel
        try:
            result = self.fn(**kwargs)
        except JobCancelled:
            self.was_cancelled.emit()
            return
        except SirstError as exc:
            self.failed.emit(str(exc), traceback.format_exc())
            return
        except Exception as exc:  # noqa: BLE001 - any failure must reach the user as a dialog
            self.failed.emit(f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return
        if self._cancel or getattr(result, "cancelled", False):
            self.was_cancelled.emit()  # the job stopped early; what it wrote is complete
            return
        self.succeeded.emit(result)


def _parameters(fn: Callable[..., object]) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def show_error(
    parent: QWidget | None, title: str, message: str, advice: str, details: str = ""
) -> None:
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, parent=parent)
    box.setInformativeText(advice)
    if details:
        box.setDetailedText(details)
    box.exec()


def run_with_progress(
    parent: QWidget | None, title: str, fn: Callable[..., object], advice: str, **kwargs
) -> tuple[str, object]:
    """Run a job behind a modal progress dialog; returns ("ok" | "cancelled" | "failed", result)."""
    dialog = QProgressDialog(title, "Cancel", 0, 0, parent)
    dialog.setWindowTitle(title)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    job = JobThread(fn, parent, **kwargs)
    outcome: dict[str, object] = {"state": "failed", "result": None}
    loop = QEventLoop()

    def on_progress(done: int, total: int, label: str) -> None:
        dialog.setMaximum(max(total, 0))
        dialog.setValue(min(done, total) if total else 0)
        if label:
            dialog.setLabelText(f"{title}\n{label}")

    def on_failed(message: str, details: str) -> None:
        outcome["error"] = (message, details)

    job.progressed.connect(on_progress)
    job.succeeded.connect(lambda r: outcome.update(state="ok", result=r))
    job.was_cancelled.connect(lambda: outcome.update(state="cancelled"))
    job.failed.connect(on_failed)
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


def _path_row(parent: QWidget, pick: Callable[[], str]) -> tuple[QWidget, QLineEdit]:
    row = QWidget(parent)
    edit = QLineEdit(row)
    browse = QPushButton("Browse...", row)
    browse.clicked.connect(lambda: (path := pick()) and edit.setText(path))
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    layout.addWidget(browse)
    return row, edit


def _split_combo(parent: QWidget, first: str) -> QComboBox:
    combo = QComboBox(parent)
    combo.addItem(first, None)
    for split in Split:
        combo.addItem(split.value, split.value)
    return combo


class _JobDialog(QDialog):
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
        self.job = JobThread(fn, self, **kwargs)
        self.job.progressed.connect(self._on_progress)
        self.job.succeeded.connect(self._on_done)
        self.job.failed.connect(self._on_failed)
        self.job.was_cancelled.connect(
            lambda: self.status.setText("Cancelled; what was done is kept.")
        )
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

    def _on_progress(self, done: int, total: int, label: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        if label:
            self.status.setText(label)

    def _on_done(self, report: object) -> None:
        self.result_report = report
        self.status.setText(f"Finished: {summarize(report)}")

    def _on_failed(self, message: str, details: str) -> None:
        self.status.setText(f"Failed: {message}")
        show_error(self, f"{self.windowTitle()} failed", message, self.advice, details)

    def _on_finished(self) -> None:
        self._set_running(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self.result_report is not None else 0)

    def wait_done(self, timeout_ms: int = 60000) -> bool:
        return self.job.wait(timeout_ms) if self.job is not None else True


class NonEmptyChoice(Enum):
    FRESH = "fresh"  # export into a new folder beside it
    MERGE = "merge"  # write into it (files of the same name are replaced)
    CANCEL = "cancel"


def is_non_empty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def fresh_folder(path: Path) -> Path:
    """``path`` itself when free, else the first free ``<name>-2``, ``<name>-3``... beside it."""
    if not path.exists():
        return path
    k = 2
    while (candidate := path.with_name(f"{path.name}-{k}")).exists():
        k += 1
    return candidate


def ask_non_empty(parent: QWidget, out: Path) -> NonEmptyChoice:
    """Ask what to do with an output folder that already holds files (an export merged into an
    older one silently mixed two exports)."""
    fresh = fresh_folder(out)
    box = QMessageBox(QMessageBox.Icon.Warning, "Export: the folder is not empty",
                      f"{out} already holds files. Exporting into it mixes this export with "
                      "what is there (files of the same name are replaced).", parent=parent)  # fmt: skip
    fresh_button = box.addButton(f"Export into {fresh.name}", QMessageBox.ButtonRole.AcceptRole)
    merge_button = box.addButton("Write into it anyway", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(fresh_button)
    box.exec()
    clicked = box.clickedButton()
    if clicked is fresh_button:
        return NonEmptyChoice.FRESH
    if clicked is merge_button:
        return NonEmptyChoice.MERGE
    return NonEmptyChoice.CANCEL


class ExportDialog(_JobDialog):
    """File > Export...: format, split and output folder; runs core.services.exporter.export_project."""

    start_label = "Export"
    advice = (
        "Choose an output folder you can write to (an empty or new folder is safest) and try again."
    )

    def __init__(self, project, parent: QWidget | None = None, out_dir: str = "") -> None:
        super().__init__("Export", parent)
        self.setObjectName("export_dialog")
        self.project = project
        self.format_combo = QComboBox(self)
        self.format_combo.addItems(list(EXPORT_FORMATS))
        self.split_combo = _split_combo(self, "All images")
        row, self.out_edit = _path_row(self, self._pick_out)
        self.out_edit.setText(out_dir)
        self.reviewed_check = QCheckBox("Reviewed images only", self)
        self.reviewed_check.setChecked(True)
        self.reviewed_check.setToolTip(
            "Leave out images nobody has reviewed: exported, they would say 'no targets here'"
        )
        n_all = project.count_images() if project is not None else 0  # counted in SQL
        n_rev = (project.count_images(ImageQuery(status=ReviewStatus.REVIEWED))
                 if project is not None else 0)  # fmt: skip
        self.reviewed_check.setText(f"Reviewed images only ({n_rev} of {plural(n_all, 'image')})")
        self.form.addRow("Format", self.format_combo)
        self.form.addRow("Split", self.split_combo)
        self.form.addRow("", self.reviewed_check)
        self.form.addRow("Output folder", row)
        self.form.addRow(
            QLabel("Only accepted labels are exported; proposals are not labels.", self)
        )

    def _pick_out(self) -> str:
        return QFileDialog.getExistingDirectory(self, "Export into folder", self.out_edit.text())

    def job_function(self) -> tuple[Callable[..., object], dict] | None:
        out = self.out_edit.text().strip()
        if not out:
            self.status.setText("Choose an output folder first.")
            return None
        target = Path(out)
        if is_non_empty_dir(target):
            choice = ask_non_empty(self, target)
            if choice == NonEmptyChoice.CANCEL:
                self.status.setText("Not exported: choose another folder.")
                return None
            if choice == NonEmptyChoice.FRESH:
                target = fresh_folder(target)
                self.out_edit.setText(str(target))
        from core.services.exporter import export_project

        kwargs = {"project": self.project, "out": target, "fmt": self.format_combo.currentText(),
                  "split": self.split_combo.currentData(),
                  "reviewed_only": self.reviewed_check.isChecked()}  # fmt: skip
        return export_project, kwargs


class ImportDialog(_JobDialog):
    """File > Import...: a DenseSIRST folder, a COCO JSON (+ images folder) or a plain image folder."""

    start_label = "Import"
    advice = "Check that the source is the format you chose and that its files are readable."

    def __init__(self, project, parent: QWidget | None = None, start_dir: str = "") -> None:
        super().__init__("Import", parent)
        self.setObjectName("import_dialog")
        self.project = project
        self.kind_combo = QComboBox(self)
        for key, label in IMPORT_KINDS.items():
            self.kind_combo.addItem(label, key)
        row, self.src_edit = _path_row(self, self._pick_src)
        images_row, self.images_edit = _path_row(self, self._pick_images)
        self.src_edit.setText(start_dir)
        self.split_combo = _split_combo(self, "From the source (or unassigned)")
        self.source_split = QLineEdit(self)
        self.source_split.setPlaceholderText("all images (or a Splits/ file name, e.g. train_v2)")
        self.form.addRow("Source type", self.kind_combo)
        self.form.addRow("Source", row)
        self.form.addRow("COCO images folder", images_row)
        self.form.addRow("DenseSIRST split file", self.source_split)
        self.form.addRow("Project split", self.split_combo)
        self.kind_combo.currentIndexChanged.connect(lambda _i: self._kind_changed(images_row))
        self._kind_changed(images_row)

    def _kind_changed(self, images_row: QWidget) -> None:
        kind = self.kind_combo.currentData()
        images_row.setEnabled(kind == "coco")
        self.source_split.setEnabled(kind == "densesirst")
        # DenseSIRST images take their split from the source's Splits/ files.
        self.split_combo.setEnabled(kind != "densesirst")

    def _pick_src(self) -> str:
        if self.kind_combo.currentData() == "coco":
            return QFileDialog.getOpenFileName(self, "COCO annotations", self.src_edit.text(),
                                               "COCO JSON (*.json)")[0]  # fmt: skip
        return QFileDialog.getExistingDirectory(self, "Source folder", self.src_edit.text())

    def _pick_images(self) -> str:
        return QFileDialog.getExistingDirectory(self, "COCO images folder", self.images_edit.text())

    def job_function(self) -> tuple[Callable[..., object], dict] | None:
        src = self.src_edit.text().strip()
        if not src or not Path(src).exists():
            self.status.setText("Choose an existing source first.")
            return None
        from core.services import importer

        kind, split = self.kind_combo.currentData(), self.split_combo.currentData()
        if kind == "densesirst":
            name = self.source_split.text().strip() or None  # a Splits/ file, or everything
            return importer.import_densesirst, {"project": self.project, "src": Path(src),
                                                "split": name}  # fmt: skip
        if kind == "coco":
            images = self.images_edit.text().strip() or str(Path(src).parent)
            return importer.import_coco, {"project": self.project, "json_path": Path(src),
                                          "images_dir": Path(images), "split": split}  # fmt: skip
        return importer.import_images, {"project": self.project, "folder_or_paths": Path(src),
                                        "split": Split(split) if split else Split.UNASSIGNED}  # fmt: skip
