"""The Training dock fine-tunes the active model unless "From scratch" is ticked, shows the
comparison table of a finished run and activates the new version (fake train process)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.comparison_view import ROWS
from app.model_versions import SHIPPED_WEIGHTS
from app.train_process import FINE_TUNE
from core.domain import ModelVersion
from tests._support.training_commands import capture_commands, flag, training_dock
from tests.gui.test_preannotate_support import (
    fake_train_builder,
    write_fake_train_script,
)

pytestmark = pytest.mark.timeout(120)
WAIT_MS = 30_000


@pytest.fixture
def setup(qtbot, tmp_path):
    with training_dock(qtbot, tmp_path, images=5, train=4) as (window, panel, project):
        yield window, panel, project, tmp_path


def test_shipped_weights_path_is_the_models():
    from model.inference import default_weights_path

    assert SHIPPED_WEIGHTS == default_weights_path() and SHIPPED_WEIGHTS.is_file()


def test_train_continues_the_active_model_unless_from_scratch(qtbot, setup):
    window, panel, project, tmp_path = setup
    seen = capture_commands(panel)
    assert not panel.from_scratch.isChecked()
    assert panel.start_from.text() == "the active model, shipped default"
    assert panel.start_training()
    qtbot.waitUntil(lambda: not panel.process.is_running(), timeout=WAIT_MS)
    args = seen[-1]
    assert Path(flag(args, "--init-weights")) == SHIPPED_WEIGHTS
    assert flag(args, "--lr") == "0.0005" and flag(args, "--threads") == "1"
    assert float(flag(args, "--time-budget-min")) == FINE_TUNE.minutes
    assert flag(args, "--repeats") == str(-(-64 * 8 // 4))  # 4 reviewed train images -> 64 steps of 8
    assert "--compare" in args and "--no-register" in args

    weights = tmp_path / "mine.safetensors"
    weights.write_bytes(b"weights of an earlier run")
    mv = project.add_model_version(ModelVersion(None, "run-a", str(weights), "2026-01-01", {}, "paper-r18"))
    project.set_active_model(mv.id)
    panel.refresh_versions()
    assert panel.start_from.text() == "the active model, run-a"
    assert panel.start_training()
    qtbot.waitUntil(lambda: not panel.process.is_running(), timeout=WAIT_MS)
    args = seen[-1]
    assert Path(flag(args, "--init-weights")) == weights and flag(args, "--preset") == "paper-r18"

    panel.from_scratch.setChecked(True)
    assert panel.epochs.value() == 5 and panel.budget.value() == 0 and panel.preset.isEnabled()
    assert panel.start_training()
    qtbot.waitUntil(lambda: not panel.process.is_running(), timeout=WAIT_MS)
    args = seen[-1]
    for name in ("--init-weights", "--lr", "--time-budget-min", "--repeats"):
        assert name not in args
    assert flag(args, "--epochs") == "5"

    weights.unlink()  # the active model's file is gone: say so, start nothing
    panel.from_scratch.setChecked(False)
    n = len(seen)
    assert panel.start_training() is False
    assert "Cannot fine-tune" in panel.status.text() and len(seen) == n


def test_comparison_table_then_activate(qtbot, setup):
    window, panel, project, tmp_path = setup
    panel.command_builder = fake_train_builder(write_fake_train_script(tmp_path), "ok")
    with qtbot.waitSignal(panel.version_registered, timeout=WAIT_MS) as reg:
        assert panel.start_training()
    qtbot.waitUntil(lambda: not panel.process.is_running(), timeout=WAIT_MS)
    mv = reg.args[0]
    assert not panel.comparison.isVisibleTo(panel)
    new = {"mAP07": 0.8123, "pd": 0.81, "fa_per_image": 2.0, "sky_iou": 0.95, "corrections_per_image": 3.25}
    old = {"mAP07": 0.8001, "pd": 0.80, "fa_per_image": 2.5, "sky_iou": 0.95, "corrections_per_image": 4.0}
    panel.process.comparison_progress.emit({"event": "compare_progress", "done": 1, "total": 2})
    assert panel.comparison.isVisibleTo(panel) and "1 / 2" in panel.comparison.title.text()
    panel.process.comparison_ready.emit({"event": "comparison", "images": 2, "new_name": mv.name,
                                         "active_name": "shipped default", "new": new, "active": old})
    expected = [  # by hand from the figures above
        ("0.800", "0.812", "+0.012 (better)"),
        ("0.800", "0.810", "+0.010 (better)"),
        ("2.50", "2.00", "-0.50 (better)"),
        ("0.950", "0.950", "+0.000 (same)"),
        ("4.00", "3.25", "-0.75 (better)"),
    ]
    assert len(ROWS) == len(expected)
    for r, texts in enumerate(expected):
        assert tuple(panel.comparison.cell(r, c) for c in range(3)) == texts
    assert "on 2 val images" in panel.comparison.title.text()
    assert project.active_model() is None
    button = panel.comparison.activate_button
    assert button.isEnabled()
    button.click()
    with sqlite3.connect(project.root / "project.sqlite") as db:
        rows = db.execute("SELECT id, active FROM model_versions").fetchall()
    assert rows == [(mv.id, 1)]
    assert panel.versions.currentData() == mv.id and not button.isEnabled()


def test_failed_comparison_is_said(qtbot, setup):
    window, panel, project, tmp_path = setup
    panel.process.comparison_ready.emit({"event": "comparison", "images": 0, "new_name": "r",
                                         "active_name": "shipped default", "error": "no val images to compare on"})
    assert "No comparison: no val images to compare on" in panel.comparison.title.text()
    assert not panel.comparison.activate_button.isEnabled()
