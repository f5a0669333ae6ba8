"""The detector's step under DistributedDataParallel takes issue 12's training options (whole frames,
channels-last, seeding). Truth: the one-process loop on the same options; a single-rank gloo group
makes the two runs the same computation, so the losses must match. (Was test_distributed_step.py.)"""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist

from model.data import CropSampler
from model.train import TrainOptions, detector_loop
from model.validate import validate
from tests.unit.test_model_train import TINY, synthetic


def _opts(out, **kw) -> TrainOptions:
    base = dict(out=out, epochs=1, batch=4, crop=64, lr=4e-3, warmup_steps=2, repeats=2, seed=5, overrides=TINY,
                channels_last=True)
    return TrainOptions(**(base | kw))


def _losses(opts, samples) -> list[float]:
    events: list[dict] = []
    detector_loop(opts, samples, [], CropSampler(samples, crop=64), events.append, lambda: False, validate=validate).run()
    return [e["losses"]["total"] for e in events if e["event"] == "step"]


def test_ddp_step_uses_the_whole_frames_and_options(tmp_path) -> None:
    samples = synthetic(4)
    torch.manual_seed(1)
    plain = _losses(_opts(tmp_path / "plain", whole_frames=2, whole_long_side=48), samples)
    crops_only = _losses(_opts(tmp_path / "x"), samples)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        torch.manual_seed(2)  # another global state: the seed in the options decides
        ranked = _losses(_opts(tmp_path / "ddp", whole_frames=2, whole_long_side=48), samples)
    finally:
        dist.destroy_process_group()
    assert len(plain) == 2
    np.testing.assert_allclose(ranked, plain, rtol=1e-5)
    assert crops_only[0] < plain[0]  # the whole frames' sky loss is part of the distributed total too


def test_whole_frames_must_split_evenly_over_the_ranks(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    samples = synthetic(4)
    with pytest.raises(ValueError, match="--whole-frames 3 must be a multiple of the 2 processes"):
        detector_loop(_opts(tmp_path, whole_frames=3), samples, [], CropSampler(samples, crop=64),
                      lambda e: None, lambda: False, validate=validate)
    with pytest.raises(ValueError, match="--batch 3 must be a multiple of the 2 processes"):
        detector_loop(_opts(tmp_path, batch=3), samples, [], CropSampler(samples, crop=64),
                      lambda e: None, lambda: False, validate=validate)
