"""Retraining in the background: the Training dock, Model-menu actions and the model picker.

``install(window)`` adds a "Training" dock and Model-menu actions. Train starts the train CLI as a
separate process (``app.train_process.TrainProcess``) on the reviewed images of the open project;
its JSON events feed a live plot, a progress bar and an ETA. A "done" event registers a new model
version; the combo box picks the project's active version, which pre-annotation then uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.comparison_view import ComparisonView
from app.docks import Area, DockSpec, Place, Workspace, install_dock
from app.host import PanelHost
from app.model_versions import SHIPPED_DEFAULT_NAME, active_parent, second_look
from app.preannotate_panel import MENU, format_eta
from app.shortcuts import Shortcut, panel_action
from app.train_process import (
    FINE_TUNE,
    TrainOptions,
    TrainProcess,
    find_resumable_run,
    fine_tune_options,
    new_run_dir,
    read_events,
)
from app.training_plan import (  # noqa: F401  (default_command, plan_training: part of this module's API)
    _same_location,
    default_command,
    plan_training,
    register_done_run,
    reviewed_train_count,
)
from app.training_sky import DEFAULT_STEPS as DEFAULT_SKY_STEPS
from app.training_sky import LOSS_NAME, SkyProgress, SkyStageRow, stage_of
from core.domain import ModelVersion, PasteMode
from core.errors import SirstError
from model.config import PRESETS  # plain dataclasses, no torch
from model.ddp_launch import usable_cores  # no torch either
from widgets.scrolling import set_scrolled_layout
from widgets.text import plural
from widgets.train_plot import TrainPlot

DOCK_NAME = "TrainingDock"
DOCK = DockSpec(DOCK_NAME, "Training", {Workspace.TRAIN: Place(Area.RightDockWidgetArea, 0, fill=True)})
IDLE_TEXT = "Train a new model from the reviewed images."
# Registered in the window's shortcut table: listed in the cheat sheet, no key bound twice.
SHORTCUTS = (
    Shortcut("train", "&Train a New Model", ("Ctrl+Shift+T",), "Model"),
    Shortcut("train_stop", "Sto&p Training", (), "Model"),
    Shortcut("train_resume", "&Resume Training", (), "Model"),
)
# (program, arguments) for one run; tests swap in a fake train script.
CommandBuilder = Callable[[Path, Path, TrainOptions], tuple[str, list[str]]]


class TrainingPanel(QWidget):
    """Training controls, live plot and the active-model picker."""

    version_registered = Signal(object)  # ModelVersion
    active_model_changed = Signal(object)  # ModelVersion | None (shipped default)

    def __init__(self, window, process: TrainProcess | None = None) -> None:
        super().__init__()
        self.window = window
        self.process = process or TrainProcess(self)
        self.command_builder: CommandBuilder = default_command
        self.run_dir: Path | None = None
        self._run_root: Path | None = None
        self._opts = TrainOptions()
        self._resumable = False
        self._steps, self._epochs = 1, 1
        self._new_version: ModelVersion | None = None  # registered by the last run, not yet activated
        self._build_widgets()
        self._build_layout()
        self._connect_process()
        self.refresh_versions()
        self._update_buttons()

    # ------------------------------------------------------------------ building
    def _build_widgets(self) -> None:
        self.from_scratch = QCheckBox("From scratch")
        self.from_scratch.setToolTip("Unticked: Train continues the active model for a few minutes "
                                     "(a fine-tune); ticked: a new network from random weights (hours)")
        self.start_from = QLabel("")
        self.start_from.setWordWrap(True)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(FINE_TUNE.epochs)
        self.budget = QDoubleSpinBox()  # train --time-budget-min; 0 = none
        self.budget.setRange(0.0, 10_000.0)
        self.budget.setDecimals(1)
        self.budget.setSuffix(" min")
        self.budget.setSpecialValueText("no limit")
        self.budget.setValue(FINE_TUNE.minutes)
        self.budget.setToolTip("Training stops after this long (validation included); the learning rate "
                               "anneals to reach its end by then")
        self.sky_stage = SkyStageRow()  # the sky network's share of a fine-tune (ADR 0031)
        self.budget.valueChanged.connect(lambda v: self.sky_stage.set_budget(v or None))
        self.sky_stage.set_budget(self.budget.value())
        self._sky = SkyProgress()
        self.from_scratch.toggled.connect(self._on_scratch_toggled)
        self.nproc = QSpinBox()  # data-parallel processes (train --nproc, model/distributed.py)
        self.nproc.setRange(1, max(1, usable_cores()))  # more: refused unless --allow-oversubscribe
        self.nproc.setToolTip("Training processes (torch.distributed); the batch is split among them")
        self.preset = QComboBox()
        self.preset.addItems(PRESETS)
        self.bagcp = QCheckBox("Copy-paste, probability")
        self.bagcp.setChecked(True)
        self.bagcp_prob = QDoubleSpinBox()
        self.bagcp_prob.setRange(0.0, 1.0)
        self.bagcp_prob.setSingleStep(0.1)
        self.bagcp_prob.setValue(0.5)
        self.paste = QComboBox()  # train --paste: BAG-CP, or plain copy-paste (the paper's baseline)
        self.paste.addItem("BAG-CP", PasteMode.BAGCP)
        self.paste.addItem("plain", PasteMode.PLAIN)
        self.paste.setToolTip("BAG-CP: clusters of real targets in the sky, Gaussian blend; "
                              "plain: targets copied as they are, anywhere (for comparison)")
        self.bagcp.toggled.connect(self.bagcp_prob.setEnabled)
        self.bagcp.toggled.connect(self.paste.setEnabled)
        self.train_button = QPushButton("Train")
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume")
        self.train_button.clicked.connect(self.start_training)
        self.stop_button.clicked.connect(self.stop_training)
        self.resume_button.clicked.connect(self.resume_training)
        self.progress = QProgressBar()
        self.status = QLabel(IDLE_TEXT)
        self.status.setWordWrap(True)
        self.eta = QLabel("")
        self.plot = TrainPlot()
        self.error_box = QPlainTextEdit()
        self.error_box.setReadOnly(True)
        self.error_box.setMaximumBlockCount(400)
        self.error_box.hide()
        self.versions = QComboBox()
        self.versions.setToolTip("The model that pre-annotation uses")
        self.versions.currentIndexChanged.connect(self._on_version_picked)
        self.comparison = ComparisonView()
        self.comparison.activate_requested.connect(self.activate_new_version)

    def _build_layout(self) -> None:
        form = QFormLayout()
        form.addRow("Active model", self.versions)
        start = QHBoxLayout()
        start.addWidget(self.start_from, 1)
        start.addWidget(self.from_scratch)
        form.addRow("Start from", start)
        form.addRow("Epochs", self.epochs)
        budget = QHBoxLayout()
        budget.addWidget(self.budget, 1)
        budget.addWidget(self.sky_stage)  # the sky network's share of the budget (ADR 0031)
        form.addRow("Time budget", budget)
        form.addRow("Processes", self.nproc)
        form.addRow("Preset", self.preset)
        bag = QHBoxLayout()
        bag.addWidget(self.bagcp)
        bag.addWidget(self.bagcp_prob)
        bag.addWidget(self.paste)
        form.addRow(bag)
        buttons = QHBoxLayout()
        for b in (self.train_button, self.stop_button, self.resume_button):
            buttons.addWidget(b)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.eta)
        layout = QVBoxLayout()
        set_scrolled_layout(self, layout)  # a short dock scrolls, the window keeps its size
        self.plot.setMinimumHeight(160)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.comparison)
        layout.addWidget(self.plot, 3)
        layout.addWidget(self.error_box, 1)

    def _connect_process(self) -> None:
        p = self.process
        p.run_started.connect(self._on_start)
        p.step_logged.connect(self._on_step)
        p.epoch_finished.connect(self._on_epoch)
        p.checkpoint_saved.connect(self._on_checkpoint)
        p.training_finished.connect(self._on_done)
        p.comparison_progress.connect(self._on_compare_progress)
        p.comparison_ready.connect(self._on_comparison)
        p.training_failed.connect(self._on_failed)
        p.training_stopped.connect(self._on_stopped)
        p.process_exited.connect(self._on_exited)

    # ------------------------------------------------------------------ actions
    def options(self) -> TrainOptions:
        """The dock's settings (BAG-CP unticked = probability 0, i.e. off in the train CLI)."""
        prob = self.bagcp_prob.value() if self.bagcp.isChecked() else 0.0
        budget = self.budget.value() or None
        share = self.sky_stage.share()
        return TrainOptions(
            epochs=self.epochs.value(), preset=self.preset.currentText(), bagcp_prob=prob,
            paste=PasteMode(self.paste.currentData()), nproc=self.nproc.value(),
            time_budget_min=budget, sky_share=share if budget else 0.0,
            sky_steps=DEFAULT_SKY_STEPS if share and not budget else 0,
        )

    def start_training(self) -> bool:
        """Start a new run in a fresh ``models/runs/<timestamp>`` folder."""
        project = self.window.project
        if project is None:
            return self._say("Open a project first (File > Open Project).")
        if self.process.is_running():
            return self._say("Training is already running; stop it first.")
        flags, note = plan_training(project)
        if note.startswith("Cannot train"):
            return self._say(note)
        opts = replace(self.options(), extra=flags)
        if not self.from_scratch.isChecked():
            try:
                parent = active_parent(project)
            except SirstError as exc:
                return self._say(f"Cannot fine-tune: {exc}.")
            opts = fine_tune_options(opts, parent, reviewed_train_count(project))
        self.plot.clear()
        started = self._launch(project.location, new_run_dir(project.root), opts)
        split = f" {self.sky_stage.text()}." if not self.from_scratch.isChecked() else ""
        self._say(f"Starting training: {note}{split}")
        return started

    def resume_training(self) -> bool:
        """Continue the last stopped or failed run in the same folder (``--resume``)."""
        if self.run_dir is None or self._run_root is None or not self._resumable:
            return self._say("Nothing to resume: no stopped run with a saved checkpoint.")
        if self.process.is_running():
            return self._say("Training is already running.")
        # Same run, same data flags and preset; the epoch count may have been raised to extend it.
        opts = replace(self._opts, resume=True, epochs=self.epochs.value())
        return self._launch(self._run_root, self.run_dir, opts)

    def stop_training(self) -> bool:
        if not self.process.stop():
            return self._say("No training is running.")
        self._say("Stopping: the run saves a checkpoint, then exits…")
        self._update_buttons()
        return True

    def _launch(self, root: Path, run_dir: Path, opts: TrainOptions) -> bool:
        program, args = self.command_builder(root, run_dir, opts)
        self.run_dir, self._run_root, self._opts = run_dir, root, opts
        self._resumable = False
        self.error_box.clear()
        self.error_box.hide()
        self.comparison.clear()
        self._new_version = None
        if not opts.resume:  # a resumed run continues from where its bar stopped
            self.progress.setValue(0)
        self.eta.setText("")
        self.process.start(args, program=program)
        self._say(f"Starting training in {run_dir}…")
        self._update_buttons()
        return True

    # ------------------------------------------------------------------ events
    def _on_start(self, ev: dict) -> None:
        if stage_of(ev) == "sky":
            self.progress.setMaximum(self._sky.maximum())
            self.progress.setValue(self._sky.detector_total)
            self._say("Detector done; fine-tuning the sky network on the same images…")
            return
        self._steps = max(int(ev.get("steps_per_epoch") or 1), 1)
        self._epochs = max(int(ev.get("epochs") or self._opts.epochs), 1)
        shown = self.progress.value() if self._opts.resume else 0
        self.progress.setMaximum(self._epochs * self._steps)
        self._sky.plan(self._epochs * self._steps, self._epochs, self._opts.sky_share, self._opts.time_budget_min)
        resumed = int(ev.get("resumed_from_epoch") or 0)
        # The start event only counts whole epochs; a run stopped mid-epoch resumes at its saved
        # step, so never step the bar back (the next step event sets the exact value).
        self.progress.setValue(max(resumed * self._steps, shown))
        self.plot.set_epochs(self._epochs)
        note = (f" (resumed after epoch {resumed})" if resumed
                else " (resumed)" if self._opts.resume else "")  # fmt: skip
        self._say(f"Training {plural(self._epochs, 'epoch')} × "
                  f"{plural(self._steps, 'step')}{note}.")  # fmt: skip

    def _on_step(self, ev: dict) -> None:
        if stage_of(ev) == "sky":
            self.plot.add_step(self._sky.x(ev), {LOSS_NAME: ev.get("loss")})
            self.progress.setValue(self._sky.value(ev))
            self._say(self._sky.status(ev))
            self._show_eta(ev)
            return
        epoch, step = int(ev.get("epoch", 1)), int(ev.get("step", 0))
        steps = max(int(ev.get("steps") or self._steps), 1)
        self.plot.add_step(_step_x(ev, self._steps), ev.get("losses") or {})
        self.progress.setValue((epoch - 1) * steps + step)
        self._show_eta(ev)

    def _on_epoch(self, ev: dict) -> None:
        if stage_of(ev) == "sky":
            return  # no validation in the sky stage: the comparison after the run shows its figures
        epoch = int(ev.get("epoch", 0))
        val = ev.get("val") or {}
        self.plot.add_epoch(epoch, val)
        best = " (best so far)" if ev.get("best") else ""
        shown = ", ".join(f"{k} {v:.3f}" for k, v in val.items() if isinstance(v, int | float))
        self._say(f"Epoch {epoch}/{self._epochs}: {shown}{best}")
        self._show_eta(ev)

    def _on_checkpoint(self, _ev: dict) -> None:
        self._resumable = True  # a stop or crash from now on can be resumed

    def _on_done(self, ev: dict) -> None:
        self._resumable = False
        self.eta.setText("")
        self.progress.setValue(self.progress.maximum())
        try:
            mv = self._register(ev)
        except SirstError as exc:
            self._show_error(f"Training finished but its model could not be registered: {exc}")
            return
        self.refresh_versions()
        self._new_version = mv
        then = ("comparing it with the active model…" if self._opts.compare
                else "pick it as the active model.")  # fmt: skip
        self._say(f"Training finished: model version {mv.name!r} added; {then} {second_look(self.window.project, mv)}".rstrip())
        self.version_registered.emit(mv)

    def _on_compare_progress(self, ev: dict) -> None:
        self.comparison.show_progress(int(ev.get("done") or 0), int(ev.get("total") or 0))

    def _on_comparison(self, ev: dict) -> None:
        self.comparison.show_comparison(ev, can_activate=self._new_version is not None)
        if self._new_version is not None:
            self._say(f"Compare, then activate {self._new_version.name!r} if it is better "
                      "(or keep the active model).")  # fmt: skip

    def activate_new_version(self) -> bool:
        """Make the model of the last run the active one (the "Activate" button)."""
        project, mv = self.window.project, self._new_version
        if project is None or mv is None:
            return self._say("No new model to activate.")
        index = self.versions.findData(mv.id)
        if index < 0:
            return self._say(f"Model version {mv.name!r} is not in the open project.")
        self.versions.setCurrentIndex(index)  # -> _on_version_picked: stored, signal sent
        self.comparison.activate_button.setEnabled(False)
        return True

    def _on_scratch_toggled(self, scratch: bool) -> None:
        """From scratch needs epochs, not minutes; a fine-tune the reverse (the defaults swap)."""
        self.epochs.setValue(5 if scratch else FINE_TUNE.epochs)
        self.budget.setValue(0.0 if scratch else FINE_TUNE.minutes)
        self.sky_stage.set_fine_tune(not scratch)
        self._show_start_from()

    def _show_start_from(self) -> None:
        project = self.window.project
        self.preset.setEnabled(self.from_scratch.isChecked())  # a fine-tune keeps its parent's preset
        if self.from_scratch.isChecked():
            self.start_from.setText("random weights")
            return
        try:
            name = active_parent(project).name
        except SirstError as exc:
            name = f"(unusable: {exc})"
        self.start_from.setText(f"the active model, {name}")

    def _on_failed(self, message: str, stderr: str) -> None:
        self.eta.setText("")
        hint = " Resume continues from the last checkpoint." if self._resumable else ""
        self._show_error(f"Training failed: {message}.{hint}", stderr)

    def _on_stopped(self, code: int) -> None:
        self.eta.setText("")
        if code == 3 or self._resumable:
            self._resumable = True
            self._say("Training stopped; its checkpoint is saved. Resume continues it.")
        else:
            self._say("Training was stopped before its first checkpoint; start a new run.")

    def _on_exited(self, _code: int) -> None:
        self._update_buttons()

    def _register(self, ev: dict) -> ModelVersion:
        project = self.window.project
        if project is not None and _same_location(project.location, self._run_root):
            return register_done_run(project, ev, self.run_dir, self._opts)
        # The user switched projects while training: register into the run's own project.
        from core.store.project import Project

        with Project.open(self._run_root) as other:
            return register_done_run(other, ev, self.run_dir, self._opts)

    # ------------------------------------------------------------------ model versions
    def refresh_versions(self) -> None:
        """Reload the combo box from the project (shipped default first)."""
        self._fill_versions(self.window.project)

    def _fill_versions(self, project) -> None:
        self.versions.blockSignals(True)  # repopulating is not a user choice
        self.versions.clear()
        self.versions.addItem(SHIPPED_DEFAULT_NAME, None)
        current = 0
        if project is not None:
            for mv in project.list_model_versions():
                mAP = mv.metrics.get("mAP07")
                label = f"{mv.name} (mAP07 {mAP:.3f})" if isinstance(mAP, int | float) else mv.name
                self.versions.addItem(label, mv.id)
                if mv.active:
                    current = self.versions.count() - 1
        self.versions.setCurrentIndex(current)
        self.versions.setEnabled(project is not None)
        self.versions.blockSignals(False)
        self._show_start_from()

    def _on_version_picked(self, index: int) -> None:
        project = self.window.project
        if project is None or index < 0:
            return
        version_id = self.versions.itemData(index)
        project.set_active_model(version_id)
        active = project.active_model()
        self._say(f"Pre-annotation now uses {active.name if active else SHIPPED_DEFAULT_NAME!r}.")
        self._show_start_from()
        self.active_model_changed.emit(active)

    # ------------------------------------------------------------------ helpers
    def _show_eta(self, ev: dict) -> None:
        eta = ev.get("eta_s")
        if isinstance(eta, int | float) and stage_of(ev) is None:
            eta += self._sky.sky_seconds  # the sky stage follows the detector's
        self.eta.setText(f"ETA {format_eta(float(eta))}" if isinstance(eta, int | float) else "")

    def _show_error(self, message: str, details: str = "") -> None:
        self._say(message)
        self.error_box.setPlainText(message + ("\n\n" + details if details else ""))
        self.error_box.show()
        self._update_buttons()

    def _say(self, text: str) -> bool:
        self.status.setText(text)
        return False

    def _update_buttons(self, has_project: bool | None = None) -> None:
        running = self.process.is_running()
        if has_project is None:
            has_project = self.window.project is not None
        self.train_button.setEnabled(has_project and not running)
        self.stop_button.setEnabled(running)
        self.resume_button.setEnabled(not running and self._resumable)

    def on_project_opened(self, project: object) -> None:
        self.refresh_versions()
        if project is not None and not self.process.is_running():
            self._offer_unfinished_run(Path(project.root))
        self._update_buttons()

    def on_project_closed(self, _project: object = None) -> None:
        """Back to "no project": shipped default only, Train off. A run in progress goes on (a
        separate process; its model is registered into its own project) and can be stopped."""
        self._fill_versions(None)
        if not self.process.is_running():
            self.run_dir = self._run_root = None
            self._resumable = False
            self.plot.clear()
            self.progress.reset()
            self.eta.setText("")
            self.error_box.clear()
            self.error_box.hide()
            self.comparison.clear()
            self._say(IDLE_TEXT)
        self._update_buttons(has_project=False)

    def _offer_unfinished_run(self, root: Path) -> None:
        """A run stopped or crashed in an earlier session can be resumed from its last.pt."""
        run_dir = find_resumable_run(root)
        self._resumable = run_dir is not None
        if run_dir is None:
            return
        flags, _note = plan_training(self.window.project)
        self.run_dir, self._run_root = run_dir, root
        # its original budget is unknown here: the resumed run goes on to the end of its epochs (and
        # a sky stage, when one was asked for or had begun, by step count)
        sky = self.sky_stage.active() or (run_dir / "sky").is_dir()
        self._opts = replace(self.options(), extra=flags, time_budget_min=None, sky_share=0.0,
                             sky_steps=DEFAULT_SKY_STEPS if sky else 0)
        self._replay(read_events(run_dir))
        self.epochs.setValue(self._epochs)  # Resume continues to the run's own number of epochs
        self._say(f"Run {run_dir.name} did not finish; Resume continues it.")

    def _replay(self, events: list[dict]) -> None:
        """Redraw a run's curves from its logged events (the plot continues on resume)."""
        self.plot.clear()
        for ev in events:
            if stage_of(ev) == "sky":
                if ev["event"] == "step":
                    self.plot.add_step(self._sky.x(ev), {LOSS_NAME: ev.get("loss")})
            elif ev["event"] == "start":
                self._steps = max(int(ev.get("steps_per_epoch") or 1), 1)
                self._epochs = max(int(ev.get("epochs") or 1), 1)
                self._sky.plan(self._epochs * self._steps, self._epochs, 0.0, None)
                self.plot.set_epochs(self._epochs)
                self.progress.setMaximum(self._epochs * self._steps)
            elif ev["event"] == "step":
                self.plot.add_step(_step_x(ev, self._steps), ev.get("losses") or {})
                done = (int(ev.get("epoch", 1)) - 1) * self._steps + int(ev.get("step", 0))
                self.progress.setValue(min(done, self.progress.maximum()))
            elif ev["event"] == "epoch":
                self.plot.add_epoch(int(ev.get("epoch", 0)), ev.get("val") or {})
        self.plot.redraw()


def _step_x(ev: dict, default_steps: int) -> float:
    """A step event's position in epochs: the CLI counts epochs from 1 and steps from 1."""
    steps = max(int(ev.get("steps") or default_steps), 1)
    return int(ev.get("epoch", 1)) - 1 + int(ev.get("step", 0)) / steps


def _add_actions(window, panel: TrainingPanel, dock: QDockWidget) -> None:
    menu = window.tool_menu(MENU)

    def train() -> None:
        window.show_dock(dock)
        panel.start_training()

    slots = (train, panel.stop_training, panel.resume_training)
    for spec, slot in zip(SHORTCUTS, slots, strict=True):
        menu.addAction(panel_action(window, spec, slot))


def install(window: PanelHost) -> None:
    """Add the Training dock and the Model-menu training actions to ``window``."""
    panel = TrainingPanel(window)
    dock = install_dock(window, panel, DOCK)
    _add_actions(window, panel, dock)
    window.project_opened.connect(panel.on_project_opened)
    window.project_closed.connect(panel.on_project_closed)
    app = QCoreApplication.instance()
    if app is not None:
        # A run in progress saves its checkpoint instead of being orphaned or killed mid-write.
        app.aboutToQuit.connect(panel.process.shutdown)
