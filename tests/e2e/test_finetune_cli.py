"""`main.py train --project P --from-active`: a fine-tune of the active model (its first loss is
a trained model's), registered in project.sqlite; `--compare` figures equal those computed by
predict + evaluate + the reference effort tool."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests._support.cli import assert_clean, cli
from tests._support.finetune import independent_figures, mini_project, mini_root, small_frames

pytestmark = [pytest.mark.dataset, pytest.mark.slow, pytest.mark.timeout(900)]
FAST = ("--epochs", "1", "--batch", "2", "--crop", "96", "--repeats", "1", "--threads", "1", "--reviewed-only")


@pytest.fixture
def project(densesirst_root, tmp_path) -> tuple[Path, Path]:
    base = tmp_path / "ft"
    splits = {"train": small_frames(densesirst_root, "train_v2", 2), "val": small_frames(densesirst_root, "val_v2", 2)}
    root = mini_root(base / "ds", densesirst_root, splits)
    return mini_project(base / "project", root), root


def _rows(project: Path) -> list[tuple]:
    with sqlite3.connect(project / "project.sqlite") as db:
        return db.execute("SELECT id, name, path, preset, active, metrics FROM model_versions ORDER BY id").fetchall()


def _first_step(run: Path) -> dict:
    for line in (run / "events.jsonl").read_text().splitlines():
        ev = json.loads(line)
        if ev["event"] == "step":
            return ev["losses"]
    raise AssertionError("no step event")


def test_from_active_registers_and_continues_the_active_model(project):
    proj, _root = project
    run1 = proj / "models" / "runs" / "cli1"
    r = cli("train", "--project", proj, "--out", run1, "--from-active", "--val-split", "none", *FAST, timeout=600)
    assert r.returncode == 0, r.stderr
    assert_clean(r)
    losses = _first_step(run1)
    # The shipped model's losses, not an untrained head's (sky ln 2 = 0.693, total about 3.4)
    assert losses["sky"] < 0.35 and losses["total"] < 1.8, losses
    rows = _rows(proj)
    assert len(rows) == 1
    vid, name, path, preset, active, metrics = rows[0]
    assert (name, preset, active) == ("cli1", "default", 0)
    assert (proj / path).resolve() == (run1 / "best.safetensors").resolve()
    assert json.loads(metrics)["fine_tuned_from"] == "shipped default"
    assert f"registered model version 'cli1' (id {vid})" in r.stderr

    with sqlite3.connect(proj / "project.sqlite") as db:  # the user activates it (as the GUI does)
        db.execute("UPDATE model_versions SET active = (id = ?)", (vid,))
    run2 = proj / "models" / "runs" / "cli2"
    r = cli("train", "--project", proj, "--out", run2, "--from-active", "--val-split", "none", *FAST, timeout=600)
    assert r.returncode == 0, r.stderr
    rows = _rows(proj)
    assert [row[1] for row in rows] == ["cli1", "cli2"]
    assert json.loads(rows[1][5])["fine_tuned_from"] == "cli1"
    assert rows[1][4] == 0 and rows[0][4] == 1  # a new version never activates itself

    run3 = proj / "models" / "runs" / "cli3"
    r = cli("train", "--project", proj, "--out", run3, "--from-active", "--no-register", "--val-split", "none",
            *FAST, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert len(_rows(proj)) == 2


def test_compare_figures_equal_predict_evaluate_and_the_effort_tool(project, tmp_path, densesirst_root):
    from tests.unit.test_effort import TOOL

    if not TOOL.is_file():
        pytest.skip(f"reference tool not found at {TOOL}")
    proj, root = project
    run = tmp_path / "run"
    r = cli("train", "--project", proj, "--out", run, "--init-weights",
            Path(__file__).resolve().parents[2] / "resources" / "models" / "bafenet_default.safetensors",
            "--compare", "--no-register", *FAST, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    comparison = json.loads((run / "comparison.json").read_text())
    assert comparison["images"] == 2 and comparison["active_name"] == "shipped default"
    for column, weights in (("new", run / "best.safetensors"), ("active", Path(comparison["active_weights"]))):
        truth = independent_figures(weights, root, "val", tmp_path / column, TOOL)
        mine = comparison[column]
        assert mine["mAP07"] == truth["mAP07"]  # scored as evaluate scores predict's files (ADR 0021)
        for key in ("pd", "fa_per_image", "sky_iou", "corrections_per_image"):
            assert mine[key] == pytest.approx(truth[key], abs=1e-6), key
