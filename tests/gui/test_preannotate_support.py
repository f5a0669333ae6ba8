"""Shared test doubles for the model-in-the-loop GUI tests and benchmarks (no tests here).

``FakeWindow`` is a small implementation of ``app.host.PanelHost`` (the interface panels receive
instead of the main window), with a real document and rows service, so the panels are tested
against the contract rather than one MainWindow's internals (tests/gui/test_host.py checks that
it implements every member).
"""

from __future__ import annotations

import os
import textwrap
import threading
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu

from app.image_list_model import ImageListModel
from app.image_panel import ImagePanel
from app.rows import ImageRows
from app.shortcuts import build_action
from core.document import AnnotationDocument
from core.domain import Target

# Imported here, not in the fake's methods: importing torch on a worker thread of a busy
# machine can take longer than a test waits.
from model.inference import Prediction, Predictor
from tests._support.labels import add_target, set_sky_mask, set_split, set_status
from tests._support.weights import random_weights
from widgets.image_list import ImageListWidget


class FakeCanvas:
    """Records what the panels show on the canvas (the part of IRCanvas panels drive here)."""

    def __init__(self) -> None:
        self.images: list[tuple[np.ndarray, bool]] = []
        self.highlights: list[tuple[list, object]] = []
        self.centers: list[tuple[float, float, float | None]] = []

    def set_image(self, img: np.ndarray, keep_view: bool = False) -> None:
        self.images.append((np.array(img, copy=True), keep_view))

    def set_highlight_boxes(self, boxes, color=None) -> None:
        self.highlights.append((list(boxes), color))

    def center_on(self, x: float, y: float, zoom: float | None = None) -> None:
        self.centers.append((x, y, zoom))


class FakeWindow(QMainWindow):
    """A PanelHost (app/host.py) for panel tests, recording what the panels call."""

    project_opened = Signal(object)
    project_closed = Signal(object)
    image_changed = Signal(int)
    score_threshold_changed = Signal(float)

    def __init__(self, project=None) -> None:
        super().__init__()
        self.project = None
        self.document: AnnotationDocument | None = None
        self.list_model = ImageListModel(None, self)
        self.rows = ImageRows(self.list_model, self)
        self.image_list = ImageListWidget(self)
        self.image_list.set_source_model(self.list_model)
        self.image_panel = ImagePanel(self)
        self.canvas = FakeCanvas()
        self.actions_by_id: dict[str, QAction] = {}
        self.current_image_id: int | None = None
        self.score_threshold = 0.3
        self.selection: list[int] = []
        self.recorded: list = []  # edits handed over by record_edit
        self.applied: list = []  # edits handed over by apply_edit
        self.messages: list[str] = []
        self.reloads = 0  # reload_images calls
        self.commands: list = []
        self.docks: list[QDockWidget] = []
        self._menus: dict[str, QMenu] = {}
        self._panels: dict[str, object] = {}
        if project is not None:
            self._open(project)

    def _open(self, project) -> None:
        self.project = project
        self.document = AnnotationDocument(project)
        self.rows.open(project, self.document, None)

    def open_project(self, project) -> None:
        self._open(project)
        self.project_opened.emit(project)

    def set_project(self, project) -> None:
        self.open_project(project)

    def reload_images(self) -> None:
        self.reloads += 1

    @property
    def current_pixels(self):
        return self.document.pixels if self.document is not None else None

    @property
    def current_info(self):
        return self.document.info if self.document is not None else None

    def record_edit(self, edit) -> None:
        """A worker's committed edit: the document folds it in, the rows service announces it."""
        self.recorded.append(edit)
        if self.document is not None and self.project is not None:
            self.document.record(edit)

    def apply_edit(self, edit) -> None:
        """An edit from a panel: committed through the document (write-through), as the
        window's undo stack does."""
        self.applied.append(edit)
        if self.document is not None:
            self.document.apply(edit)

    def refuse_if_read_only(self) -> bool:
        return bool(getattr(self.project, "read_only", False))

    def show_message(self, text: str, timeout_ms: int = 8000) -> None:
        self.messages.append(text)

    def goto_image(self, image_id: int, center: tuple[float, float] | None = None) -> None:
        self.current_image_id = image_id
        self.image_changed.emit(image_id)

    def reload_current(self) -> None:
        if self.current_image_id is not None:
            self.rows.reread(self.current_image_id)

    def push_command(self, cmd) -> None:
        self.commands.append(cmd)

    def tool_menu(self, title: str) -> QMenu:
        if title not in self._menus:
            self._menus[title] = self.menuBar().addMenu(title)
        return self._menus[title]

    def add_dock(self, dock: QDockWidget, spec) -> None:
        self.docks.append(dock)
        self.addDockWidget(spec.default_area, dock)

    def show_dock(self, dock: QDockWidget) -> None:
        dock.show()

    def register_action(self, spec, slot) -> QAction:
        action = build_action(self, spec, slot)
        self.actions_by_id[spec.action_id] = action
        return action

    def keep_panel(self, name: str, panel: object) -> None:
        self._panels[name] = panel

    def panel(self, name: str):
        return self._panels.get(name)

    def selected_image_ids(self) -> list[int]:
        return list(self.selection)

    def dock_widget(self, object_name: str):
        dock = self.findChild(QDockWidget, object_name)
        return dock.widget() if dock is not None else None

    def menu_actions(self, title: str) -> dict[str, object]:
        return {a.text().replace("&", ""): a for a in self.tool_menu(title).actions() if a.text()}


class FakePredictor:
    """Proposes one target at the brightest pixel (score 0.9), one at (1.5, 1.5) (score 0.1) and
    the top half as sky, through the real Predictor's stages (``prepare`` -> ``run_network`` ->
    ``finish`` gives a real ``model.inference.Prediction``; ``targets`` is the real one).

    ``gate``: a threading.Event the network waits on before each image (to cancel mid-run);
    ``one_shot``: clear the gate after each pass, so every image needs its own ``gate.set()``;
    ``fail_on``: pixel arrays whose first value is this number raise in the network (a model error);
    ``bad_sky_on``: ... get a sky mask of the wrong shape (the project refuses to store it);
    ``crash_on``: ... raise an unexpected error in ``finish`` (a bug), which ends the run.
    """

    def __init__(
        self,
        weights=None,
        gate: threading.Event | None = None,
        fail_on=None,
        one_shot=False,
        bad_sky_on=None,
        crash_on=None,
    ) -> None:
        self.weights = weights
        self.bad_sky_on = bad_sky_on
        self.crash_on = crash_on
        self.gate = gate
        self.one_shot = one_shot
        self.fail_on = fail_on
        self.calls = 0
        self.thresholds: list[float] = []
        self.entered = threading.Event()  # set when the first image is in the network

    def prepare(self, image: np.ndarray) -> np.ndarray:
        return image if image.ndim == 2 else image[..., 0]

    def run_network(self, gray: np.ndarray) -> np.ndarray:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
            if self.one_shot:
                self.gate.clear()  # the next image waits for its own release
        self.calls += 1
        if self.fail_on is not None and gray.flat[0] == self.fail_on:
            raise RuntimeError("model exploded on this image")
        return gray

    def finish(self, gray: np.ndarray, _maps, score_thr: float | None = None):
        self.thresholds.append(score_thr)
        if self.crash_on is not None and gray.flat[0] == self.crash_on:
            raise KeyError("a bug, not a bad image")
        y, x = np.unravel_index(int(np.argmax(gray)), gray.shape)
        boxes = np.array([(x - 1, y - 1, x + 2, y + 2), (1, 1, 3, 3)], np.float32)
        points = np.array([(x + 0.5, y + 0.5), (1.5, 1.5)], np.float32)
        h, w = gray.shape
        if self.bad_sky_on is not None and gray.flat[0] == self.bad_sky_on:
            h -= 1  # the wrong size: the project must refuse to store it
        logit = np.full((h, w), -8.0, np.float32)
        logit[: gray.shape[0] // 2] = 8.0  # sky = the top half
        return Prediction(boxes, np.array([0.9, 0.1], np.float32), points, logit, (h, w),
                          operating_threshold=0.5, sky_stride=1)  # fmt: skip

    def targets(self, prediction, score_thr: float):
        return Predictor.targets(self, prediction, score_thr)  # the real conversion (no self state)

    def predict_targets(self, image: np.ndarray, score_thr: float):
        """The one-call form other panels (the inspector) use."""
        gray = self.prepare(image)
        return self.targets(self.finish(gray, self.run_network(gray), score_thr), score_thr)


def recording_factory(predictor_cls: type = FakePredictor):
    """A ``predictor_factory`` that keeps every predictor it made in ``factory.made``; a test sets
    ``factory.kwargs`` to pass options (a gate, a failing image) to the next ones."""
    made: list = []

    def factory(weights):
        made.append(predictor_cls(weights, **factory.kwargs))
        return made[-1]

    factory.kwargs = {}
    factory.made = made
    return factory


def dock_setup(qtbot, root: Path, n_images: int, predictor_cls: type = FakePredictor):
    """Fixture body: (window, panel, project, ids, predictors made, factory) with ``n_images`` new
    images in a real project, the pre-annotation dock installed on a FakeWindow; torn down after."""
    from app import preannotate_panel

    project, ids = make_project(root, n_images)
    window = FakeWindow(project)
    qtbot.addWidget(window)
    factory = recording_factory(predictor_cls)
    preannotate_panel.install(window, predictor_factory=factory)
    panel = window.dock_widget(preannotate_panel.DOCK_NAME)
    yield window, panel, project, ids, factory.made, factory
    panel.controller.shutdown(5000)
    project.close()


def write_images(folder: Path, n: int, size: tuple[int, int] = (48, 64)) -> list[Path]:
    """``n`` small 8-bit PNGs, each with one bright target at a known place."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = np.full(size, 20 + i, dtype=np.uint8)
        img[10 + i, 20 + 2 * i] = 250
        path = folder / f"img_{i}.png"
        cv2.imwrite(str(path), img)
        paths.append(path)
    return paths


def make_project(root: Path, n_images: int = 3):
    """A real project with ``n_images`` new images; returns (project, image ids)."""
    from core.store.new_image import NewImage
    from core.store.project import Project

    paths = write_images(root / "images", n_images)
    project = Project.create(root / "proj")
    infos = project.add_images(NewImage(path=p) for p in paths)
    return project, [i.id for i in infos]


def make_labelled_project(root: Path, n_train: int = 3, n_val: int = 1):
    """A project whose images are reviewed, with one accepted target each and a sky mask."""
    from core.domain import ReviewStatus, Split

    project, ids = make_project(root, n_train + n_val)
    for k, image_id in enumerate(ids):
        x, y = 20 + 2 * k, 10 + k  # the bright pixel written by write_images
        add_target(project,
            image_id, Target(point=(x + 0.5, y + 0.5), box=(x - 1, y - 1, x + 2, y + 2))
        )
        sky = np.zeros((48, 64), dtype=bool)
        sky[:24] = True
        set_sky_mask(project, image_id, sky)
        set_split(project, image_id, Split.TRAIN if k < n_train else Split.VAL)
        set_status(project, image_id, ReviewStatus.REVIEWED)
    return project, ids


def save_tiny_weights(path: Path) -> Path:
    """A random-init BAFE-Net with narrow heads, saved like a trained model (safetensors)."""
    return random_weights(path, {"fpn_channels": 16})


# Flags that make the real train CLI finish one epoch on a few 48x64 images in seconds.
TINY_TRAIN_FLAGS = ("--crop", "32", "--batch", "2", "--threads", "1", "--set", "fpn_channels=16")


# A stand-in for `main.py train --events-jsonl`: argv = mode run_dir [--resume].
FAKE_TRAIN_SCRIPT = textwrap.dedent(
    r"""
    import json, sys, time
    from pathlib import Path

    mode, run_dir = sys.argv[1], Path(sys.argv[2])
    resume = "--resume" in sys.argv
    run_dir.mkdir(parents=True, exist_ok=True)

    def emit(**ev):
        print(json.dumps(ev), flush=True)

    losses = lambda k: {"cls": 1.0 / k, "box": 0.5 / k, "ctr": 0.6, "sky": 0.3 / k, "total": 2.4 / k}
    start_epoch = 1 if resume else 0
    emit(event="start", run_dir=str(run_dir), epochs=2, steps_per_epoch=3,
         resumed_from_epoch=start_epoch)
    print("a stray log line on stdout", flush=True)
    if mode == "crash":
        print("Traceback (most recent call last):\nMemoryError: out of memory", file=sys.stderr)
        sys.exit(4)
    if mode == "error":
        emit(event="step", epoch=1, step=1, steps=3, losses=losses(1), lr=0.01,
             elapsed_s=0.1, eta_s=1.0)
        print("loading images...", file=sys.stderr, flush=True)
        emit(event="error", message="no reviewed images with labels in this project")
        sys.exit(2)
    if mode == "stubborn":  # ignores SIGINT: only a kill ends it
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            time.sleep(0.05)
    if mode == "sleep":
        # Like the real train CLI, catch SIGINT ourselves: a child started from a shell
        # background job inherits SIGINT ignored, and Python then installs no handler.
        import signal
        signal.signal(signal.SIGINT, signal.default_int_handler)
        emit(event="checkpoint", path=str(run_dir / "last.safetensors"), epoch=1, best=False)
        try:
            k = 1
            while True:
                emit(event="step", epoch=2, step=k % 3 + 1, steps=3, losses=losses(k), lr=0.01,
                     elapsed_s=0.1 * k, eta_s=5.0)
                k += 1
                time.sleep(0.05)
        except KeyboardInterrupt:
            emit(event="checkpoint", path=str(run_dir / "last.safetensors"), epoch=2, best=False)
            sys.exit(3)
    # One event split over two writes: the reader must wait for the newline.
    line = json.dumps({"event": "step", "epoch": start_epoch + 1, "step": 0, "steps": 3,
                       "losses": losses(1), "lr": 0.01, "elapsed_s": 0.0, "eta_s": 1.0})
    sys.stdout.write(line[:20]); sys.stdout.flush(); time.sleep(0.2)
    sys.stdout.write(line[20:] + "\n"); sys.stdout.flush()
    k = 0
    for epoch in range(start_epoch + 1, 3):
        for step in range(1, 4):
            k += 1
            emit(event="step", epoch=epoch, step=step, steps=3, losses=losses(k), lr=0.01,
                 elapsed_s=0.1 * k, eta_s=0.1 * (6 - k))
        val = {"mAP07": 0.1 * epoch, "mAP12": 0.05 * epoch, "recall": 0.3, "sky_iou": 0.8,
               "pd": 0.4, "fa_per_image": 3.0}
        emit(event="epoch", epoch=epoch, losses=losses(k), val=val, best=True, elapsed_s=0.1 * k,
             eta_s=0.0)
        emit(event="checkpoint", path=str(run_dir / "best.safetensors"), epoch=epoch, best=True)
    weights = run_dir / "best.safetensors"
    # a safetensors header alone (8-byte length, JSON), with what a fine-tune writes of its rescorer
    carry = {"carry": "refit", "rescore": [0.1] * 14, "two_fold": {"none": 2.5, "parent": 2.0, "refit": 1.5}}
    head = json.dumps({"__metadata__": {"config": json.dumps({"rescore": [0.1] * 14}),
                                        "rescore_carry": json.dumps(carry)}}).encode()
    weights.write_bytes(len(head).to_bytes(8, "little") + head)
    sys.stdout.write(json.dumps({"event": "done", "best_weights": str(weights), "val": val,
                                 "elapsed_s": 0.6}))  # last line without a newline on purpose
    sys.exit(0)
    """
)


def fake_train_builder(script: Path, mode: str):
    """A TrainingPanel.command_builder that runs the fake script in ``mode``."""
    import sys

    def build(project_root, run_dir, opts):
        args = [str(script), mode, str(run_dir)]
        return sys.executable, args + (["--resume"] if opts.resume else [])

    return build


def write_fake_train_script(folder: Path) -> Path:
    path = folder / "fake_train.py"
    path.write_text(FAKE_TRAIN_SCRIPT)
    return path
