"""`main.py train --new-split NAME --new-share F --l2sp L --sky-l2sp L`: the replay recipe of a
fine-tune (ADR 0034) end to end on a small DenseSIRST root. Truths: the logged events (the pull
is exactly 0 at the parent's weights and positive once they moved) and the weights on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.numpy import load_file

from app.model_versions import SHIPPED_WEIGHTS
from tests._support.cli import cli
from tests._support.finetune import mini_root, small_frames

pytestmark = [pytest.mark.dataset, pytest.mark.slow, pytest.mark.timeout(900)]


def test_replay_recipe_runs_both_stages_with_the_pull(densesirst_root, tmp_path):
    frames = small_frames(densesirst_root, "train_v2", 6)
    root = mini_root(tmp_path / "ds", densesirst_root, {"train": frames, "new": frames[:2]})
    run = tmp_path / "run"
    r = cli("train", "--data", root, "--train-split", "train", "--val-split", "none", "--out", run,
            "--init-weights", SHIPPED_WEIGHTS, "--epochs", "1", "--batch", "4", "--crop", "96", "--repeats", "2",
            "--threads", "1", "--warmup-steps", "1", "--lr", "5e-4", "--new-split", "new", "--l2sp", "0.05",
            "--sky-l2sp", "0.05", "--sky-steps", "2", timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    # the default share when new images are named: half of each batch
    assert "2 of them newly corrected: 0.5 of each batch" in r.stderr
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    det = [e for e in events if e["event"] == "step" and e.get("stage") is None]
    sky = [e for e in events if e["event"] == "step" and e.get("stage") == "sky"]
    assert len(det) == 3 and len(sky) == 2  # 6 images x 2 crops / 4; the sky steps asked for
    # lam * sum((w - w_parent)^2): zero before the first update, positive after it
    assert det[0]["l2sp"] == 0.0 and all(e["l2sp"] > 0 for e in det[1:])
    assert sky[0]["l2sp"] == 0.0 and sky[1]["l2sp"] > 0
    parent, tuned = load_file(str(SHIPPED_WEIGHTS)), load_file(str(Path(run / "best.safetensors")))
    moved = [k for k in parent if k.startswith("sky_net.") and parent[k].tobytes() != tuned[k].tobytes()]
    assert moved, "the sky stage moved the sky network"


def test_kept_batchnorm_statistics_stay_the_parents(densesirst_root, tmp_path):
    frames = small_frames(densesirst_root, "train_v2", 4)
    root = mini_root(tmp_path / "ds", densesirst_root, {"train": frames, "new": frames[:1]})
    run = tmp_path / "run"
    r = cli("train", "--data", root, "--train-split", "train", "--val-split", "none", "--out", run,
            "--init-weights", SHIPPED_WEIGHTS, "--epochs", "1", "--batch", "4", "--crop", "96", "--threads", "1",
            "--warmup-steps", "1", "--lr", "5e-4", "--new-split", "new", "--keep-bn-stats", "--sky-steps", "2",
            timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    parent, tuned = load_file(str(SHIPPED_WEIGHTS)), load_file(str(run / "best.safetensors"))
    stats = [k for k in parent if k.endswith((".running_mean", ".running_var"))]
    assert any(k.startswith("sky_net.") for k in stats) and any(not k.startswith("sky_net.") for k in stats)
    # the statistics are the parent's, byte for byte, in both networks; the weights moved
    assert all(tuned[k].tobytes() == parent[k].tobytes() for k in stats)
    assert any(tuned[k].tobytes() != parent[k].tobytes() for k in parent if k.endswith(".weight"))
