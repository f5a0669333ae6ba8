"""Training loop: overfitting a tiny synthetic set, checkpoints (round trip, resume, corruption),
and the Predictor on the weights it exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.domain import Source, TargetState
from core.errors import CheckpointError
from model.checkpoint import load_state, read_metadata
from model.data import CropSampler, Sample
from model.inference import Predictor
from model.net import build_from_weights
from model.train import TrainOptions, detector_loop
from model.validate import validate

torch.set_num_threads(1)
TINY = dict(fpn_channels=16, gn_groups=4, tower_convs=1, adapter_hidden=8)


def synthetic(n: int, seed: int = 0, size: int = 64) -> list[Sample]:
    """Dim noisy images with three bright 3x3 targets in the upper (sky) half."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = rng.normal(0.25, 0.02, (size, size)).astype(np.float32)
        sky = np.zeros((size, size), np.uint8)
        sky[: size // 2] = 1
        img[size // 2 :] += 0.2  # the ground is brighter: the sky head has something to learn
        boxes = []
        for k in range(3):
            x, y = 6 + 18 * k + int(rng.integers(0, 6)), int(rng.integers(4, size // 2 - 6))
            img[y : y + 3, x : x + 3] = 0.95
            boxes.append([x, y, x + 3, y + 3])
        out.append(Sample(f"s{i}", img, np.asarray(boxes, np.float32), sky))
    return out


def make_trainer(out: Path, samples: list[Sample], epochs: int, stop=lambda: False, resume=False, **kw):
    opts = TrainOptions(out=out, epochs=epochs, batch=4, crop=64, lr=4e-3, warmup_steps=5,
                        resume=resume, overrides=TINY, **kw)
    events: list[dict] = []
    trainer = detector_loop(opts, samples, samples[:2], CropSampler(samples, crop=64), events.append, stop, validate=validate)
    return trainer, events


@pytest.mark.slow
def test_overfits_a_tiny_set(tmp_path):
    torch.manual_seed(0)
    samples = synthetic(8)
    trainer, events = make_trainer(tmp_path, samples, epochs=12, repeats=2)
    result = trainer.run()
    totals = [e["losses"]["total"] for e in events if e["event"] == "step"]
    assert np.mean(totals[-6:]) < 0.5 * np.mean(totals[:6])
    assert result.val["recall"] >= 0.8 and result.val["mAP07"] >= 0.5
    assert result.val["sky_iou"] >= 0.8
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    meta = read_metadata(result.best_weights)
    assert meta["preset"] == "default" and 0 < float(meta["operating_threshold"]) < 1
    # the exported weights find the targets through the public Predictor, on a 16-bit colour image
    pred = Predictor(result.best_weights)
    img16 = (np.repeat(samples[0].image[:, :, None], 3, axis=2) * 65535).astype(np.uint16)
    p = pred.predict(img16)
    assert p.sky_prob.shape == (64, 64) and p.boxes.shape[1] == 4 and len(p.points) == len(p.scores)
    targets, sky = pred.predict_targets(img16, score_thr=pred.operating_threshold)
    assert len(targets) >= 2 and all(t.source == Source.MODEL and t.state == TargetState.PROPOSAL for t in targets)
    assert sky[:20].mean() > 0.8 and sky[44:].mean() < 0.2


def test_interrupt_and_resume_match_an_uninterrupted_run(tmp_path):
    samples = synthetic(4)
    torch.manual_seed(1)
    straight, _ = make_trainer(tmp_path / "a", samples, epochs=2)
    straight.run()
    holder: dict = {}

    def stop_mid_second_epoch() -> bool:  # like SIGTERM arriving after step 1 of epoch 2
        progress = holder["trainer"].progress
        return (progress["epoch"], progress["step"]) == (1, 1)

    torch.manual_seed(1)
    first, ev1 = make_trainer(tmp_path / "b", samples, epochs=2, stop=stop_mid_second_epoch)
    holder["trainer"] = first
    r1 = first.run()
    assert r1.interrupted and ev1[-1]["event"] == "checkpoint"
    st = load_state(tmp_path / "b" / "last.pt")
    assert (st["progress"]["epoch"], st["progress"]["step"]) == (1, 1)  # 2 steps per epoch
    second, ev2 = make_trainer(tmp_path / "b", samples, epochs=2, resume=True)
    r2 = second.run()
    assert not r2.interrupted and ev2[0]["resumed_from_epoch"] == 1
    for (k, a), b in zip(straight.task.net.state_dict().items(), second.task.net.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), k


def test_truncated_checkpoints_raise_checkpoint_error(tmp_path):
    samples = synthetic(4)
    trainer, _ = make_trainer(tmp_path, samples, epochs=1)
    trainer.run()
    for name in ("last.pt", "best.safetensors"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut_{name}").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_state(tmp_path / "cut_last.pt")
    with pytest.raises(CheckpointError, match="truncated or corrupt|cannot load"):
        build_from_weights(tmp_path / "cut_best.safetensors")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        make_trainer(tmp_path / "empty", samples, epochs=1, resume=True)
    with pytest.raises(CheckpointError, match="no weights file"):
        Predictor(tmp_path / "missing.safetensors")


def test_sky_threshold_is_the_best_iou_on_validation():
    from model.validate import best_sky_threshold, sky_iou_counts

    gt = np.zeros((10, 10), bool)
    gt[:4] = True
    prob = np.full((10, 10), 0.3, np.float32)
    prob[:4] = 0.9
    prob[4:6] = 0.6  # two rows of ground the model is unsure about
    res = best_sky_threshold(sky_iou_counts(prob, gt))
    assert res["sky_iou"] == pytest.approx(1.0) and 0.6 < res["sky_threshold"] <= 0.9
    low = sky_iou_counts(prob, gt)[0]  # threshold 0.2: everything is sky
    assert low.tolist() == [40, 100]
    assert best_sky_threshold(np.zeros((15, 2), np.int64)) == {"sky_iou": 0.0, "sky_threshold": 0.5}


def test_fine_tune_from_weights_with_another_exchange_mode(tmp_path):
    samples = synthetic(4)
    first, _ = make_trainer(tmp_path / "a", samples, epochs=1)
    first.run()
    opts = TrainOptions(out=tmp_path / "b", epochs=1, batch=4, crop=64,
                        overrides={**TINY, "exchange": "off"}, init_weights=tmp_path / "a" / "best.safetensors")
    tuned = detector_loop(opts, samples, samples[:2], CropSampler(samples, crop=64), lambda e: None, lambda: False, validate=validate)
    assert tuned.task.net.head.exchange is None
    a, b = first.task.net.state_dict(), tuned.task.net.state_dict()
    assert torch.equal(a["head.cls_logits.weight"], b["head.cls_logits.weight"])
    assert torch.equal(a["backbone.stem.0.weight"], b["backbone.stem.0.weight"])
    from safetensors.torch import save_file

    save_file({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.safetensors", metadata={"config": "{}"})
    bad = TrainOptions(out=tmp_path / "c", overrides=TINY, init_weights=tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="shares only"):
        detector_loop(bad, samples, [], CropSampler(samples, crop=64), lambda e: None, lambda: False, validate=validate)


def test_same_seed_same_losses_other_seed_other_losses(tmp_path):
    samples = synthetic(4)
    runs = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        torch.manual_seed(123 + len(runs))  # a different global state each time: the seed must win
        trainer, events = make_trainer(tmp_path / name, samples, epochs=1, seed=seed, repeats=2)
        trainer.run()
        runs[name] = [e["losses"]["total"] for e in events if e["event"] == "step"]
    assert len(runs["a"]) == 2 and runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


def test_whole_frame_batches_add_a_sky_loss(tmp_path):
    from model.data import whole_frame_batch

    samples = synthetic(4, size=64)
    x, sky = whole_frame_batch(samples[:2], 48, np.random.default_rng(0))
    assert tuple(x.shape) == (2, 1, 64, 64) and tuple(sky.shape) == (2, 64, 64)
    assert (sky[:, 48:] == 255).all() and (sky[:, :24, :48] == 1).all() and (sky[:, 25:48, :48] == 0).all()
    trainer, events = make_trainer(tmp_path, samples, epochs=1, whole_frames=2, whole_long_side=48)
    trainer.run()
    assert all(np.isfinite(e["losses"]["total"]) for e in events if e["event"] == "step")
