"""Pre-annotation worker and dock with a fake predictor on a real project."""

from __future__ import annotations

import os
import threading

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt

from app import preannotate_panel
from app.preannotate_worker import ModelChoice, PreannotateWorker, resolve_model_choice
from core.domain import ModelVersion, ReviewStatus, TargetState
from core.errors import CheckpointError
from tests._support.labels import set_status
from tests.gui.test_preannotate_support import FakePredictor, FakeWindow, dock_setup, make_project

pytestmark = pytest.mark.timeout(120)
WAIT_MS = 20_000
PROPOSAL = TargetState.PROPOSAL


@pytest.fixture
def setup(qtbot, tmp_path):
    """(window, panel, project, ids, predictors made, factory) with three new images."""
    yield from dock_setup(qtbot, tmp_path, 3)


def _wait_run(qtbot, panel, start):
    with qtbot.waitSignal(panel.controller.run_ended, timeout=WAIT_MS) as ended:
        assert start() is True
    return ended.args[0]


def test_three_images_get_proposals_in_the_db(qtbot, setup):
    window, panel, project, ids, made, _ = setup
    window.goto_image(ids[1])
    changed: list[int] = []
    window.rows.subscribe(changed.append)
    summary = _wait_run(qtbot, panel, panel.run_unreviewed)
    assert summary.done == ids and not summary.failed and not summary.cancelled
    assert len(made) == 1 and made[0].calls == 3  # the model is loaded once per run
    assert made[0].thresholds == [0.05] * 3  # low, so the window's slider can re-filter
    for i, image_id in enumerate(ids):
        proposals = project.targets(image_id, state=PROPOSAL)
        assert sorted(t.score for t in proposals) == pytest.approx([0.1, 0.9])
        best = max(proposals, key=lambda t: t.score)
        assert best.point == (20 + 2 * i + 0.5, 10 + i + 0.5)  # the bright pixel of that image
        assert project.sky_mask(image_id, state=PROPOSAL)[:24].all()
        assert project.get_image(image_id).status == ReviewStatus.PRE_ANNOTATED
        assert project.targets(image_id, state=TargetState.ACCEPTED) == []
    assert [e.image_id for e in window.recorded] == ids  # each result joins its history once
    assert sorted(changed) == ids  # every image announced once, for the list counts
    assert panel.progress.value() == 3 and "Pre-annotated 3 of 3" in panel.status.text()
    assert not panel.cancel_button.isEnabled()


def test_rerun_replaces_proposals_and_keeps_reviewed_images(qtbot, setup):
    window, panel, project, ids, made, _ = setup
    set_status(project, ids[2], ReviewStatus.REVIEWED)
    _wait_run(qtbot, panel, panel.run_unreviewed)
    assert project.targets(ids[2]) == []  # reviewed images are not pre-annotated again
    window.selection = [ids[0]]
    _wait_run(qtbot, panel, panel.run_selected)
    assert len(project.targets(ids[0], state=PROPOSAL)) == 2  # replaced, not duplicated


def test_cancel_mid_run_leaves_later_images_untouched(qtbot, setup):
    window, panel, project, ids, made, factory = setup
    gate = threading.Event()
    factory.kwargs = {"gate": gate}
    window.selection = ids
    with qtbot.waitSignal(panel.controller.run_ended, timeout=WAIT_MS) as ended:
        assert panel.run_selected()
        assert panel.cancel_button.isEnabled()
        qtbot.waitUntil(lambda: bool(made) and made[0].entered.is_set(), timeout=WAIT_MS)
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)  # image 1 in progress
        gate.set()
    summary = ended.args[0]
    assert summary.cancelled and summary.done == [ids[0]] and summary.untouched == 2
    assert len(project.targets(ids[0], state=PROPOSAL)) == 2
    for image_id in ids[1:]:
        assert project.targets(image_id) == []
        assert project.sky_mask(image_id, state=PROPOSAL) is None
        assert project.get_image(image_id).status == ReviewStatus.NEW
    assert "cancelled, 2 left untouched" in panel.status.text()


def test_the_first_result_of_a_run_shows_at_once_not_after_the_batch_interval(qtbot, setup):
    window, panel, project, ids, made, factory = setup
    panel.controller._timer.setInterval(600_000)  # batching alone would show it at the run's end
    gate = threading.Event()
    factory.kwargs = {"gate": gate, "one_shot": True}
    changed: list[int] = []
    window.rows.subscribe(changed.append)
    with qtbot.waitSignal(panel.controller.run_ended, timeout=WAIT_MS):
        assert panel.controller.start(ids[:2])
        gate.set()  # image 1 only: image 2 waits in the network for its own release
        qtbot.waitUntil(lambda: changed == [ids[0]], timeout=WAIT_MS)
        assert len(project.targets(ids[0], state=PROPOSAL)) == 2  # shown as stored
        assert project.targets(ids[1]) == []
        gate.set()
    assert changed == ids[:2]


def test_closing_the_project_mid_run_stops_writing(qtbot, setup):
    window, panel, project, ids, made, factory = setup
    gate = threading.Event()
    factory.kwargs = {"gate": gate, "one_shot": True}
    changed: list[int] = []
    window.rows.subscribe(changed.append)
    cancelled = threading.Event()
    cancel = panel.controller.cancel
    panel.controller.cancel = lambda: (cancelled.set(), cancel())  # spy on the controller
    with qtbot.waitSignal(panel.controller.run_ended, timeout=WAIT_MS) as ended:
        assert panel.controller.start(ids)
        qtbot.waitUntil(lambda: bool(made) and made[0].entered.is_set(), timeout=WAIT_MS)
        window.project = None  # what MainWindow.close_project leaves behind
        gate.set()  # image 1 finishes; the panel sees the project is gone and cancels
        qtbot.waitUntil(cancelled.is_set, timeout=WAIT_MS)
        gate.set()  # if image 2 was already inside the model it completes, then the run stops
    summary = ended.args[0]
    assert summary.cancelled and summary.done in (ids[:1], ids[:2])
    assert project.targets(ids[2]) == [] and project.get_image(ids[2]).status == ReviewStatus.NEW
    assert changed == [] and window.recorded == []  # nothing refreshed for a closed project


def test_failing_image_is_reported_and_the_rest_finish(qtbot, setup):
    window, panel, project, ids, _, _ = setup
    missing = project.resolve_path(project.get_image(ids[1]))
    missing.unlink()
    with qtbot.waitSignal(panel.controller.run_ended, timeout=WAIT_MS) as ended:
        assert panel.controller.start(ids)
    summary = ended.args[0]
    assert summary.done == [ids[0], ids[2]] and list(summary.failed) == [ids[1]]
    item = panel.failures.item(0)
    assert missing.name in item.text() and item.data(Qt.ItemDataRole.UserRole) == ids[1]
    assert project.targets(ids[1]) == [] and project.get_image(ids[1]).status == ReviewStatus.NEW
    assert len(project.targets(ids[2], state=PROPOSAL)) == 2
    assert panel.failures.count() == 1 and panel.failures.isVisibleTo(panel)
    assert "1 failed" in panel.status.text()
    with qtbot.waitSignal(window.image_changed) as opened:
        panel.failures.itemDoubleClicked.emit(panel.failures.item(0))
    assert opened.args[0] == ids[1]


def test_model_error_on_one_image_does_not_stop_the_run(qtbot, setup):
    _, panel, project, ids, _, factory = setup
    factory.kwargs = {"fail_on": 21}  # the second image's background value
    summary = _wait_run(qtbot, panel, panel.run_unreviewed)
    assert summary.done == [ids[0], ids[2]]
    assert "model exploded" in summary.failed[ids[1]]


def test_refused_write_is_reported_and_the_rest_finish(qtbot, setup):
    _, panel, project, ids, _, factory = setup
    factory.kwargs = {"bad_sky_on": 20}  # the first image's background value
    summary = _wait_run(qtbot, panel, panel.run_unreviewed)
    assert summary.done == ids[1:] and list(summary.failed) == [ids[0]]
    assert "sky" in summary.failed[ids[0]]
    assert project.targets(ids[0]) == []  # the refused write left nothing behind
    assert project.get_image(ids[0]).status == ReviewStatus.NEW


def test_unexpected_error_ends_the_run_with_a_message(qtbot, setup):
    _, panel, project, ids, _, factory = setup
    factory.kwargs = {"crash_on": 21}  # the second image
    with qtbot.waitSignal(panel.controller.run_failed, timeout=WAIT_MS) as failed:
        panel.run_unreviewed()
    assert "pre-annotation stopped" in failed.args[0] and "a bug" in failed.args[0]
    assert len(project.targets(ids[0], state=PROPOSAL)) == 2  # finished before the bug: kept
    assert project.targets(ids[2]) == []
    assert not panel.controller.is_running() and not panel.cancel_button.isEnabled()


def test_model_that_cannot_load_is_reported_and_nothing_written(qtbot, setup):
    window, _, project, ids, _, _ = setup

    def broken(_weights):
        raise CheckpointError("no weights file at x.safetensors; train a model")

    window2 = FakeWindow(project)
    qtbot.addWidget(window2)
    preannotate_panel.install(window2, predictor_factory=broken)
    panel = window2.dock_widget(preannotate_panel.DOCK_NAME)
    with qtbot.waitSignal(panel.controller.run_failed, timeout=WAIT_MS) as failed:
        panel.run_unreviewed()
    assert "no weights file" in failed.args[0] and "no weights file" in panel.status.text()
    assert all(project.targets(i) == [] for i in ids)
    assert not panel.controller.is_running()


def test_the_active_model_version_is_used(qtbot, setup, tmp_path):
    window, panel, project, ids, made, _ = setup
    assert resolve_model_choice(project) == ModelChoice(None, None, "shipped default")
    weights = project.models_dir / "v1.safetensors"
    weights.write_bytes(b"x")
    mv = project.add_model_version(
        ModelVersion(None, "v1", str(weights), "2024-01-01T00:00:00", active=True)
    )
    window.goto_image(ids[0])
    _wait_run(qtbot, panel, panel.run_current)
    assert made[-1].weights == weights and made[-1].calls == 1
    assert resolve_model_choice(project).version_id == mv.id


def test_nothing_to_do_says_why(qtbot, setup):
    window, panel, project, ids, made, _ = setup
    assert panel.run_current() is False and "no image is open" in panel.status.text()
    assert panel.run_selected() is False and "no images are selected" in panel.status.text()
    for i in ids:
        set_status(project, i, ReviewStatus.REVIEWED)
    assert panel.run_unreviewed() is False and "already reviewed" in panel.status.text()
    assert made == []


def test_menu_actions_and_eta_format(setup):
    window, *_ = setup
    actions = window.menu_actions("&Model")
    assert "Pre-annotate Current Image" in actions and "Cancel Pre-annotation" in actions
    assert actions["Pre-annotate Current Image"].shortcut().toString() == "Ctrl+Shift+P"
    assert preannotate_panel.format_eta(65) == "1:05"
    assert preannotate_panel.format_eta(3725) == "1:02:05"
    assert preannotate_panel.format_eta(-1) == ""


def test_worker_progress_has_an_eta(qtbot, tmp_path):
    project, ids = make_project(tmp_path, 3)
    worker = PreannotateWorker(project, ids, ModelChoice(None, None, "fake"), 0.05, FakePredictor)
    progress: list[tuple[int, int, float]] = []
    worker.progress_changed.connect(lambda d, t, e: progress.append((d, t, e)))
    with qtbot.waitSignal(worker.run_finished, timeout=WAIT_MS):
        worker.start()
    worker.wait(5000)
    assert [(d, t) for d, t, _ in progress] == [(1, 3), (2, 3), (3, 3)]
    assert all(e >= 0 for _, _, e in progress) and progress[-1][2] == 0
    project.close()
