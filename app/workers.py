"""Background workers that keep model inference and long jobs off the GUI thread.

``PreannotateWorker`` runs a model over images; ``TaskThread`` runs any
``fn(progress, cancelled)`` job (statistics, inspection, BAG-CP library builds). Each worker is a ``QThread`` subclass whose ``run()`` does the work and reports through typed,
past-tense signals (delivered to GUI-thread receivers as queued connections). Cancellation uses
``requestInterruption()`` and is checked between units of work, so a cancelled run never leaves a
half-written image behind: images finished before the cancel stay done, the rest are untouched.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal

from app.proposals import proposal_from_prediction, store_proposal
from core.errors import SirstError
from model.pipeline import PipelineStats, run_pipeline

log = logging.getLogger(__name__)

# Proposals are stored down to this score so the window's score slider can re-filter them live
# without running the model again (the paper's test-time threshold is 0.05 too).
PROPOSAL_SCORE_THRESHOLD = 0.05
from app.model_versions import SHIPPED_DEFAULT_NAME  # noqa: E402  (re-exported)

# Per-image failures that must not stop a batch: unreadable files, DB refusals (wrong mask shape),
# model errors on one odd image (torch raises RuntimeError / ValueError for bad shapes).
IMAGE_ERRORS: tuple[type[BaseException], ...] = (SirstError, OSError, ValueError, RuntimeError)


class PredictorLike(Protocol):
    """What the worker needs from ``model.inference.Predictor``: its pipeline stages
    (model.pipeline) and the way from a Prediction to proposals."""

    def prepare(self, image: Any) -> Any: ...

    def run_network(self, prepared: Any) -> Any: ...

    def finish(self, prepared: Any, maps: Any, score_thr: float | None = None) -> Any: ...

    def targets(self, prediction: Any, score_thr: float) -> tuple[list, Any]: ...


PredictorFactory = Callable[[Path | None], PredictorLike]
Progress = Callable[[int, int], None]  # progress(done, total)
Cancelled = Callable[[], bool]


@dataclass(frozen=True)
class ModelChoice:
    """The weights a run uses: a project model version, or the shipped default (weights None)."""

    weights: Path | None
    version_id: int | None
    name: str


def resolve_model_choice(project) -> ModelChoice:
    """The project's active model version, else the shipped default weights."""
    active = project.active_model()
    if active is None:
        return ModelChoice(None, None, SHIPPED_DEFAULT_NAME)
    return ModelChoice(project.resolve_path(active), active.id, active.name)


def default_predictor_factory(weights: Path | None) -> PredictorLike:
    """Load the real BAFE-Net predictor (torch is imported here, inside the worker thread)."""
    from model.inference import Predictor

    return Predictor(weights)


@dataclass
class PreannotateSummary:
    """Outcome of one pre-annotation run (sent with ``run_finished``)."""

    total: int
    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    cancelled: bool = False
    elapsed_s: float = 0.0
    model_s: float = 0.0  # time spent in the network (for the overhead benchmark)
    load_s: float = 0.0  # time spent loading the predictor
    stats: PipelineStats | None = None  # per-stage seconds of the run (model.pipeline)

    @property
    def untouched(self) -> int:
        return self.total - len(self.done) - len(self.failed)


class EtaEstimator:
    """Seconds left from the mean time per finished unit (after a short warm-up)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._t0 = time.perf_counter()

    def update(self, done: int) -> float:
        """Record ``done`` finished units; return the ETA in seconds (-1 when unknown)."""
        if done <= 0:
            return -1.0
        per_unit = (time.perf_counter() - self._t0) / done
        return per_unit * max(self.total - done, 0)


class PreannotateWorker(QThread):
    """Runs one model over a list of images and stores its proposals in the project."""

    model_loaded = Signal(str)  # model name
    image_edited = Signal(object)  # the AnnotationEdit stored for one image (before finished)
    image_finished = Signal(int, int)  # image id, number of proposals stored
    image_failed = Signal(int, str)  # image id, message
    progress_changed = Signal(int, int, float)  # images handled, total, ETA seconds (-1 unknown)
    run_finished = Signal(object)  # PreannotateSummary (also after a cancel)
    run_failed = Signal(str)  # the run could not start or broke unexpectedly

    def __init__(
        self,
        project,
        image_ids: Sequence[int],
        model: ModelChoice,
        score_thr: float = PROPOSAL_SCORE_THRESHOLD,
        predictor_factory: PredictorFactory | None = None,
        parent: QObject | None = None,
        pixels: dict[int, Any] | None = None,
    ) -> None:
        """``pixels``: images already decoded (the open one): not read from disk again."""
        super().__init__(parent)
        ensure_gui_thread_gc()  # this thread and its I/O thread run Python: no GC there
        self.project = project
        self.image_ids = list(dict.fromkeys(int(i) for i in image_ids))  # unique, in order
        self.model = model
        self.score_thr = float(score_thr)
        self._factory = predictor_factory or default_predictor_factory
        self._pixels = dict(pixels or {})

    def _load_pixels(self, image_id: int):
        given = self._pixels.pop(image_id, None)
        return given if given is not None else self.project.load_pixels(image_id)

    def cancel(self) -> None:
        """Ask the run to stop after the image in the network (thread-safe)."""
        self.requestInterruption()

    def run(self) -> None:
        summary = PreannotateSummary(total=len(self.image_ids))
        t0 = time.perf_counter()
        try:
            predictor = self._factory(self.model.weights)
        except Exception as exc:  # any load failure must reach the user, not kill the thread
            self.run_failed.emit(f"cannot load model {self.model.name!r}: {exc}")
            return
        summary.load_s = time.perf_counter() - t0
        self.model_loaded.emit(self.model.name)
        try:
            self._loop(predictor, summary)
        except Exception as exc:  # unexpected: report instead of a silent dead thread
            log.exception("pre-annotation run broke")
            self.run_failed.emit(f"pre-annotation stopped: {exc}")
            return
        summary.elapsed_s = time.perf_counter() - t0
        self.run_finished.emit(summary)

    def _loop(self, predictor: PredictorLike, summary: PreannotateSummary) -> None:
        """The ``predict`` command's pipeline (model.pipeline): reader thread (pixels, prepare)
        -> the network on this thread -> writer thread (finish, DB write, reports).

        Same code path as the CLI, so the two can only differ by the GUI's own work. The writer
        handles images in order, each reported as soon as it is stored. Cancellation is checked
        before each image; an image the network has finished is always stored.
        """
        eta = EtaEstimator(summary.total)

        def consume(image_id: int, result: Any) -> None:
            if isinstance(result, BaseException):
                self._report(image_id, result, summary, eta)
            else:
                self._store(image_id, predictor, result, summary, eta)

        stats = run_pipeline(self.image_ids, self._load_pixels, predictor, consume,
                             score_thr=self.score_thr, cancelled=self.isInterruptionRequested,
                             name="preannotate")  # fmt: skip
        summary.cancelled = stats.cancelled
        summary.model_s = stats.network_s
        summary.stats = stats

    def _store(self, image_id: int, predictor: PredictorLike, prediction, summary, eta) -> None:
        """Writer thread: one image's Prediction stored as one edit, handed on, then reported.
        ``app.proposals`` is the one way from a Prediction to what the project stores (targets,
        sky and the repaired sensor pixels)."""
        try:
            proposal = proposal_from_prediction(predictor, prediction, self.score_thr)
            edit = store_proposal(self.project, image_id, proposal, self.model.version_id)
        except IMAGE_ERRORS as exc:
            self._report(image_id, exc, summary, eta)
            return
        self.image_edited.emit(edit)  # the window records it in that image's undo history
        stored = sum(c.after is not None for c in edit.targets)
        self._report(image_id, stored, summary, eta)

    def _report(self, image_id: int, outcome, summary: PreannotateSummary, eta) -> None:
        """Writer thread: ``outcome`` is the number of proposals stored, or the image's error."""
        if isinstance(outcome, BaseException):
            summary.failed[image_id] = str(outcome)
            self.image_failed.emit(image_id, str(outcome))
        else:
            summary.done.append(image_id)
            self.image_finished.emit(image_id, int(outcome))
        handled = len(summary.done) + len(summary.failed)
        self.progress_changed.emit(handled, summary.total, eta.update(handled))


class TaskThread(QThread):
    """Runs ``fn(progress, cancelled) -> result`` off the GUI thread.

    ``fn`` reports with ``progress(done, total)`` and polls ``cancelled()`` between units of work;
    whatever it returns (also after a cancel) arrives through ``task_finished``.
    """

    progress_changed = Signal(int, int)
    task_finished = Signal(object)
    task_failed = Signal(str)

    def __init__(
        self,
        fn: Callable[[Progress, Cancelled], object],
        parent: QObject | None = None,
        alive: Callable[[], bool] | None = None,
    ) -> None:
        """``alive()`` turning False (e.g. the project was closed) stops the job like a cancel."""
        super().__init__(parent)
        ensure_gui_thread_gc()  # run() is Python: no garbage collection on this thread
        self._fn = fn
        self._alive = alive

    def _cancelled(self) -> bool:
        return self.isInterruptionRequested() or (self._alive is not None and not self._alive())

    def cancel(self) -> None:
        self.requestInterruption()

    def run(self) -> None:
        try:
            result = self._fn(self.progress_changed.emit, self._cancelled)
        except IMAGE_ERRORS as exc:
            self.task_failed.emit(str(exc))
            return
        except Exception as exc:  # a thread must report, never die silently
            log.exception("background task failed")
            self.task_failed.emit(f"unexpected error: {type(exc).__name__}: {exc}")
            return
        self.task_finished.emit(result)


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


def on_project_closed(window, slot: Callable[[object], object]) -> bool:
    """Connect ``slot`` to ``window.project_closed`` (emitted before the project closes, so the
    slot can still stop workers that use it). False for a host without that signal."""
    signal = getattr(window, "project_closed", None)
    if signal is None:
        return False
    signal.connect(slot)
    return True


# ------------------------------------------------------------------ garbage collection
GC_INTERVAL_MS = 500  # how often the GUI thread checks the collection thresholds


class GuiThreadGarbageCollector(QObject):
    """Runs Python's cyclic garbage collector on the GUI thread only, from the event loop.

    Automatic collection runs in whichever thread allocates when a threshold is passed: a worker
    thread, or Python code that Qt calls from inside its own C++ (a pyqtgraph ``boundingRect``
    while a scene is updated). Qt objects that only a reference cycle keeps alive (a closed
    window, pyqtgraph's parentless plot menus) are then destroyed in the middle of that code or
    off the GUI thread, which aborts the process ("pure virtual method called"). While this
    collector runs, automatic collection is off and the same thresholds are checked on a timer.
    """

    def __init__(self, interval_ms: int = GC_INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._long_lived = len(gc.get_objects(2))  # oldest generation after the last full pass
        self._promoted = 0  # objects moved into it by this collector since then
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self.start()

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        """Give collection back to Python (automatic, in any thread)."""
        self._timer.stop()
        gc.enable()

    def check(self) -> int:
        """Collect the oldest generation past its threshold, as automatic collection would;
        returns the number of unreachable objects found."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if not 0 < self._thresholds[generation] < counts[generation]:
                continue
            if generation == 2 and not self._full_pass_due():
                continue
            return self.collect(generation)
        return 0

    def collect(self, generation: int) -> int:
        """One collection of ``generation`` (and the younger ones), keeping the count of objects
        moved into the oldest generation that decides when a full pass is due."""
        if generation >= 2:
            found = gc.collect(2)
            self._long_lived, self._promoted = len(gc.get_objects(2)), 0
            return found
        young = sum(len(gc.get_objects(g)) for g in range(generation + 1))  # small: cheap to list
        found = gc.collect(generation)
        if generation == 1:  # the survivors of a generation-1 pass join the oldest generation
            self._promoted += max(0, young - found)
        return found

    def freeze(self) -> int:
        """Move every object alive now into Python's permanent generation (``gc.freeze``): none
        of them is traversed by a collection again. Done once the model is loaded: torch and
        ONNX Runtime bring about 400,000 long-lived objects (modules, classes, functions) whose
        first passes through generations 0 and 1 held the GIL for 1-3 s on a loaded machine,
        in the middle of the first pre-annotation (issue 19). Cyclic garbage among the objects
        frozen is never freed: they are almost all import-time objects that live as long as
        the process. Returns the number of objects frozen."""
        gc.freeze()
        self._long_lived, self._promoted = len(gc.get_objects(2)), 0
        return gc.get_freeze_count()

    def _full_pass_due(self) -> bool:
        """CPython's rule: a full pass (hundreds of ms with torch loaded) only once the oldest
        generation grew by a quarter since the last one.

        Growth is counted as the survivors this collector moved into it, like CPython's own
        ``long_lived_pending``; the oldest generation itself is only listed after a full pass.
        Listing it on every check (386,000 objects with torch and Qt loaded: 0.5-0.65 s on this
        loaded machine, all of it holding the GIL) starved the pre-annotation pipeline's threads
        once the generation-2 count had passed its threshold (issue 13, ADR 0007)."""
        return self._promoted > self._long_lived // 4


_collector: GuiThreadGarbageCollector | None = None


def ensure_gui_thread_gc() -> GuiThreadGarbageCollector | None:
    """Make the GUI thread the only one that collects garbage (idempotent).

    Called on the GUI thread by everything that starts a thread running Python (workers,
    thumbnails, prefetch, export jobs), before it starts one. None without a QApplication or
    off the GUI thread (then nothing changes)."""
    global _collector
    app = QCoreApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        return None
    if _collector is None or not shiboken6.isValid(_collector):
        _collector = GuiThreadGarbageCollector(parent=app)
    elif not _collector.active:
        _collector.start()
    return _collector
