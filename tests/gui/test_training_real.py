"""The Training dock driving the real `main.py train` CLI on the demo project, in the real MainWindow:
train 1 epoch -> model version registered -> picked as active -> pre-annotation uses it; and a
real stop (SIGINT -> checkpoint, exit 3) followed by resume."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app import preannotate_panel, training_panel
from core.domain import TargetState
from tests.gui.test_preannotate_support import TINY_TRAIN_FLAGS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
WAIT_MS = 90_000


def tiny_builder(root, run_dir, opts):
    return training_panel.default_command(
        root, run_dir, replace(opts, extra=opts.extra + TINY_TRAIN_FLAGS)
    )


@pytest.fixture
def window(qtbot, app_project_dir):
    import torch

    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings
    from core.store.project import Project
    from model.inference import Predictor

    torch.set_num_threads(1)
    create_application(exception_hook=False)
    project = Project.open(app_project_dir)
    ids = [i.id for i in project.list_images()]
    win = MainWindow(AppSettings(), install_panels=False)
    qtbot.addWidget(win)
    win.set_project(project)
    training_panel.install(win)
    preannotate_panel.install(win, predictor_factory=lambda w: Predictor(w, threads=1))
    yield win, ids
    training = win.findChild(training_panel.TrainingPanel)
    training.process.shutdown(5000)
    win.findChild(preannotate_panel.PreannotatePanel).controller.shutdown(10_000)
    win.close()


def test_train_register_pick_and_preannotate(qtbot, window):
    win, ids = window
    panel = win.findChild(training_panel.TrainingPanel)
    panel.command_builder = tiny_builder
    panel.from_scratch.setChecked(True)  # a tiny network from scratch (fine-tunes: test_training_finetune_real)
    panel.epochs.setValue(1)
    with (
        qtbot.waitSignal(panel.version_registered, timeout=WAIT_MS) as reg,
        qtbot.waitSignal(panel.process.run_started, timeout=WAIT_MS) as started,
    ):
        assert panel.start_training()
    qtbot.waitUntil(lambda: not panel.process.is_running(), timeout=WAIT_MS)
    mv = reg.args[0]
    project = win.project
    assert [v.id for v in project.list_model_versions()] == [mv.id]
    assert project.resolve_path(mv).is_file() and project.resolve_path(mv).suffix == ".safetensors"
    assert {"mAP07", "sky_iou"} <= set(mv.metrics)
    steps = started.args[0]["steps_per_epoch"]
    assert steps == 3  # the demo's 6 reviewed train images, batch 2
    assert len(panel.plot.loss_points("total")) == steps
    assert len(panel.plot.metric_points("mAP07")) == 1
    assert not panel.error_box.isVisibleTo(panel)

    panel.versions.setCurrentIndex(1)
    assert project.active_model().id == mv.id
    pre = win.findChild(preannotate_panel.PreannotatePanel)
    new = [i.id for i in project.list_images(status="new")]  # the demo's 2 unlabelled frames
    with qtbot.waitSignal(pre.controller.run_ended, timeout=WAIT_MS) as ended:
        assert pre.run_unreviewed()
    assert ended.args[0].done == new and len(new) == 2
    for image_id in new:
        assert project.sky_mask(image_id, state=TargetState.PROPOSAL) is not None
        assert project.get_image(image_id).status == "pre-annotated"
        # The list row shows the new proposal count (refreshed through the window).
        n = len(project.targets(image_id, state=TargetState.PROPOSAL))
        assert win.list_model.info(image_id).n_proposals == n


def test_real_stop_then_resume(qtbot, window):
    win, _ = window
    panel = win.findChild(training_panel.TrainingPanel)
    panel.command_builder = tiny_builder
    panel.from_scratch.setChecked(True)
    panel.epochs.setValue(200)  # far more than the test waits for
    with qtbot.waitSignal(panel.process.step_logged, timeout=WAIT_MS):
        assert panel.start_training()
    with qtbot.waitSignal(panel.process.training_stopped, timeout=WAIT_MS) as stopped:
        panel.stop_training()
    assert stopped.args[0] == 3
    assert (panel.run_dir / "last.pt").is_file()
    assert panel.resume_button.isEnabled()
    assert win.project.list_model_versions() == []
    with qtbot.waitSignal(panel.process.run_started, timeout=WAIT_MS) as started:
        assert panel.resume_training()
    assert started.args[0]["run_dir"] == str(panel.run_dir)
    with qtbot.waitSignal(panel.process.training_stopped, timeout=WAIT_MS):
        panel.stop_training()
