"""`main.py train --from-active --sky-steps N`: the fine-tune also fine-tunes the sky network
(ADR 0031). Truths: the tensors of the weights files on disk (read with the safetensors library),
the logged events and project.sqlite."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest
from safetensors.numpy import load_file

from app.model_versions import SHIPPED_WEIGHTS
from tests._support.cli import assert_clean, cli
from tests._support.finetune import mini_project, mini_root, small_frames

pytestmark = [pytest.mark.dataset, pytest.mark.slow, pytest.mark.timeout(900)]
FAST = ("--epochs", "1", "--batch", "2", "--crop", "96", "--repeats", "1", "--threads", "1", "--reviewed-only",
        "--val-split", "none")  # fmt: skip


@pytest.fixture
def project(densesirst_root, tmp_path) -> Path:
    from core.formats.densesirst import read_split

    # 1280x1024 frames with large labelled skies (the sky network's loss means something on them)
    family = [i for i in read_split(densesirst_root, "train_v2") if i.startswith("iraytek")][:3]
    splits = {"train": family, "val": small_frames(densesirst_root, "val_v2", 1)}
    root = mini_root(tmp_path / "ds", densesirst_root, splits)
    return mini_project(tmp_path / "project", root)


def _split(path: Path) -> tuple[dict, dict]:
    tensors = load_file(str(path))
    sky = {k: v for k, v in tensors.items() if k.startswith("sky_net.")}
    return sky, {k: v for k, v in tensors.items() if not k.startswith("sky_net.")}


def _events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def test_sky_stage_moves_the_sky_network_and_the_detector_only_path_does_not(project):
    parent_sky, _ = _split(SHIPPED_WEIGHTS)
    assert parent_sky, "the shipped weights have a sky network"

    plain = project / "models" / "runs" / "plain"
    r = cli("train", "--project", project, "--out", plain, "--from-active", *FAST, timeout=600)
    assert r.returncode == 0, r.stderr
    plain_sky, plain_det = _split(plain / "best.safetensors")
    assert plain_sky.keys() == parent_sky.keys()
    assert all(plain_sky[k].tobytes() == parent_sky[k].tobytes() for k in parent_sky)  # byte-equal

    run = project / "models" / "runs" / "sky"
    r = cli("train", "--project", project, "--out", run, "--from-active", "--sky-steps", "3", *FAST, timeout=600)
    assert r.returncode == 0, r.stderr
    assert_clean(r)
    events = _events(run)
    kinds = [(e["event"], e.get("stage")) for e in events]
    # detector steps, then the sky stage's, then the run's one "done", then the registration
    assert kinds.count(("done", None)) == 1 and ("stage_done", "sky") in kinds
    first_sky = kinds.index(("start", "sky"))
    assert all(k[1] is None for k in kinds[:first_sky])
    assert kinds.index(("done", None)) > kinds.index(("stage_done", "sky"))
    sky_steps = [e for e in events if e["event"] == "step" and e.get("stage") == "sky"]
    assert len(sky_steps) == 3
    # the loss of a trained sky network (BCE + 1 - soft IoU: about 0.2 on these frames); a new one,
    # initialised from the detector, starts at about 1.5 on them, and BCE alone at ln 2
    assert sky_steps[0]["losses"]["total"] < math.log(2) / 2, sky_steps[0]
    done = next(e for e in events if e["event"] == "done")
    final = run / "best.safetensors"
    assert Path(done["best_weights"]) == final

    new_sky, new_det = _split(final)
    assert new_sky.keys() == parent_sky.keys()
    moved = [k for k in parent_sky if new_sky[k].tobytes() != parent_sky[k].tobytes()]
    assert len(moved) > len(parent_sky) // 2, f"only {len(moved)} of {len(parent_sky)} sky tensors moved"
    # the detector part is the detector fine-tune's (the same seed and images as "plain"), which the
    # sky stage leaves as it is
    assert new_det.keys() == plain_det.keys()
    assert all(new_det[k].tobytes() == plain_det[k].tobytes() for k in plain_det)

    with sqlite3.connect(project / "project.sqlite") as db:
        rows = db.execute("SELECT name, path FROM model_versions ORDER BY id").fetchall()
    assert [name for name, _ in rows] == ["plain", "sky"]
    assert (project / rows[1][1]).resolve() == final.resolve()


def test_sky_share_needs_a_budget_and_starting_weights(project, tmp_path):
    r = cli("train", "--project", project, "--out", tmp_path / "a", "--from-active", "--sky-share", "0.3", *FAST)
    assert r.returncode == 2 and "--sky-share splits --time-budget-min" in r.stderr
    r = cli("train", "--project", project, "--out", tmp_path / "b", "--sky-steps", "2", *FAST)
    assert r.returncode == 2 and "continues the sky network of the starting weights" in r.stderr
    r = cli("train", "--project", project, "--out", tmp_path / "c", "--from-active", "--sky-share", "1.5",
            "--time-budget-min", "1", *FAST)  # fmt: skip
    assert r.returncode == 2 and "--sky-share 1.5 must be in 0 .. 0.9" in r.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()
