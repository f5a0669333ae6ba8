"""The model loop of pre-annotation: ``PreannotateWorker`` runs one model over a list of images
off the GUI thread and stores its proposals, reporting each image as it is stored.

It is the one thread besides ``app.jobs.JobThread`` (every other background job): it streams
per-image signals (an edit, a count, a failure) rather than one result. Cancellation is the same
as a job's: ``requestInterruption()``, checked between images, so a cancelled run never leaves a
half-written image behind: images finished before the cancel stay done, the rest are untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, QThread, Signal

from app.jobs import IMAGE_ERRORS
from app.proposals import proposal_from_prediction, store_proposal
from model.pipeline import PipelineStats, run_pipeline

log = logging.getLogger(__name__)

# Proposals are stored down to this score so the window's score slider can re-filter them live
# without running the model again (the paper's test-time threshold is 0.05 too).
PROPOSAL_SCORE_THRESHOLD = 0.05
from app.model_versions import SHIPPED_DEFAULT_NAME  # noqa: E402  (re-exported)


class PredictorLike(Protocol):
    """What the worker needs from ``model.inference.Predictor``: its pipeline stages
    (model.pipeline) and the way from a Prediction to proposals."""

    def prepare(self, image: Any) -> Any: ...

    def run_network(self, prepared: Any) -> Any: ...

    def finish(self, prepared: Any, maps: Any, score_thr: float | None = None) -> Any: ...

    def targets(self, prediction: Any, score_thr: float) -> tuple[list, Any]: ...


PredictorFactory = Callable[[Path | None], PredictorLike]


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
