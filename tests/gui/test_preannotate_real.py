"""Pre-annotation with the real Predictor in the real MainWindow, on the demo project: the
shipped weights when they exist, else a tiny random-init checkpoint registered as the active
model version."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app import preannotate_panel
from core.domain import ModelVersion, ReviewStatus, TargetState
from tests.gui.test_preannotate_support import make_project, save_tiny_weights

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
WAIT_MS = 90_000


def _predictor(weights):
    from model.inference import Predictor

    return Predictor(weights, threads=1)


@pytest.fixture
def main_window_with(qtbot):
    import torch

    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings

    torch.set_num_threads(1)
    create_application(exception_hook=False)
    windows = []

    def make(project, factory=_predictor):
        win = MainWindow(AppSettings(), install_panels=False)
        qtbot.addWidget(win)
        win.set_project(project)
        preannotate_panel.install(win, predictor_factory=factory)
        windows.append(win)
        return win, win.findChild(preannotate_panel.PreannotatePanel)

    yield make
    for win in windows:
        win.findChild(preannotate_panel.PreannotatePanel).controller.shutdown(10_000)
        win.close()


def test_demo_project_unreviewed_images_get_proposals(qtbot, app_project_dir, main_window_with):
    from core.store.project import Project
    from model.inference import default_weights_path

    project = Project.open(app_project_dir)
    if not default_weights_path().is_file():  # no shipped weights yet: a tiny stand-in
        weights = save_tiny_weights(project.models_dir / "tiny.safetensors")
        project.add_model_version(
            ModelVersion(None, "tiny", str(weights), "2024-01-01T00:00:00", active=True)
        )
    new = [i.id for i in project.list_images() if i.status == ReviewStatus.NEW]
    reviewed = [i.id for i in project.list_images(status=ReviewStatus.REVIEWED)]
    assert len(new) == 2 and reviewed
    before = {i: project.targets(i) for i in reviewed[:2]}
    win, panel = main_window_with(project)
    with qtbot.waitSignal(panel.controller.run_ended, timeout=WAIT_MS) as ended:
        assert panel.run_unreviewed()
    summary = ended.args[0]
    assert summary.done == new and not summary.failed
    for image_id in new:
        info = project.get_image(image_id)
        assert info.status == ReviewStatus.PRE_ANNOTATED
        sky = project.sky_mask(image_id, state=TargetState.PROPOSAL)
        assert sky is not None and sky.shape == (info.height, info.width)
        proposals = project.targets(image_id, state=TargetState.PROPOSAL)
        assert all(t.score >= 0.05 and t.source == "model" for t in proposals)
        row = win.list_model.info(image_id)  # the list row follows without a full reload
        assert row.n_proposals == len(proposals) and row.status == ReviewStatus.PRE_ANNOTATED
    assert {i: project.targets(i) for i in reviewed[:2]} == before  # reviewed images untouched


def test_missing_shipped_weights_are_reported(qtbot, tmp_path, main_window_with, monkeypatch):
    import model.inference

    monkeypatch.setattr(
        model.inference, "default_weights_path", lambda: tmp_path / "none.safetensors"
    )
    project, ids = make_project(tmp_path, 1)
    win, panel = main_window_with(project, factory=None)  # the real default factory
    with qtbot.waitSignal(panel.controller.run_failed, timeout=WAIT_MS) as failed:
        assert panel.run_current()
    assert "no weights file" in failed.args[0] and "shipped default" in failed.args[0]
    assert project.targets(ids[0]) == [] and project.get_image(ids[0]).status == ReviewStatus.NEW
