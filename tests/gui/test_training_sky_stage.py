"""The Training dock's sky-network part of a fine-tune (ADR 0031): the row that turns it on and
shares the budget (stated in minutes), the flags it puts on the train command, and the sky stage
in the progress bar, the status line, the loss plot and the ETA (events fed as the process sends
them; the real run is tests/e2e/test_finetune_sky_stage.py and tests/screen/test_training_sky.py)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.training_sky import LOSS_NAME
from tests._support.training_commands import capture_commands, flag, training_dock

pytestmark = pytest.mark.timeout(120)
WAIT_MS = 30_000


@pytest.fixture
def panel(qtbot, tmp_path):
    with training_dock(qtbot, tmp_path, images=3, train=3) as (_window, panel, _project):
        yield panel


def _run(qtbot, panel, seen) -> list[str]:
    assert panel.start_training()
    qtbot.waitUntil(lambda: not panel.process.is_running(), timeout=WAIT_MS)
    return seen[-1]


def test_the_row_shares_the_budget_and_sets_the_flags(qtbot, panel):
    seen = capture_commands(panel)
    row = panel.sky_stage
    assert row.enabled.isChecked() and row.percent.value() == 30 and panel.budget.value() == 5.0
    assert row.text() == "Detector 3.5 + sky 1.5 min" and row.percent.suffix() == " % (1.5 min)"
    assert panel.start_training()
    assert panel.status.text().endswith("Detector 3.5 + sky 1.5 min.")  # stated when the run starts
    qtbot.waitUntil(lambda: not panel.process.is_running(), timeout=WAIT_MS)
    args = seen[-1]
    assert flag(args, "--sky-share") == "0.3" and flag(args, "--time-budget-min") == "5"
    assert "--sky-steps" not in args

    panel.budget.setValue(10.0)
    row.percent.setValue(50)
    assert row.text() == "Detector 5.0 + sky 5.0 min" and row.percent.suffix() == " % (5.0 min)"
    assert flag(_run(qtbot, panel, seen), "--sky-share") == "0.5"

    panel.budget.setValue(0.0)  # no limit: a sky stage by step count
    assert row.text() == "No limit: epochs, then 32 sky steps." and not row.percent.isEnabled()
    args = _run(qtbot, panel, seen)
    assert "--sky-share" not in args and flag(args, "--sky-steps") == "32"

    panel.budget.setValue(5.0)
    row.enabled.setChecked(False)  # the user turns the sky part off
    assert not row.percent.isEnabled() and row.text() == "Detector only; the sky network is kept."
    args = _run(qtbot, panel, seen)
    assert "--sky-share" not in args and "--sky-steps" not in args

    row.enabled.setChecked(True)
    panel.from_scratch.setChecked(True)  # from scratch: nothing to continue
    assert not row.enabled.isEnabled() and not row.active()
    args = _run(qtbot, panel, seen)
    assert "--sky-share" not in args and "--sky-steps" not in args and "--init-weights" not in args


def test_the_sky_stage_shows_in_progress_status_plot_and_eta(qtbot, panel):
    seen = capture_commands(panel)
    panel.sky_stage.percent.setValue(50)
    _run(qtbot, panel, seen)  # the dock now holds this run's options: 5 min, half for the sky
    p = panel.process
    p.run_started.emit({"event": "start", "epochs": 1, "steps_per_epoch": 10, "resumed_from_epoch": 0})
    p.step_logged.emit({"event": "step", "epoch": 1, "step": 5, "steps": 10, "loss": 1.2,
                        "losses": {"total": 1.2}, "elapsed_s": 100.0, "eta_s": 60.0})  # fmt: skip
    assert (panel.progress.value(), panel.progress.maximum()) == (5, 10)
    assert panel.eta.text() == "ETA 3:30"  # 60 s of detector + the sky stage's 2.5 min
    sky = {"stage": "sky"}
    p.run_started.emit({"event": "start", "epochs": 100000, "steps_per_epoch": 5, "frames": 40, **sky})
    assert (panel.progress.value(), panel.progress.maximum()) == (10, 20)  # half the bar, as the budget
    assert "fine-tuning the sky network" in panel.status.text()
    p.step_logged.emit({"event": "step", "epoch": 2, "step": 3, "steps": 5, "loss": 0.25, "losses": {"total": 0.25},
                        "elapsed_s": 30.0, "eta_s": 60.0, **sky})  # fmt: skip
    assert panel.progress.value() == 10 + 3  # a third of the stage's time is spent: 3 of its 10 units
    assert panel.status.text() == "Fine-tuning the sky network: step 3 of epoch 2, loss 0.250."
    assert panel.eta.text() == "ETA 1:00"
    assert panel.plot.loss_points(LOSS_NAME) == [(pytest.approx(1 + 1 / 3), 0.25)]
    assert panel.plot.loss_points("total") == [(0.5, 1.2)]  # the detector's curve is left as it was
    p.epoch_finished.emit({"event": "epoch", "epoch": 2, "losses": {"total": 0.25}, "val": {}, "best": True, **sky})
    assert panel.status.text().startswith("Fine-tuning the sky network")  # no empty "Epoch" line
