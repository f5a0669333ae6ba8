"""`main.py train --set detector_blocks=[1,2,2] --distill W --init-weights FULL`: a lighter
detector (fewer residual blocks) taught by the full one, end to end on a small DenseSIRST root.
Truths: the tensors on disk (the dropped block is gone, the kept ones started from the parent's),
the logged events (the teacher's loss is logged and positive) and the exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.numpy import load_file

from app.model_versions import SHIPPED_WEIGHTS
from model.checkpoint import read_metadata
from tests._support.cli import cli
from tests._support.finetune import mini_root, small_frames

pytestmark = [pytest.mark.dataset, pytest.mark.slow, pytest.mark.timeout(900)]


def _full_parent(path: Path) -> Path:
    """A detector with both blocks of every layer: the shipped tensors where they fit (the shipped
    detector may be a light one), the other blocks as a new network starts them."""
    import dataclasses

    import torch

    from model.checkpoint import save_weights
    from model.net import BafeNet, build_from_weights

    light, cfg, meta = build_from_weights(SHIPPED_WEIGHTS)
    full_cfg = dataclasses.replace(cfg, detector_blocks=())
    torch.manual_seed(0)
    full = BafeNet(full_cfg)
    full.load_state_dict(light.state_dict(), strict=False)
    save_weights(path, full, full_cfg, meta.get("preset", "default"), sky_threshold=meta.get("sky_threshold", "0.5"))
    return path


def test_a_lighter_detector_learns_from_the_full_one(densesirst_root, tmp_path):
    root = mini_root(tmp_path / "ds", densesirst_root, {"train": small_frames(densesirst_root, "train_v2", 4)})
    run = tmp_path / "run"
    parent_path = _full_parent(tmp_path / "full.safetensors")
    r = cli("train", "--data", root, "--train-split", "train", "--val-split", "none", "--out", run,
            "--init-weights", parent_path, "--set", "detector_blocks=[1,2,2]", "--distill", "1",
            "--epochs", "1", "--batch", "4", "--crop", "96", "--repeats", "2", "--threads", "1",
            "--warmup-steps", "1", "--lr", "1e-4", timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    steps = [e for e in map(json.loads, (run / "events.jsonl").read_text().splitlines()) if e["event"] == "step"]
    assert len(steps) == 2 and all(e["losses"]["distill"] > 0 for e in steps), steps
    parent, light = load_file(str(parent_path)), load_file(str(run / "best.safetensors"))
    assert json.loads(read_metadata(run / "best.safetensors")["config"])["detector_blocks"] == [1, 2, 2]
    assert any(k.startswith("backbone.layers.0.1.") for k in parent)
    assert not any(k.startswith("backbone.layers.0.1.") for k in light)  # layer1's second block dropped
    # everything else is there, with the parent's shapes: the fine-tune started from its tensors
    kept = [k for k in parent if not k.startswith("backbone.layers.0.1.")]
    assert sorted(kept) == sorted(light) and all(light[k].shape == parent[k].shape for k in kept)
    # the sky network is never trained by crops: still the parent's, byte for byte
    assert all(light[k].tobytes() == parent[k].tobytes() for k in kept if k.startswith("sky_net."))


def test_distill_needs_a_teacher_and_blocks_must_fit(densesirst_root, tmp_path):
    root = mini_root(tmp_path / "ds", densesirst_root, {"train": small_frames(densesirst_root, "train_v2", 2)})
    r = cli("train", "--data", root, "--train-split", "train", "--val-split", "none", "--out", tmp_path / "a",
            "--distill", "1", "--epochs", "1", timeout=120)  # fmt: skip
    assert r.returncode == 2 and "--distill needs --init-weights" in r.stderr
    assert not (tmp_path / "a").exists()
    r = cli("train", "--data", root, "--train-split", "train", "--val-split", "none", "--out", tmp_path / "b",
            "--set", "detector_blocks=[1,2]", "--epochs", "1", timeout=120)  # fmt: skip
    assert r.returncode == 2 and "detector_blocks" in r.stderr and "one count >= 1 per ResNet layer" in r.stderr
    r = cli("train", "--data", root, "--train-split", "train", "--val-split", "none", "--out", tmp_path / "c",
            "--set", "detector_blocks=[3,2,2]", "--epochs", "1", timeout=120)  # fmt: skip
    assert r.returncode == 2 and "layer1 has 2 blocks, not 3" in r.stderr
