"""False-alarm inspector: where does a model fire on nothing, and which targets does it miss?

``install(window)`` adds a "False alarms" dock. A run takes detections either from a model
(a project version or the shipped default, loaded on a worker thread) or from the proposals
already stored in the project, on the reviewed images; ``core.services.inspection`` matches them with the
accepted targets (VOC rule: legacy IoU >= 0.5, point-only targets within 3 px, see its docstring)
and measures background class and local contrast. Raw detections are kept down to the proposal
floor (0.05), so moving the threshold re-evaluates without running the model again.

The summary tab compares the last run of every model version; each summary is also written to
``<project>/.cache/inspection_<version>.json`` (the Project API has no method for a version's
metrics yet) so that comparisons survive a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.docks import Area, DockSpec, Place, Workspace, install_dock
from app.host import PanelHost
from app.jobs import IMAGE_ERRORS, Cancelled, JobThread, PanelJob, Progress
from app.model_versions import SHIPPED_DEFAULT_NAME
from app.preannotate_worker import (
    PROPOSAL_SCORE_THRESHOLD,
    ModelChoice,
    PredictorFactory,
    default_predictor_factory,
)
from app.stats_panel import MENU
from app.views import follow
from core.domain import ReviewStatus, Source, Split, Target, TargetState
from core.services.inspection import (
    ImageInspection,
    InspectionSummary,
    MatchRule,
    as_gray,
    crop_around,
    inspect_image,
    load_summaries,
    save_summary,
    summarize,
)
from widgets.fa_gallery import FaGallery, GalleryCard
from widgets.text import plural

DOCK = DockSpec(
    "InspectorDock", "False alarms", {Workspace.INSPECT: Place(Area.RightDockWidgetArea, 0, fill=True)},
    menu=MENU, menu_text="&False-alarm Inspector",
)
STORED = "stored proposals"
CROP = 48
HIT_COLOR = "#ff4040"
JUMP_ZOOM = 6.0  # screen px per image px after a jump: a 48 px neighbourhood fills ~300 px
RETHRESHOLD_MS = 300  # spin-box spam coalesces into one re-evaluation
SUMMARY_COLUMNS = ("version", "thr", "images", "targets", "Pd", "FA", "FA sky", "FA non-sky",
                   "FA unknown", "FA/img", "misses")  # fmt: skip
SCOPES = ("Reviewed images", "Reviewed, val split", "Selected images")
IDLE_TEXT = "Run a model on the reviewed images to list its false alarms and misses."
Detections = tuple[np.ndarray, np.ndarray]  # boxes [N, 4], scores [N]


@dataclass
class InspectionRun:
    """One run: raw detections (for re-thresholding) and the evaluation at ``threshold``."""

    version: str
    threshold: float
    raw: dict[int, Detections] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    results: list[ImageInspection] = field(default_factory=list)
    cards: list[GalleryCard] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    cancelled: bool = False
    summary: InspectionSummary | None = None


def targets_to_detections(targets: list[Target]) -> Detections:
    """(boxes, scores) of model targets; a point-only target becomes its 3x3 pixel box."""
    boxes, scores = [], []
    for t in targets:
        if t.box is not None:
            boxes.append(t.box)
        else:
            x, y = np.floor(t.point[0]), np.floor(t.point[1])
            boxes.append((x - 1, y - 1, x + 2, y + 2))
        scores.append(t.score if t.score is not None else 1.0)
    return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float64)


def stored_detections(project, image_id: int) -> Detections:
    """What the model found at the image's latest pre-annotation: its whole result as the store
    keeps it (duplicates of accepted labels included, which are not stored as proposals), else
    (pre-annotated by an older version) the stored model proposals."""
    found = project.model_detections(image_id) if hasattr(project, "model_detections") else None
    if found is not None:
        return found[:, :4].astype(np.float64), found[:, 4].astype(np.float64)
    props = [t for t in project.targets(image_id, TargetState.PROPOSAL) if t.source == Source.MODEL]
    return targets_to_detections(props)


def cards_for(result: ImageInspection, gray: np.ndarray) -> list[GalleryCard]:
    cards = []
    for item in result.items:
        crop, x0, y0 = crop_around(gray, item.center, CROP)
        cards.append(GalleryCard(item.kind, item.image_id, result.name, item.box, item.score,
                                 item.background, item.contrast, crop, (x0, y0)))  # fmt: skip
    return cards


def run_inspection(
    project,
    image_ids: list[int],
    run: InspectionRun,
    detect: Callable[[int, np.ndarray], Detections] | None,
    progress: Progress,
    cancelled: Cancelled,
    rule: MatchRule = MatchRule(),
) -> InspectionRun:
    """Fill ``run`` image by image. ``detect(image_id, pixels)`` gives raw detections; None
    re-uses ``run.raw`` (re-threshold). Unreadable images are listed in ``run.failed``."""
    for n, image_id in enumerate(image_ids, start=1):
        if cancelled():
            run.cancelled = True
            break
        try:
            pixels = project.load_pixels(image_id)
            if detect is not None:
                run.raw[image_id] = detect(image_id, pixels)
            boxes, scores = run.raw[image_id]
            gray = as_gray(pixels)
            res = inspect_image(image_id, gray, project.sky_mask(image_id),
                                project.targets(image_id, TargetState.ACCEPTED), boxes, scores,
                                run.threshold, rule, name=run.names.get(image_id, str(image_id)))  # fmt: skip
        except IMAGE_ERRORS as exc:
            run.failed[image_id] = str(exc)
        else:
            run.results.append(res)
            run.cards.extend(cards_for(res, gray))
        progress(n, len(image_ids))
    run.summary = summarize(run.results, run.version, run.threshold, rule)
    return run


def model_detector(
    factory: PredictorFactory, weights: Path | None
) -> Callable[[int, np.ndarray], Detections]:
    """Loads the predictor (in the calling worker thread) and returns a per-image detector."""
    predictor = factory(weights)

    def detect(_image_id: int, pixels: np.ndarray) -> Detections:
        targets, _sky = predictor.predict_targets(pixels, PROPOSAL_SCORE_THRESHOLD)
        return targets_to_detections(targets)

    return detect


def _fmt(v: float) -> str:
    return "-" if v != v else f"{v:.3g}"  # NaN -> "-"


def summary_row(s: InspectionSummary) -> list[str]:
    return [s.version, f"{s.threshold:.2f}", str(s.n_images), str(s.n_targets), _fmt(s.pd),
            str(s.false_alarms), str(s.fa_sky), str(s.fa_non_sky), str(s.fa_unknown),
            _fmt(s.fa_per_image), str(s.misses)]  # fmt: skip


class InspectorPanel(QWidget):
    """Source, scope, threshold, Run / Cancel; gallery, per-version summary, per-image table."""

    run_finished = Signal(object)  # InspectionRun (also after a cancel)
    run_failed = Signal(str)  # the run could not start (model load) or broke

    def __init__(self, window, predictor_factory: PredictorFactory | None = None) -> None:
        super().__init__()
        self.window = window
        self.factory = predictor_factory or default_predictor_factory
        self.job = PanelJob(window, self, on_idle=self._end)
        self.runs: dict[str, InspectionRun] = {}  # last run per version
        self.summaries: dict[str, InspectionSummary] = {}
        self.current: InspectionRun | None = None
        self._highlighted: int | None = None  # image whose hits are outlined on the canvas
        self._build_widgets()
        self._build_layout()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(RETHRESHOLD_MS)
        self._timer.timeout.connect(self.rethreshold)

    # ------------------------------------------------------------------ layout
    def _build_widgets(self) -> None:
        self.source = QComboBox()
        self.source.setToolTip("Which detections to inspect")
        self.scope = QComboBox()
        self.scope.addItems(SCOPES)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(PROPOSAL_SCORE_THRESHOLD, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        self.threshold.setValue(max(float(self.window.score_threshold), PROPOSAL_SCORE_THRESHOLD))
        self.threshold.valueChanged.connect(lambda _v: self._timer.start())
        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m images")
        self.status = QLabel(IDLE_TEXT)
        self.status.setWordWrap(True)
        self.gallery = FaGallery()
        self.gallery.card_clicked.connect(self.jump_to)
        self.summary_table = self._table(SUMMARY_COLUMNS)
        self.image_table = self._table(("image", "FA", "FA sky", "FA non-sky", "misses"))
        self.image_table.cellDoubleClicked.connect(self._image_row_clicked)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.gallery, "Gallery")
        self.tabs.addTab(self.summary_table, "Versions")
        self.tabs.addTab(self.image_table, "Per image")

    @staticmethod
    def _table(columns: tuple[str, ...]) -> QTableWidget:
        table = QTableWidget(0, len(columns))
        table.setHorizontalHeaderLabels(list(columns))
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSortingEnabled(True)
        return table

    def _build_layout(self) -> None:
        form = QFormLayout()
        form.addRow("Detections", self.source)
        form.addRow("Images", self.scope)
        form.addRow("Score threshold", self.threshold)
        row = QHBoxLayout()
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.tabs, 1)

    # ------------------------------------------------------------------ choices
    def refresh_sources(self, closing: bool = False) -> None:
        """List the active model first, then every version, the shipped default, stored proposals
        (``closing``: the window's project is closing, list only the last two)."""
        project = None if closing else self.window.project
        current = self.source.currentText()
        self.source.clear()
        if project is not None:
            versions = project.list_model_versions()
            versions.sort(key=lambda v: not v.active)
            for v in versions:
                choice = ModelChoice(project.resolve_path(v), v.id, v.name)
                self.source.addItem(f"{v.name} (active)" if v.active else v.name, choice)
        self.source.addItem(SHIPPED_DEFAULT_NAME, ModelChoice(None, None, SHIPPED_DEFAULT_NAME))
        self.source.addItem(STORED, None)
        if current:
            self.source.setCurrentText(current)

    def choose_source(self, name: str) -> None:
        """Select a source by version name, SHIPPED_DEFAULT_NAME or STORED."""
        for i in range(self.source.count()):
            data = self.source.itemData(i)
            if (data is None and name == STORED) or (data is not None and data.name == name):
                self.source.setCurrentIndex(i)
                return
        raise KeyError(f"no detection source named {name!r}")

    def image_ids(self) -> tuple[list[int], str]:
        """(ids in scope, why it is empty)."""
        project, scope = self.window.project, self.scope.currentText()
        if scope == "Selected images":
            return list(self.window.selected_image_ids()), "no images are selected in the list"
        split = Split.VAL if scope == "Reviewed, val split" else None
        infos = project.list_images(split=split, status=ReviewStatus.REVIEWED)
        return [
            i.id for i in infos
        ], f"no {scope.lower()} in this project: review some images first"

    # ------------------------------------------------------------------ running
    @property
    def thread(self) -> JobThread | None:
        return self.job.thread

    @property
    def _run_project(self):
        return self.job.project

    def is_running(self) -> bool:
        return self.job.is_running()  # until its result is delivered, not just until run() ends

    def start(self) -> bool:
        """Run the chosen detections over the chosen images; False (with a message) if refused."""
        project = self.window.project
        if project is None:
            self.status.setText("Open a project first (File > Open Project).")
            return False
        if self.is_running():
            self.status.setText("An inspection is running; cancel it or wait.")
            return False
        ids, why = self.image_ids()
        if not ids:
            self.status.setText(f"Nothing to inspect: {why}.")
            return False
        choice: ModelChoice | None = self.source.currentData()
        run = InspectionRun(STORED if choice is None else choice.name, self.threshold.value())
        run.names = {i.id: i.name for i in project.list_images() if i.id in set(ids)}
        factory = self.factory

        def job(progress: Progress, cancelled: Cancelled) -> InspectionRun:
            if choice is None:
                detect = lambda image_id, _px: stored_detections(project, image_id)  # noqa: E731
            else:
                detect = model_detector(factory, choice.weights)
            return run_inspection(project, ids, run, detect, progress, cancelled)

        label = "stored proposals" if choice is None else f"model {choice.name!r}"
        return self._launch(job, len(ids), f"Inspecting {len(ids)} images with {label}…")

    def rethreshold(self) -> bool:
        """Re-evaluate the current run at the spin box's threshold (no model run)."""
        old = self.current
        if old is None or self.is_running() or self.window.project is not self._run_project:
            return False
        if abs(old.threshold - self.threshold.value()) < 1e-9:
            return False
        project, ids = self.window.project, list(old.raw)
        run = InspectionRun(old.version, self.threshold.value(), raw=old.raw, names=old.names)
        run.failed = {k: v for k, v in old.failed.items() if k not in old.raw}

        def job(progress: Progress, cancelled: Cancelled) -> InspectionRun:
            return run_inspection(project, ids, run, None, progress, cancelled)

        return self._launch(job, len(ids), f"Re-evaluating at score >= {run.threshold:.2f}…")

    def _launch(self, job, total: int, text: str) -> bool:
        if not self.job.start(job, self._on_finished, self._on_failed, self._on_progress):
            return False
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(text)
        return True

    def cancel(self) -> None:
        self.job.cancel()

    def shutdown(self) -> None:
        self.job.stop()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _end(self) -> None:
        """Back to idle (the run ended, failed or was stopped)."""
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _on_failed(self, message: str) -> None:
        self.status.setText(f"Inspection failed: {message}")
        self.run_failed.emit(message)

    def _on_finished(self, run: InspectionRun) -> None:
        # Only while the run's project is still open (PanelJob): results of a closed one are void.
        self.show_run(run)
        if not run.cancelled and abs(run.threshold - self.threshold.value()) > 1e-9:
            self._timer.start()  # the threshold moved while this run was going
        if not run.cancelled:
            try:
                save_summary(self._run_project.root, run.summary)
            except OSError as exc:
                self.status.setText(self.status.text() + f" (summary not saved: {exc})")
        self.run_finished.emit(run)

    # ------------------------------------------------------------------ showing
    def show_run(self, run: InspectionRun) -> None:
        self.current = run
        self.runs[run.version] = run
        if not run.cancelled:
            self.summaries[run.version] = run.summary
        self.gallery.set_cards(run.cards)
        self._fill_summary()
        self._fill_images(run)
        s = run.summary
        text = (f"{run.version} at score >= {run.threshold:.2f}: "
                f"{plural(s.false_alarms, 'false alarm')} "
                f"({s.fa_sky} sky, {s.fa_non_sky} non-sky, {s.fa_unknown} unknown), "
                f"{plural(s.misses, 'miss', 'misses')} over {plural(s.n_images, 'image')}.")  # fmt: skip
        if run.failed:
            text += f" {plural(len(run.failed), 'image')} could not be read."
        if run.cancelled:
            text += " Cancelled: partial result (not saved)."
        self.status.setText(text)

    def _fill_summary(self) -> None:
        rows = [summary_row(s) for _, s in sorted(self.summaries.items())]
        self._fill_table(self.summary_table, rows)

    def _fill_images(self, run: InspectionRun) -> None:
        rows, ids = [], []
        for r in run.results:
            rows.append([r.name, str(r.count("fa")), str(r.count("fa", "sky")),
                         str(r.count("fa", "non-sky")), str(r.count("miss"))])  # fmt: skip
            ids.append(r.image_id)
        self._fill_table(self.image_table, rows, ids)

    @staticmethod
    def _fill_table(
        table: QTableWidget, rows: list[list[str]], ids: list[int] | None = None
    ) -> None:
        table.setSortingEnabled(False)
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem()
                numeric = c > 0 and text.replace(".", "", 1).isdigit()
                item.setData(Qt.ItemDataRole.DisplayRole, float(text) if numeric else text)
                if ids is not None:
                    item.setData(Qt.ItemDataRole.UserRole, ids[r])
                table.setItem(r, c, item)
        table.setSortingEnabled(True)
        table.resizeColumnsToContents()

    def jump_to(self, image_id: int, x: float, y: float) -> None:
        """Show an inspected spot: open its image centred there and outline the box."""
        self.window.goto_image(image_id, center=(x, y))
        boxes = [c.box for c in self.gallery.visible_cards() if c.image_id == image_id]
        canvas = self.window.canvas
        if self.window.current_image_id == image_id:
            canvas.center_on(x, y, zoom=JUMP_ZOOM)  # a 3 px hit is invisible at fit-to-window
            canvas.set_highlight_boxes(boxes, HIT_COLOR)
            self._highlighted = image_id

    def on_image_changed(self, image_id: int) -> None:
        """Outlines belong to one image: clear them when another one is shown."""
        if self._highlighted is not None and self._highlighted != image_id:
            self._highlighted = None
            self.window.canvas.set_highlight_boxes([], HIT_COLOR)

    def _image_row_clicked(self, row: int, _col: int) -> None:
        item = self.image_table.item(row, 0)
        if item is not None:
            self.window.goto_image(int(item.data(Qt.ItemDataRole.UserRole)))

    def on_project_opened(self, project: object) -> None:
        self.on_project_closed()  # nothing of a previous project survives
        self.summaries = load_summaries(project.root) if project is not None else {}
        self._fill_summary()
        self.refresh_sources()

    def on_project_closed(self, _project: object = None) -> None:
        """Stop the run and clear every result of the closing project (and its outlines)."""
        self.job.stop()  # what the stopped run had queued is dropped
        self._end()
        self.on_image_changed(-1)  # no image is shown any more: drop the hit outlines
        self.runs.clear()
        self.summaries, self.current = {}, None
        self.gallery.set_cards([])
        self._fill_images(InspectionRun("", 0.0))
        self._fill_summary()
        self.progress.reset()
        self.status.setText(IDLE_TEXT)
        self.refresh_sources(closing=True)

    def follow_window_threshold(self, value: float) -> None:
        self.threshold.setValue(max(float(value), PROPOSAL_SCORE_THRESHOLD))

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.refresh_sources()  # training may have added versions since
        super().showEvent(event)


def install(window: PanelHost, predictor_factory: PredictorFactory | None = None) -> InspectorPanel:
    """Add the False-alarm inspector dock (hidden until asked for) and its Tools-menu entry."""
    panel = InspectorPanel(window, predictor_factory)
    install_dock(window, panel, DOCK)
    window.project_opened.connect(panel.on_project_opened)
    window.project_closed.connect(panel.on_project_closed)
    # While the dock is hidden a visit does nothing here (app/views.py); the canvas drops
    # outlines with the image they were on.
    follow(panel, window.image_changed, panel.on_image_changed,
           lambda: panel.on_image_changed(window.current_image_id or -1))
    window.score_threshold_changed.connect(panel.follow_window_threshold)
    if window.project is not None:
        panel.on_project_opened(window.project)
    else:
        panel.refresh_sources()
    return panel
