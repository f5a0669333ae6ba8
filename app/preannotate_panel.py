"""Pre-annotation: run the active model on images in the background and store its proposals.

``install(window)`` adds Model-menu actions and a "Pre-annotation" dock. The model runs in a
``PreannotateWorker`` thread; this module only starts it, shows progress / ETA / failures, and
tells the window which images changed. Window refreshes are batched on a timer so a fast model
is never slowed down by per-image GUI work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.docks import Area, DockSpec, Place, Workspace, install_dock
from app.host import PanelHost
from app.preannotate_worker import (
    PROPOSAL_SCORE_THRESHOLD,
    PreannotateSummary,
    PreannotateWorker,
    PredictorFactory,
    resolve_model_choice,
)
from app.shortcuts import Shortcut, panel_action
from core.domain import ReviewStatus

log = logging.getLogger(__name__)

MENU = "&Model"
REFRESH_MS = 250  # at most four window refresh batches per second during a run
DOCK_NAME = "PreannotateDock"  # objectName: QMainWindow.saveState needs it
DOCK = DockSpec(DOCK_NAME, "Pre-annotation", {Workspace.LABEL: Place(Area.RightDockWidgetArea, 2)})
IDLE_TEXT = "Run the active model to propose targets and sky."
# Registered in the window's shortcut table: listed in the cheat sheet, no key bound twice.
SHORTCUTS = (
    Shortcut("preannotate_current", "Pre-annotate &Current Image", ("Ctrl+Shift+P",), "Model"),
    Shortcut("preannotate_selected", "Pre-annotate &Selected Images", (), "Model"),
    Shortcut("preannotate_unreviewed", "Pre-annotate All &Unreviewed Images", (), "Model"),
    Shortcut("preannotate_cancel", "Cancel Pre-annotation", (), "Model"),
)


def format_eta(seconds: float) -> str:
    """``1:05`` style; empty when unknown."""
    if seconds < 0:
        return ""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def unreviewed_image_ids(project) -> list[int]:
    """Every image not yet reviewed (new or pre-annotated), in list order."""
    return [i.id for i in project.list_images() if i.status != ReviewStatus.REVIEWED]


class PreannotateController(QObject):
    """Owns at most one running worker and batches the window refreshes it causes."""

    run_started = Signal(int, str)  # number of images, model name
    run_ended = Signal(object)  # PreannotateSummary, or None when the run failed (run_failed)
    run_failed = Signal(str)

    def __init__(
        self,
        window,
        predictor_factory: PredictorFactory | None = None,
        refresh_ms: int = REFRESH_MS,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.predictor_factory = predictor_factory
        self.worker: PreannotateWorker | None = None
        self._run_project = None
        self._threads: set[PreannotateWorker] = set()
        self._pending: set[int] = set()
        self._edits: list = []  # AnnotationEdits stored since the last flush, in order
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(refresh_ms)
        self._timer.timeout.connect(self.flush_refresh)
        self._last_flush = float("-inf")  # time.monotonic() of the last flush

    def is_running(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    def start(self, image_ids: Sequence[int], score_thr: float = PROPOSAL_SCORE_THRESHOLD) -> bool:
        """Start a run on ``image_ids``; False when a run is going or nothing to do."""
        project = self.window.project
        if project is None or not image_ids or self.is_running():
            return False
        choice = resolve_model_choice(project)
        # Parented: Qt keeps the thread object alive until it has really finished (a QThread
        # destroyed while running aborts the process), then deleteLater frees it.
        current, pixels = self.window.current_image_id, self.window.current_pixels
        worker = PreannotateWorker(
            project, image_ids, choice, score_thr, self.predictor_factory, parent=self,
            pixels={current: pixels} if pixels is not None else None,  # decoded once per visit
        )  # fmt: skip
        worker.image_edited.connect(self._on_image_edited)
        worker.image_finished.connect(self._on_image_finished)
        worker.run_finished.connect(self._on_run_finished)
        worker.run_failed.connect(self._on_run_failed)
        worker.finished.connect(lambda: self._threads.discard(worker))
        worker.finished.connect(worker.deleteLater)
        self._threads.add(worker)
        self.worker = worker
        self._run_project = project
        # Listeners connect to the worker's signals here, before it can emit anything.
        self.run_started.emit(len(worker.image_ids), choice.name)
        worker.start()
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def shutdown(self, wait_ms: int = 30_000) -> None:
        """Cancel and wait (project closing / app exit): the worker must not outlive its project."""
        # Every thread still alive, including one that already reported its result but has not
        # returned from run() yet: deleting a running QThread aborts the process.
        for worker in list(self._threads):
            if worker.isRunning():
                worker.cancel()
                worker.wait(wait_ms)

    def on_project_opened(self, _project: object) -> None:
        self.shutdown()

    def run_is_current(self) -> bool:
        """The last run's project is still the window's (its results belong on screen)."""
        return self._run_project is not None and self.window.project is self._run_project

    def flush_refresh(self) -> None:
        """Tell the window about every image finished since the last flush."""
        self._timer.stop()
        self._last_flush = time.monotonic()
        pending, self._pending = self._pending, set()
        edits, self._edits = self._edits, []
        if not pending or self.window.project is not self._run_project:
            return  # the project was closed or replaced: its images are not on screen
        # Each result joins its image's undo history like any edit: the window's document
        # folds it in and the rows service announces it (canvas, list row); undo brings the
        # previous proposals back.
        for edit in edits:
            if edit.image_id in pending:
                self.window.record_edit(edit)

    def _on_image_edited(self, edit) -> None:
        if self.window.project is self._run_project:
            self._edits.append(edit)

    def _on_image_finished(self, image_id: int, _n: int) -> None:
        if self.window.project is not self._run_project:
            self.cancel()  # project closed mid-run: stop writing into it at the next image
            return
        self._pending.add(image_id)
        if self._timer.isActive():
            return
        # A result after a quiet spell shows at once; a fast run's next ones are batched.
        if time.monotonic() - self._last_flush >= self._timer.interval() / 1000:
            self.flush_refresh()
        else:
            self._timer.start()

    def _on_run_finished(self, summary: PreannotateSummary) -> None:
        self.flush_refresh()
        self.worker = None
        self.run_ended.emit(summary)

    def _on_run_failed(self, message: str) -> None:
        self.flush_refresh()
        self.worker = None
        self.run_failed.emit(message)
        self.run_ended.emit(None)


class PreannotatePanel(QWidget):
    """Dock contents: what to run on, progress with ETA, Cancel, and the images that failed."""

    def __init__(self, window, controller: PreannotateController) -> None:
        super().__init__()
        self.window = window
        self.controller = controller
        self.status = QLabel(IDLE_TEXT)
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m images")
        self.eta = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(controller.cancel)
        self.failures = QListWidget()
        self.failures.setToolTip("Images that failed; double-click to open one")
        self.failures.itemDoubleClicked.connect(self._goto_failed)
        self.failures.hide()
        self._build_layout()
        controller.run_started.connect(self._on_started)
        controller.run_ended.connect(self._on_ended)
        controller.run_failed.connect(self._on_failed)

    def _build_layout(self) -> None:
        buttons = QGridLayout()  # two columns: fits the narrow column of the Label workspace
        for k, (label, slot) in enumerate((
            ("Current", self.run_current),
            ("Selected", self.run_selected),
            ("All unreviewed", self.run_unreviewed),
        )):  # fmt: skip
            b = QPushButton(label)
            b.clicked.connect(slot)
            buttons.addWidget(b, k // 2, k % 2)
        buttons.addWidget(self.cancel_button, 1, 1)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.eta)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.failures, 1)

    # ------------------------------------------------------------------ actions
    def run_current(self) -> bool:
        image_id = self.window.current_image_id
        return self._run([image_id] if image_id is not None else [], "no image is open")

    def run_selected(self) -> bool:
        return self._run(self.window.selected_image_ids(), "no images are selected in the list")

    def run_unreviewed(self) -> bool:
        project = self.window.project
        ids = unreviewed_image_ids(project) if project is not None else []
        return self._run(ids, "every image is already reviewed")

    def _run(self, ids: Sequence[int], why_empty: str) -> bool:
        if self.window.project is None:
            self.status.setText("Open a project first (File > Open Project).")
            return False
        if self.controller.is_running():
            self.status.setText("A pre-annotation run is in progress; cancel it or wait.")
            return False
        if not ids:
            self.status.setText(f"Nothing to pre-annotate: {why_empty}.")
            return False
        return self.controller.start(list(ids))

    # ------------------------------------------------------------------ progress
    def on_progress(self, done: int, total: int, eta_s: float) -> None:
        self.progress.setMaximum(total)
        self.progress.setValue(done)
        self.eta.setText(f"ETA {format_eta(eta_s)}" if eta_s >= 0 and done < total else "")

    def _for_run(self, worker: PreannotateWorker, slot: Callable[..., object]) -> Callable:
        """``slot``, called only while ``worker`` is the current run of the open project: what a
        stopped run had already queued must not repaint an idle (or newer) dock."""

        def guarded(*args: object) -> None:
            if self.controller.worker is worker and self.controller.run_is_current():
                slot(*args)

        return guarded

    def _on_started(self, total: int, model_name: str) -> None:
        worker = self.controller.worker
        worker.progress_changed.connect(self._for_run(worker, self.on_progress))
        worker.image_failed.connect(self._for_run(worker, self._on_image_failed))
        self.failures.clear()
        self.failures.hide()
        self.progress.setMaximum(total)
        self.progress.setValue(0)
        self.eta.setText("")
        self.cancel_button.setEnabled(True)
        self.status.setText(f"Loading model {model_name!r}…")
        worker.model_loaded.connect(
            self._for_run(worker, lambda name: self.status.setText(f"Running {name!r}…"))
        )

    def _on_image_failed(self, image_id: int, message: str) -> None:
        item = QListWidgetItem(message)
        item.setData(Qt.ItemDataRole.UserRole, image_id)
        self.failures.addItem(item)
        self.failures.show()

    def _on_ended(self, summary: PreannotateSummary | None) -> None:
        self.cancel_button.setEnabled(False)
        self.eta.setText("")
        if summary is None or not self.controller.run_is_current():
            return  # failed (said by _on_failed), or its project was closed: nothing to report
        text = f"Pre-annotated {len(summary.done)} of {summary.total} images"
        if summary.failed:
            text += f"; {len(summary.failed)} failed (listed below)"
        if summary.cancelled:
            text += f"; cancelled, {summary.untouched} left untouched"
        self.status.setText(text + f" in {summary.elapsed_s:.1f} s.")

    def _on_failed(self, message: str) -> None:
        if self.controller.run_is_current():
            self.status.setText(f"Pre-annotation failed: {message}")

    def on_project_closed(self, _project: object = None) -> None:
        """Stop the run (it must not write into a closed project) and show an idle dock."""
        self.controller.shutdown()
        self.cancel_button.setEnabled(False)
        self.progress.reset()
        self.eta.setText("")
        self.failures.clear()
        self.failures.hide()
        self.status.setText(IDLE_TEXT)

    def _goto_failed(self, item: QListWidgetItem) -> None:
        self.window.goto_image(int(item.data(Qt.ItemDataRole.UserRole)))


def _add_actions(window, panel: PreannotatePanel, controller: PreannotateController) -> None:
    menu = window.tool_menu(MENU)
    slots = (panel.run_current, panel.run_selected, panel.run_unreviewed, controller.cancel)
    for spec, slot in zip(SHORTCUTS, slots, strict=True):
        menu.addAction(panel_action(window, spec, slot))
    menu.addSeparator()


def install(window: PanelHost, predictor_factory: PredictorFactory | None = None) -> None:
    """Add the Model-menu actions and the Pre-annotation dock to ``window``."""
    controller = PreannotateController(window, predictor_factory)
    panel = PreannotatePanel(window, controller)
    install_dock(window, panel, DOCK)
    _add_actions(window, panel, controller)
    # A worker must never write into a project that has been closed or replaced.
    window.project_opened.connect(controller.on_project_opened)
    window.project_closed.connect(panel.on_project_closed)
    app = QCoreApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(controller.shutdown)
