"""A warm model: the project's active predictor, loaded in the background when a project opens.

Loading the predictor (torch, the weights, ONNX Runtime sessions; on a fresh install also the
export of the ONNX graphs into the cache, model/onnx_export.py) and its first run took most of
the first pre-annotation of a session (issue 19). ``ModelWarmer`` does both on a worker thread as
soon as a project is open, keeps the loaded predictor, and hands it to every pre-annotation and
inspection run that asks for the same weights, so only the network's own time is left for them.

One predictor is kept: the one of the open project's active model (the shipped default when it
has none). A project switch or a change of the active model loads the new one; a load in flight
for a model no longer wanted finishes on its thread (a torch or ONNX Runtime build cannot be
interrupted) and is dropped. The status bar says "Loading model…" / "Model ready".
``SIRST_STUDIO_WARM_MODEL=0`` switches the background load off (each run then loads its model).
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel

from app.gui_gc import ensure_gui_thread_gc
from app.host import PanelHost
from app.jobs import JobThread
from app.preannotate_worker import (
    ModelChoice,
    PredictorFactory,
    PredictorLike,
    default_predictor_factory,
    resolve_model_choice,
)

log = logging.getLogger(__name__)

WARM_ENV = "SIRST_STUDIO_WARM_MODEL"
# The first network run allocates ONNX Runtime's buffers and picks its kernels (about twice a
# later run); one run on a blank frame of the common DenseSIRST size pays that in the background.
WARMUP_SHAPE = (512, 640)
START_DELAY_MS = 150  # let the project's first image paint before the load competes for the CPU
QUIT_WAIT_MS = 60_000  # a load cannot be interrupted; it must finish before the app exits


class ModelState(enum.Enum):
    NONE = "none"  # no project open, or the background load is switched off
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


STATUS_TEXT = {
    ModelState.NONE: "",
    ModelState.LOADING: "Loading model…",
    ModelState.READY: "Model ready",
    ModelState.FAILED: "Model not loaded",
}


def warm_up_enabled() -> bool:
    return os.environ.get(WARM_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class ModelKey:
    """Which weights a predictor was built from: the path and the file's (mtime, size), so a file
    replaced under the same name is loaded again. ``path`` None: the shipped default."""

    path: str | None
    stamp: tuple[int, int] = (0, 0)


def model_key(weights: Path | None) -> ModelKey:
    if weights is None:
        return ModelKey(None)
    path = Path(weights)
    try:
        st = path.stat()
    except OSError:
        return ModelKey(str(path), (0, -1))  # missing: the load reports it
    return ModelKey(str(path.resolve()), (st.st_mtime_ns, st.st_size))


def warm_up(predictor: PredictorLike) -> None:
    """One prediction on a blank frame (a stand-in predictor without ``predict``: nothing)."""
    predict = getattr(predictor, "predict", None)
    if predict is not None:
        predict(np.zeros(WARMUP_SHAPE, np.uint8))


_frozen = False


def freeze_import_objects() -> None:
    """Once per process, after the first model load (GUI thread): the objects torch and ONNX
    Runtime brought leave garbage collection for good (GuiThreadGarbageCollector.freeze)."""
    global _frozen
    collector = ensure_gui_thread_gc()
    if _frozen or collector is None:
        return
    _frozen = True
    count = collector.freeze()
    log.debug("froze %d objects after the model load", count)


def _load_job(choice: ModelChoice, factory: PredictorFactory, future: Future):
    """A job (app/jobs.py) that builds one predictor and runs it once; the predictor (or the
    load's error) goes into ``future``; returns the seconds it took."""

    def job(_progress, cancelled) -> float:
        t0 = time.perf_counter()
        try:
            predictor = factory(choice.weights)
            if not cancelled():  # nobody wants it any more: skip the run
                warm_up(predictor)
        except Exception as exc:  # noqa: BLE001 - any load failure is reported, not raised here
            log.warning("background load of model %r failed: %s", choice.name, exc)
            future.set_exception(exc)
        else:
            future.set_result(predictor)
        return time.perf_counter() - t0

    return job


class ModelWarmer(QObject):
    """Keeps the active model's predictor loaded; ``predictor_for`` is a PredictorFactory."""

    state_changed = Signal(object)  # ModelState
    _stored = Signal(object)  # a predictor loaded by a run (any thread) is now the kept one

    def __init__(self, window, factory: PredictorFactory | None = None,
                 enabled: bool | None = None) -> None:  # fmt: skip
        super().__init__(window)
        self.window = window
        self.factory = factory or default_predictor_factory
        self.enabled = warm_up_enabled() if enabled is None else enabled
        self.state = ModelState.NONE
        self.detail = ""  # model name and load time, or why it failed (the label's tooltip)
        self._lock = threading.Lock()  # guards _key / _future: runs ask from their threads
        self._key: ModelKey | None = None
        self._future: Future | None = None
        self._loaders: set[JobThread] = set()  # loads in flight (one wanted, older ones)
        self._stored.connect(self._on_stored)

    # ------------------------------------------------------------------ GUI thread
    def warm(self, choice: ModelChoice) -> None:
        """Load ``choice`` in the background unless it is the model kept or being loaded."""
        key = model_key(choice.weights)
        with self._lock:
            kept = self._future if key == self._key else None
        if kept is not None and not (kept.done() and kept.exception() is not None):
            if kept.done():  # kept from before (the same model as the last project's)
                self._set_state(ModelState.READY, f"{choice.name!r} loaded")
            else:
                self._set_state(ModelState.LOADING, f"Loading {choice.name!r}")
            return
        with self._lock:
            for loader in self._loaders:  # an older request: let it finish without the run
                loader.requestInterruption()
            future: Future = Future()
            self._key, self._future = key, future
        loader = JobThread(_load_job(choice, self.factory, future), parent=self)
        loader.task_finished.connect(
            lambda seconds: self._on_loaded(key, choice, future, float(seconds)))
        loader.finished.connect(lambda: self._loaders.discard(loader))
        loader.finished.connect(loader.deleteLater)
        self._loaders.add(loader)
        self._set_state(ModelState.LOADING, f"Loading {choice.name!r}")
        loader.start()

    def warm_current(self) -> None:
        """Warm the open project's active model (nothing without a project or when switched off)."""
        project = self.window.project
        if project is None or not self.enabled:
            return
        try:
            choice = resolve_model_choice(project)
        except Exception as exc:  # noqa: BLE001 - a project that cannot say: the run will tell
            log.warning("cannot tell the active model: %s", exc)
            return
        self.warm(choice)

    def on_project_opened(self, project) -> None:
        if not self.enabled:
            return

        def start() -> None:
            if self.window.project is project:  # not closed or replaced meanwhile
                self.warm_current()

        QTimer.singleShot(START_DELAY_MS, self, start)

    def on_project_closed(self, _project=None) -> None:
        """The predictor is kept (the next project most likely runs the same model); a load in
        flight skips its warm-up run. The label goes: no project, no model to speak of."""
        for loader in self._loaders:
            loader.requestInterruption()
        self._set_state(ModelState.NONE, "")

    def shutdown(self, wait_ms: int = QUIT_WAIT_MS) -> None:
        """Wait for loads in flight (app exit): a QThread destroyed while running aborts."""
        for loader in list(self._loaders):
            loader.requestInterruption()
            loader.wait(wait_ms)

    def _on_loaded(self, key: ModelKey, choice: ModelChoice, future: Future, seconds: float) -> None:
        with self._lock:
            current = key == self._key and self._future is future
        if not current or self.window.project is None:
            return  # a model no longer wanted, or the project closed meanwhile
        error = future.exception()
        name = choice.name
        if error is not None:
            self._set_state(ModelState.FAILED, f"Cannot load {name!r}: {error}")
        else:
            freeze_import_objects()
            self._set_state(ModelState.READY, f"{name!r} loaded in {seconds:.1f} s")

    def _on_stored(self, key: ModelKey) -> None:
        freeze_import_objects()
        with self._lock:
            current = key == self._key
        if current and self.window.project is not None:
            self._set_state(ModelState.READY, "Loaded by a run")

    def _set_state(self, state: ModelState, detail: str) -> None:
        self.state, self.detail = state, detail
        self.state_changed.emit(state)

    # ------------------------------------------------------------------ any thread
    def predictor_for(self, weights: Path | None) -> PredictorLike:
        """The kept predictor of ``weights`` (waiting for its background load), else one loaded
        now, on the caller's thread, and kept."""
        key = model_key(weights)
        with self._lock:
            future = self._future if key == self._key else None
        if future is not None:
            try:
                return future.result()
            except Exception:  # noqa: BLE001 - load again here: the run reports the error
                pass
        predictor = self.factory(weights)
        done: Future = Future()
        done.set_result(predictor)
        with self._lock:
            kept = self._future if key == self._key else None
            # Kept unless a load of the same weights started meanwhile: the run resolved the
            # active model itself, so its weights are the ones the next run asks for too.
            if kept is None or kept is future:
                self._key, self._future = key, done
        self._stored.emit(key)
        return predictor


class ModelStatusLabel(QLabel):
    """The status bar's "Loading model…" / "Model ready" (tooltip: which model, how long)."""

    def __init__(self, warmer: ModelWarmer) -> None:
        super().__init__("")
        self.setObjectName("model_status_label")
        self.warmer = warmer
        warmer.state_changed.connect(self.show_state)

    def show_state(self, state: ModelState) -> None:
        self.setText(STATUS_TEXT[state])
        self.setToolTip(self.warmer.detail)
        self.setVisible(state is not ModelState.NONE)


def install(window: PanelHost) -> ModelWarmer:
    """Warm the model of every project the window opens; runs of the Pre-annotation dock and of
    the inspector use the kept predictor. Installed after those panels (app/extensions.py)."""
    from app.inspector_panel import InspectorPanel
    from app.preannotate_panel import PreannotateController
    from app.training_panel import TrainingPanel

    controller = window.findChild(PreannotateController)
    base = controller.predictor_factory if controller is not None else None
    warmer = ModelWarmer(window, base)
    if controller is not None:
        controller.predictor_factory = warmer.predictor_for
    inspector = window.findChild(InspectorPanel)
    if inspector is not None and inspector.factory is default_predictor_factory:
        inspector.factory = warmer.predictor_for
    training = window.findChild(TrainingPanel)
    if training is not None:  # the user picked another model: load that one
        training.active_model_changed.connect(lambda _mv: warmer.warm_current())
    label = ModelStatusLabel(warmer)
    label.hide()
    window.statusBar().addPermanentWidget(label)
    window.keep_panel("model_warmer", warmer)  # its state is read by app/screen_probe.py
    window.project_opened.connect(warmer.on_project_opened)
    window.project_closed.connect(warmer.on_project_closed)
    app = QCoreApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(warmer.shutdown)
    return warmer
