"""The warm model (issue 19): the active predictor loads in the background when a project opens,
runs use the kept one, a project switch or a new active model loads the new one."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Signal

from app import model_warmup, preannotate_panel
from app.model_warmup import ModelState, ModelStatusLabel
from core.domain import ModelVersion, TargetState
from tests.gui.test_preannotate_support import FakePredictor, FakeWindow, make_project

pytestmark = pytest.mark.timeout(120)
WAIT_MS = 20_000


class Window(FakeWindow):
    project_closed = Signal(object)

    def close_project(self) -> None:
        self.project_closed.emit(self.project)
        self.project = None


class WarmablePredictor(FakePredictor):
    """A fake with the one-call ``predict`` the warm-up runs (it records the frames it saw)."""

    def __init__(self, weights=None, **kwargs) -> None:
        super().__init__(weights, **kwargs)
        self.predicted: list[tuple[int, ...]] = []

    def predict(self, image: np.ndarray, score_thr: float | None = None):
        self.predicted.append(image.shape)
        gray = self.prepare(image)
        return self.finish(gray, self.run_network(gray), score_thr)


class Factory:
    """Counts loads, the weights asked for and the threads they ran on; ``gate`` holds a load."""

    def __init__(self) -> None:
        self.made: list[WarmablePredictor] = []
        self.threads: list[int] = []
        self.gate: threading.Event | None = None
        self.fail: Exception | None = None

    def __call__(self, weights):
        self.threads.append(threading.get_ident())
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.fail is not None:
            raise self.fail
        self.made.append(WarmablePredictor(weights))
        return self.made[-1]


@pytest.fixture
def setup(qtbot, tmp_path):
    project, ids = make_project(tmp_path, 2)
    window = Window()
    qtbot.addWidget(window)
    factory = Factory()
    preannotate_panel.install(window, predictor_factory=factory)
    warmer = model_warmup.install(window)
    warmer.enabled = True  # whatever the environment of the test run says
    panel = window.dock_widget(preannotate_panel.DOCK_NAME)
    yield window, warmer, panel, project, ids, factory
    panel.controller.shutdown(5000)
    warmer.shutdown(5000)
    if window.project is not None:
        window.project.close()


def _wait_state(qtbot, warmer, state: ModelState) -> None:
    qtbot.waitUntil(lambda: warmer.state is state, timeout=WAIT_MS)


def _run(qtbot, window, panel, image_id):
    window.goto_image(image_id)
    with qtbot.waitSignal(panel.controller.run_ended, timeout=WAIT_MS) as ended:
        assert panel.run_current() is True
    return ended.args[0]


def _label(window) -> ModelStatusLabel:
    return window.findChild(ModelStatusLabel, "model_status_label")


def test_opening_a_project_loads_the_model_in_the_background_and_runs_use_it(qtbot, setup):
    window, warmer, panel, project, ids, factory = setup
    assert warmer.state is ModelState.NONE and not _label(window).isVisible()
    window.show()
    window.open_project(project)
    _wait_state(qtbot, warmer, ModelState.READY)
    assert len(factory.made) == 1
    assert factory.threads[0] != threading.get_ident()  # not on the GUI thread
    assert factory.made[0].predicted == [model_warmup.WARMUP_SHAPE]  # one warm-up run
    assert _label(window).text() == "Model ready" and _label(window).isVisible()
    for image_id in ids:
        summary = _run(qtbot, window, panel, image_id)
        assert summary.done == [image_id]
    assert len(factory.made) == 1  # both runs used the kept predictor
    assert factory.made[0].calls == 1 + 2  # the warm-up and one image per run
    for image_id in ids:  # the runs stored their proposals (the database is the truth)
        assert len(project.targets(image_id, state=TargetState.PROPOSAL)) == 2


def test_a_run_started_during_the_load_waits_for_it_instead_of_loading_again(qtbot, setup):
    window, warmer, panel, project, ids, factory = setup
    factory.gate = threading.Event()
    window.open_project(project)
    _wait_state(qtbot, warmer, ModelState.LOADING)
    qtbot.waitUntil(lambda: len(factory.threads) == 1, timeout=WAIT_MS)  # the load is held
    window.goto_image(ids[0])
    with qtbot.waitSignal(panel.controller.run_ended, timeout=WAIT_MS) as ended:
        assert panel.run_current() is True
        qtbot.wait(200)
        assert len(factory.threads) == 1  # the run waits for the load in flight
        factory.gate.set()
    assert ended.args[0].done == [ids[0]]
    assert len(factory.made) == 1
    assert len(project.targets(ids[0], state=TargetState.PROPOSAL)) == 2


def _add_version(project, path: Path) -> ModelVersion:
    path.write_bytes(b"weights")  # the fake factory never reads it
    mv = project.add_model_version(ModelVersion(
        id=None, name=path.stem, path=str(path), created=datetime.now(UTC).isoformat(), active=False,
    ))  # fmt: skip
    return mv


def test_a_new_active_model_or_project_loads_the_new_weights(qtbot, setup, tmp_path):
    window, warmer, panel, project, ids, factory = setup
    window.open_project(project)
    _wait_state(qtbot, warmer, ModelState.READY)
    assert factory.made[0].weights is None  # the shipped default
    mv = _add_version(project, tmp_path / "mine.safetensors")
    project.set_active_model(mv.id)
    warmer.warm_current()  # what the Training dock's model picker triggers
    qtbot.waitUntil(lambda: len(factory.made) == 2 and warmer.state is ModelState.READY,
                    timeout=WAIT_MS)  # fmt: skip
    assert Path(factory.made[1].weights) == tmp_path / "mine.safetensors"
    summary = _run(qtbot, window, panel, ids[0])
    assert summary.done == [ids[0]] and len(factory.made) == 2  # the run used the new one
    assert factory.made[1].calls == 2 and factory.made[0].calls == 1
    # Closing keeps the predictor; a project with the same active model does not load again.
    window.close_project()
    assert warmer.state is ModelState.NONE and not _label(window).isVisible()
    window.open_project(project)
    _wait_state(qtbot, warmer, ModelState.READY)
    assert len(factory.made) == 2
    # A project on the shipped default loads that one again.
    other, _ = make_project(tmp_path / "other", 1)
    try:
        window.open_project(other)
        qtbot.waitUntil(lambda: len(factory.made) == 3 and warmer.state is ModelState.READY,
                        timeout=WAIT_MS)  # fmt: skip
        assert factory.made[2].weights is None
    finally:
        window.project = project  # the fixture closes it
        other.close()


def test_a_failed_load_is_said_and_the_run_tries_again_and_reports(qtbot, setup):
    window, warmer, panel, project, ids, factory = setup
    factory.fail = RuntimeError("no such weights")
    window.show()
    window.open_project(project)
    _wait_state(qtbot, warmer, ModelState.FAILED)
    assert _label(window).text() == "Model not loaded"
    assert "no such weights" in _label(window).toolTip()
    window.goto_image(ids[0])
    with qtbot.waitSignal(panel.controller.run_failed, timeout=WAIT_MS) as failed:
        assert panel.run_current() is True
    assert "no such weights" in failed.args[0]
    assert len(factory.threads) == 2  # the run loaded again instead of reusing the failure
    assert project.targets(ids[0]) == []
    factory.fail = None  # the file is fixed: the next run loads and keeps it
    assert _run(qtbot, window, panel, ids[0]).done == [ids[0]]
    _wait_state(qtbot, warmer, ModelState.READY)
    assert _run(qtbot, window, panel, ids[1]).done == [ids[1]]
    assert len(factory.made) == 1


def test_switched_off_nothing_loads_at_open_and_the_first_run_keeps_its_model(qtbot, setup):
    window, warmer, panel, project, ids, factory = setup
    warmer.enabled = False
    window.open_project(project)
    qtbot.wait(2 * model_warmup.START_DELAY_MS)
    assert factory.threads == [] and warmer.state is ModelState.NONE
    assert _run(qtbot, window, panel, ids[0]).done == [ids[0]]
    assert _run(qtbot, window, panel, ids[1]).done == [ids[1]]
    assert len(factory.made) == 1 and factory.made[0].predicted == []  # no warm-up run


def test_environment_switch(monkeypatch):
    monkeypatch.setenv(model_warmup.WARM_ENV, "0")
    assert not model_warmup.warm_up_enabled()
    monkeypatch.setenv(model_warmup.WARM_ENV, "1")
    assert model_warmup.warm_up_enabled()
    monkeypatch.delenv(model_warmup.WARM_ENV)
    assert model_warmup.warm_up_enabled()
