"""Dataset statistics dock: target sizes, local contrast, brightness rank, targets per image, sky.

``install(window)`` adds a "Dataset statistics" dock and a Tools-menu entry. Measures come from
``core.services.inspection`` and are computed on the one job thread (``app.jobs``; reading every image of a big project takes
seconds), with progress and cancel; a cancelled run still shows what it measured so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.docks import Area, DockSpec, Place, Workspace, install_dock
from app.host import PanelHost
from app.jobs import IMAGE_ERRORS, Cancelled, JobThread, PanelJob, Progress
from app.views import follow
from core.domain import ReviewStatus, Split
from core.services.inspection import DatasetStats, as_gray
from widgets.stats_view import StatsView

MENU = "&Tools"
DOCK_NAME = "StatsDock"
DOCK = DockSpec(
    DOCK_NAME, "Dataset statistics", {Workspace.INSPECT: Place(Area.RightDockWidgetArea, 0, fill=True)},
    menu=MENU, menu_text="Dataset &Statistics",
)
# label -> list_images keyword arguments
SCOPES: dict[str, dict[str, object]] = {
    "Reviewed images": {"status": ReviewStatus.REVIEWED},
    "All images": {},
    "Train split": {"split": Split.TRAIN},
    "Val split": {"split": Split.VAL},
}


@dataclass
class StatsResult:
    stats: DatasetStats
    total: int
    failed: dict[int, str]
    cancelled: bool


def compute_stats(
    project, image_ids: list[int], progress: Progress, cancelled: Cancelled
) -> StatsResult:
    """Measure every image (accepted targets + accepted sky); unreadable images are skipped."""
    stats, failed = DatasetStats(), {}
    for n, image_id in enumerate(image_ids, start=1):
        if cancelled():
            return StatsResult(stats, len(image_ids), failed, True)
        try:
            pixels = project.load_pixels(image_id)
            stats.add_image(as_gray(pixels), project.annotation(image_id))
        except IMAGE_ERRORS as exc:
            failed[image_id] = str(exc)
        progress(n, len(image_ids))
    return StatsResult(stats, len(image_ids), failed, False)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_text(result: StatsResult) -> str:
    """One paragraph: counts first, then the medians the paper's Fig. 3 discusses."""
    st = result.stats
    a = st.arrays()
    text = f"{plural(st.n_images, 'image')}, {plural(st.n_targets, 'target')}"
    if st.n_without_sky:
        text += f", {plural(st.n_without_sky, 'image')} without a sky mask"
    if result.failed:
        text += f", {plural(len(result.failed), 'unreadable image')} skipped"
    if result.cancelled:
        text += f" (cancelled after {st.n_images + len(result.failed)} of {result.total})"
    facts = []
    if a["width"].size:
        facts.append(f"median box {np.median(a['width']):g}x{np.median(a['height']):g} px")
    if a["contrast"].size:
        facts.append(f"median local contrast {np.median(a['contrast']):.2f}")
    if a["rank"].size:
        brightest = 100.0 * float(np.mean(a["rank"] == 0.0))
        facts.append(f"{brightest:.0f}% of targets are their image's brightest pixel")
    if not facts:
        return text + "."
    joined = "; ".join(facts)
    return f"{text}. {joined[0].upper()}{joined[1:]}."


class StatsPanel(QWidget):
    """Scope, Compute / Cancel, progress, and the plots."""

    stats_ready = Signal(object)  # StatsResult

    def __init__(self, window) -> None:
        super().__init__()
        self.window = window
        self.job = PanelJob(window, self, on_idle=self._end)
        self.result: StatsResult | None = None
        self.scope = QComboBox()
        self.scope.addItems(list(SCOPES))
        self.scope.setToolTip("Which images to measure")
        self.compute_button = QPushButton("Compute")
        self.compute_button.clicked.connect(self.compute)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m images")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.view = StatsView()
        row = QHBoxLayout()
        for w in (self.scope, self.compute_button, self.cancel_button):
            row.addWidget(w)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.view, 1)

    @property
    def thread(self) -> JobThread | None:
        return self.job.thread

    def is_running(self) -> bool:
        return self.job.is_running()  # until its result is delivered, not just until run() ends

    def image_ids(self) -> list[int]:
        project = self.window.project
        if project is None:
            return []
        return [i.id for i in project.list_images(**SCOPES[self.scope.currentText()])]

    def compute(self) -> bool:
        """Start measuring the chosen images; False (with a message) when it cannot start."""
        project = self.window.project
        if project is None:
            self.status.setText("Open a project first (File > Open Project).")
            return False
        if self.is_running():
            self.status.setText("Statistics are being computed; cancel or wait.")
            return False
        ids = self.image_ids()
        if not ids:
            self.status.setText(
                f"No images in scope {self.scope.currentText()!r}; pick another scope."
            )
            return False
        self.job.start(partial(compute_stats, project, ids), self._on_finished, self._on_failed,
                       self._on_progress)  # fmt: skip
        self.progress.setRange(0, len(ids))
        self.progress.setValue(0)
        self.compute_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"Measuring {len(ids)} images…")
        return True

    def cancel(self) -> None:
        self.job.cancel()

    def shutdown(self) -> None:
        self.job.stop()

    def mark_stale(self, _image_id: int = -1) -> None:
        if self.result is not None and not self.is_running():
            self.status.setText("Labels changed since the last run: press Compute to refresh.")

    def on_project_opened(self, _project: object) -> None:
        self.on_project_closed()

    def on_project_closed(self, _project: object = None) -> None:
        """Stop measuring (the project is closing) and clear the plots of its images."""
        self.job.stop()  # what the stopped job had queued is dropped
        self._end()
        self.result = None
        self.view.clear()
        self.progress.reset()
        self.status.setText("")

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _end(self) -> None:
        """Back to idle (the job ended, failed or was stopped)."""
        self.compute_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _on_finished(self, result: StatsResult) -> None:
        self.result = result
        text = summary_text(result)
        self.view.set_series(result.stats.arrays(), text)
        self.status.setText("Cancelled: partial statistics shown." if result.cancelled else "Done.")
        self.stats_ready.emit(result)

    def _on_failed(self, message: str) -> None:
        self.status.setText(f"Statistics failed: {message}")


def install(window: PanelHost) -> StatsPanel:
    """Add the Dataset statistics dock (hidden until asked for) and its Tools-menu entry."""
    panel = StatsPanel(window)
    install_dock(window, panel, DOCK)
    window.project_opened.connect(panel.on_project_opened)
    window.project_closed.connect(panel.on_project_closed)
    follow(panel, window.rows.subscribe, panel.mark_stale, panel.mark_stale)  # while on screen
    return panel
