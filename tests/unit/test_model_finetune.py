"""A fine-tune (--init-weights W) continues W as it was built and keeps W's thresholds where no
validation of its own chooses new ones."""

from __future__ import annotations

import json

import pytest

from core.errors import CheckpointError
from model.checkpoint import read_metadata
from model.data import CropSampler
from model.train import TrainOptions, detector_loop
from model.validate import validate
from tests.unit.test_model_train import make_trainer, synthetic


def _child(tmp_path, samples, parent, val, stop=lambda: False, name="child", **kw):
    opts = TrainOptions(out=tmp_path / name, epochs=1, batch=4, crop=64, lr=1e-4, warmup_steps=1,
                        init_weights=parent, **kw)  # no --set: the architecture must come from the parent
    return detector_loop(opts, samples, val, CropSampler(samples, crop=64), lambda e: None, stop, validate=validate)


def test_fine_tune_takes_the_parents_config_and_thresholds(tmp_path):
    samples = synthetic(4)
    parent_trainer, _ = make_trainer(tmp_path / "parent", samples, epochs=1)
    parent_trainer.run()
    parent = tmp_path / "parent" / "best.safetensors"
    meta = read_metadata(parent)
    pcfg = json.loads(meta["config"])
    assert pcfg["fpn_channels"] == 16  # the tiny parent, unlike the preset's 32

    child = _child(tmp_path, samples, parent, val=[])  # no validation
    assert child.task.cfg.fpn_channels == 16 and child.task.cfg.tower_convs == pcfg["tower_convs"]
    assert child.run().best_weights is not None
    cmeta = read_metadata(tmp_path / "child" / "best.safetensors")
    assert float(cmeta["operating_threshold"]) == float(meta["operating_threshold"])
    assert float(cmeta["sky_threshold"]) == float(meta["sky_threshold"])

    # stopped before its first step, then resumed: the parent's thresholds survive the resume
    assert _child(tmp_path, samples, parent, val=[], stop=lambda: True, name="again").run().interrupted
    resumed = _child(tmp_path, samples, parent, val=[], name="again", resume=True)
    assert resumed.run().best_weights is not None
    rmeta = read_metadata(tmp_path / "again" / "best.safetensors")
    assert float(rmeta["operating_threshold"]) == float(meta["operating_threshold"])
    assert float(rmeta["sky_threshold"]) == float(meta["sky_threshold"]) != 0.5

    with pytest.raises(CheckpointError, match="fine-tune it with --preset default"):
        _child(tmp_path, samples, parent, val=[], preset="paper-r18")


def test_fine_tune_carries_the_parents_rescorer(tmp_path):
    """ADR 0042: without a validation the child keeps the parent's rescorer with the parent's
    threshold (they were chosen together); with one, the rescorer validation chose is written
    with the threshold chosen for its scores, and the choice is on the card."""
    from model.rescore import FEATURES
    from model.rescore_fit import write

    samples = synthetic(4)
    parent_trainer, _ = make_trainer(tmp_path / "parent", samples, epochs=1)
    parent_trainer.run()
    parent = tmp_path / "parent" / "best.safetensors"
    coef = [0.0] * (len(FEATURES) + 1)
    coef[FEATURES.index("logit")] = 1.0  # the detector's own score: rescoring changes no ranking
    coef[FEATURES.index("local_contrast")] = 0.25
    write(parent, tuple(coef), 0.4321, None)

    _child(tmp_path, samples, parent, val=[], name="blind").run()
    blind = read_metadata(tmp_path / "blind" / "best.safetensors")
    assert json.loads(blind["config"])["rescore"] == pytest.approx(coef)
    assert float(blind["operating_threshold"]) == 0.4321 == json.loads(blind["config"])["operating_threshold"]

    _child(tmp_path, samples, parent, val=samples, name="seen").run()
    seen = read_metadata(tmp_path / "seen" / "best.safetensors")
    carry = json.loads(seen["rescore_carry"])
    stored = json.loads(seen["config"])["rescore"]
    assert carry["carry"] in ("none", "parent", "refit") and set(carry["two_fold"]) == {"none", "parent", "refit"}
    assert stored == pytest.approx(carry["rescore"])
    assert (stored == []) == (carry["carry"] == "none")
    if carry["carry"] == "parent":
        assert stored == pytest.approx(coef)
    assert json.loads(seen["val"])["threshold"] == float(seen["operating_threshold"])
    assert "rescorer" not in json.loads(seen["val"])  # the figures stay numbers
