"""The label-noise finder (issue 20): reviewed labels the model strongly disputes, as a queue with
one-key answers.

"Find Label Noise" (Review menu) scans the reviewed images' stored labels against their stored
model result (core.attention: labels the model scores near zero, detections at the operating
point with no label, sky regions the model contradicts), image by image in the order that found
the most injected errors (benchmarks/bench_noise_finder.py). Each entry opens its image centred on
the spot; the answers:

- M, take the model's view: the label is deleted, the detection accepted, the sky region set as
  the model sees it (an undoable edit of that image);
- K, keep the label: remembered in the project, never shown again;
- Shift+M, mark for a second look: remembered, and a line in the image's note says what to check.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.docks import Area, DockSpec, Place, Workspace, install_dock
from app.host import PanelHost
from app.jobs import PanelJob
from app.shortcuts import Shortcut, key_text, panel_action
from core.attention import DisputeKind, Verdict
from core.errors import SirstError
from core.store.attention_store import QueueItem, accept_model_edit, second_look_edit
from widgets.text import plural

MENU = "&Review"
DOCK_NAME = "dock_label_noise"
DOCK = DockSpec(DOCK_NAME, "Label noise",
                {Workspace.INSPECT: Place(Area.RightDockWidgetArea, 0, fill=True)})  # fmt: skip
FIND = Shortcut("noise_find", "Find &Label Noise in Reviewed Images", ("Ctrl+Shift+L",), "Review")
TAKE = Shortcut("noise_take_model", "Label noise: take the &model's view", ("M",), "Review")
KEEP = Shortcut("noise_keep", "Label noise: &keep the label", ("K",), "Review")
SECOND = Shortcut("noise_second_look", "Label noise: mark for a &second look", ("Shift+M",), "Review")
JUMP_ZOOM = 6.0  # as the false-alarm inspector: a 3 px label is invisible at fit-to-window
HIT_COLOR = "#ffb000"
IDLE_TEXT = "Finds reviewed labels the model disputes. Pre-annotate reviewed images first."


class NoisePanel(QWidget):
    """Find button, the queue, and the three answers."""

    def __init__(self, window) -> None:
        super().__init__()
        self.window = window
        self.items: list[QueueItem] = []
        self.job = PanelJob(window, self)
        self.find_button = QPushButton("Find label noise")
        self.find_button.clicked.connect(self.start)
        self.status = QLabel(IDLE_TEXT)
        self.status.setWordWrap(True)
        self.queue = QListWidget()
        self.queue.setObjectName("noise_queue")
        self.queue.currentRowChanged.connect(self._on_row)
        self.buttons = {}
        row = QHBoxLayout()
        for spec, verdict in ((TAKE, None), (KEEP, Verdict.KEPT), (SECOND, Verdict.SECOND_LOOK)):
            label = spec.label.split(": ", 1)[1].replace("&", "")
            button = QPushButton(f"{label[0].upper()}{label[1:]} ({key_text(spec)})")
            button.clicked.connect(lambda _c=False, v=verdict: self.answer(v))
            row.addWidget(button)
            self.buttons[spec.action_id] = button
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(self.find_button)
        top.addWidget(self.status, 1)
        layout.addLayout(top)
        layout.addWidget(self.queue, 1)
        layout.addLayout(row)

    # ------------------------------------------------------------------ scan
    def start(self) -> bool:
        project = self.window.project
        if project is None:
            self.window.show_message("Open a project first.")
            return False
        operating = float(self.window.score_threshold)
        started = self.job.start(lambda progress, cancelled: project.noise_queue(operating, progress,
                                                                                 cancelled),
                                 self.show_items, self.status.setText, self._on_progress)  # fmt: skip
        if started:
            self.status.setText("Scanning the reviewed images...")
        return started

    def wait(self, timeout_ms: int = 60_000) -> None:
        """Block until a scan finished and its queue is shown (tests, scripts)."""
        self.job.wait(timeout_ms)

    def _on_progress(self, done: int, total: int) -> None:
        self.status.setText(f"Scanning the reviewed images: {done} / {total}")

    def show_items(self, items: list[QueueItem]) -> None:
        self.items = list(items)
        self.queue.blockSignals(True)
        self.queue.clear()
        for item in self.items:
            entry = QListWidgetItem(f"{item.image_name}: {item.dispute.describe()}")
            entry.setData(Qt.ItemDataRole.UserRole, item.image_id)
            self.queue.addItem(entry)
        self.queue.blockSignals(False)
        images = len({i.image_id for i in self.items})
        self.status.setText(f"{plural(len(self.items), 'label')} in dispute on "
                            f"{plural(images, 'reviewed image')}." if self.items else
                            "The model disputes no reviewed label.")  # fmt: skip
        if self.items:
            self.queue.setCurrentRow(0)

    # ------------------------------------------------------------------ answers
    def current(self) -> QueueItem | None:
        row = self.queue.currentRow()
        return self.items[row] if 0 <= row < len(self.items) else None

    def answer(self, verdict: Verdict | None) -> bool:
        """``None``: take the model's view; else remember ``verdict``. Moves to the next entry."""
        item, project = self.current(), self.window.project
        if item is None or project is None:
            self.window.show_message("The label-noise queue is empty: Review > Find Label Noise.")
            return False
        if self.window.refuse_if_read_only():
            return False
        try:
            if verdict is None:
                self.window.apply_edit(accept_model_edit(project.labels(item.image_id), item.dispute))
            else:
                project.set_verdict(item.image_id, item.dispute, verdict)
                if verdict is Verdict.SECOND_LOOK:
                    edit = second_look_edit(project.get_image(item.image_id), item.dispute)
                    if edit is not None:
                        self.window.apply_edit(edit)
        except SirstError as exc:
            self.window.show_message(str(exc))
            return False
        row = self.queue.currentRow()
        self.items.pop(row)
        self.queue.blockSignals(True)  # the next entry is shown once, below
        self.queue.takeItem(row)
        self.queue.setCurrentRow(min(row, len(self.items) - 1))
        self.queue.blockSignals(False)
        self.status.setText(f"{plural(len(self.items), 'label')} left in dispute.")
        self._on_row(self.queue.currentRow())
        return True

    def _on_row(self, row: int) -> None:
        if not 0 <= row < len(self.items):
            return
        item = self.items[row]
        x0, y0, x1, y1 = item.dispute.box
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        self.window.goto_image(item.image_id, center=(cx, cy))
        canvas = self.window.canvas
        if self.window.current_image_id != item.image_id:
            return
        if item.dispute.kind is not DisputeKind.SKY:
            canvas.center_on(cx, cy, zoom=JUMP_ZOOM)
        canvas.set_highlight_boxes([item.dispute.box], HIT_COLOR)

    # ------------------------------------------------------------------ project
    def on_project_closed(self, _project=None) -> None:
        self.job.stop()
        self.show_items([])
        self.status.setText(IDLE_TEXT)


def install(window: PanelHost) -> NoisePanel:
    """The "Label noise" dock (hidden until asked for), its Review-menu entry and keys."""
    panel = NoisePanel(window)
    dock = install_dock(window, panel, DOCK)  # the Inspect workspace, tabbed with False alarms

    def find() -> None:
        window.show_dock(dock)
        panel.start()

    menu = window.tool_menu(MENU)
    menu.addAction(panel_action(window, FIND, find))
    for spec, verdict in ((TAKE, None), (KEEP, Verdict.KEPT), (SECOND, Verdict.SECOND_LOOK)):
        menu.addAction(panel_action(window, spec, lambda v=verdict: panel.answer(v)))
    window.project_closed.connect(panel.on_project_closed)
    window.keep_panel("noise_panel", panel)
    return panel
