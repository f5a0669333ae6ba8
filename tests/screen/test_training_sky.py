"""Train in the real app fine-tunes the sky network too (issue 20, ADR 0031), on a real X screen.

The Train workspace (Alt+2) shows the Training dock; the budget typed into its box is split as the
"Sky network" row states; Train runs the real `main.py train` on the project's reviewed images;
the dock shows the sky stage while it runs (screenshot), then the comparison table. Truths: the
new version's row in project.sqlite (sqlite3) and the weights file it names, read with the
safetensors library: its sky-network tensors differ from the active (shipped) model's, its
events.jsonl holds the sky stage's steps."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from PIL import Image
from safetensors.numpy import load_file

from app.model_versions import SHIPPED_WEIGHTS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def _centre(rect: list[int]) -> tuple[float, float]:
    x, y, w, h = rect
    return x + w / 2, y + h / 2


def _sky(path: Path) -> dict:
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("sky_net.")}


def test_train_fine_tunes_the_sky_network_and_shows_it(run_app, demo_project_dir, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(demo_project_dir, root)  # 6 reviewed train images, 2 reviewed val, with skies
    app = run_app(root)
    app.wait_for(lambda s: s.get("image") is not None, 300, "the first image")
    app.focus()
    app.key("alt+2")  # the Train workspace
    state = app.wait_for(lambda s: (s.get("training") or {}).get("budget"), 30, "the Training dock")
    assert state["training"]["sky_split"] == "Detector 3.5 + sky 1.5 min"
    app.click(*_centre(state["training"]["budget"]))
    app.key("ctrl+a")
    app.type("0.6")
    app.key("Tab")
    state = app.wait_for(lambda s: s["training"]["sky_split"] == "Detector 0.4 + sky 0.2 min",
                         20, "the budget's split")  # fmt: skip
    app.click(*_centre(state["training"]["train"]))
    state = app.wait_for(lambda s: "sky network" in s["training"]["status"], 900, "the sky stage")
    shot = app.grab()
    Image.fromarray(shot).save(tmp_path / "sky_stage.png")
    done, total = state["training"]["progress"]
    # the bar gives the sky stage its 30 % (of the detector's planned steps): it is past the rest
    assert done >= round(total * 0.7) - 1 and done <= total, state["training"]
    state = app.wait_for(lambda s: "on 2 val images" in (s["training"]["comparison"] or ""), 900, "the comparison")
    Image.fromarray(app.grab()).save(tmp_path / "comparison.png")

    with sqlite3.connect(root / "project.sqlite") as db:
        rows = db.execute("SELECT name, path, active FROM model_versions").fetchall()
    assert len(rows) == 1 and rows[0][2] == 0  # registered, not activated
    weights = (root / rows[0][1]).resolve()
    new, old = _sky(weights), _sky(SHIPPED_WEIGHTS)
    assert new.keys() == old.keys() and any(new[k].tobytes() != old[k].tobytes() for k in old)
    events = [json.loads(line) for line in (weights.parent / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "step" and e.get("stage") == "sky" for e in events)
    assert [e["event"] for e in events].count("done") == 1
