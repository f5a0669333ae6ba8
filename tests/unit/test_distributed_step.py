"""model.distributed.DistributedTrainer takes issue 12's training options (whole frames, channels-last,
seeding) through model.train.train_step. Truth: the one-process Trainer on the same options; a
single-rank gloo group makes the two runs the same computation, so the losses must match."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist

from model.data import CropSampler
from model.distributed import DistributedTrainer
from model.train import Trainer, TrainOptions
from tests.unit.test_model_train import TINY, synthetic


@pytest.fixture
def one_rank_group():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _losses(cls, tmp_path, samples, **extra) -> list[float]:
    opts = TrainOptions(out=tmp_path, epochs=1, batch=4, crop=64, lr=4e-3, warmup_steps=2, repeats=2,
                        seed=5, overrides=TINY, whole_frames=2, whole_long_side=48, channels_last=True)
    events: list[dict] = []
    trainer = cls(opts, samples, [], CropSampler(samples, crop=64), events.append, lambda: False, **extra)
    trainer.run()
    return [e["losses"]["total"] for e in events if e["event"] == "step"]


def test_distributed_step_uses_the_whole_frames_and_options(tmp_path, one_rank_group):
    samples = synthetic(4)
    torch.manual_seed(1)
    plain = _losses(Trainer, tmp_path / "plain", samples)
    torch.manual_seed(2)  # another global state: the seed in the options decides
    ranked = _losses(DistributedTrainer, tmp_path / "ddp", samples, rank=0, world_size=1)
    assert len(plain) == 2
    np.testing.assert_allclose(ranked, plain, rtol=1e-5)
    without = TrainOptions(out=tmp_path / "x", epochs=1, batch=4, crop=64, lr=4e-3, warmup_steps=2, repeats=2,
                           seed=5, overrides=TINY, channels_last=True)
    events: list[dict] = []
    Trainer(without, samples, [], CropSampler(samples, crop=64), events.append, lambda: False).run()
    crops_only = [e["losses"]["total"] for e in events if e["event"] == "step"]
    assert crops_only[0] < plain[0]  # the whole frames' sky loss is part of the distributed total too


def test_whole_frames_must_split_evenly_over_the_ranks(tmp_path):
    opts = TrainOptions(out=tmp_path, batch=4, overrides=TINY, whole_frames=3)
    samples = synthetic(4)
    with pytest.raises(ValueError, match="--whole-frames 3 must be a multiple of --nproc 2"):
        DistributedTrainer(opts, samples, [], CropSampler(samples, crop=64), lambda e: None, lambda: False,
                           rank=0, world_size=2)
