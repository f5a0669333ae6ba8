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
