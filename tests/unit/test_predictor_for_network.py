"""Predictor.for_network (the one prediction path, docs/adr/0021): a network in memory predicts
exactly as the same weights loaded from a file by the Predictor users run; validation feeds it the
frame's own pixels; wrappers are looked through."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.domain import ImageAnnotation, Target
from model.checkpoint import save_weights
from model.config import preset
from model.data import make_sample
from model.inference import Predictor
from model.net import BafeNet
from model.validate import sample_pixels, validate

TINY = dict(fpn_channels=16, gn_groups=4, tower_convs=1, adapter_hidden=8)


def _net(**over) -> tuple[BafeNet, object]:
    torch.manual_seed(5)
    cfg = preset("default", exchange="fixed", **TINY, **over)
    net = BafeNet(cfg).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net, cfg


def _frame(h: int = 90, w: int = 120, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.normal(60, 4, (h, w))
    img[h // 2 :] += 70
    img[20:23, 30:33] = 250
    img[40, 90] = 255  # an isolated hot pixel: the filter repairs it in both paths
    return img.clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("over", [{}, {"sky_net": True, "sky_pass_long_side": 64}])
def test_a_network_in_memory_predicts_as_its_weights_file(tmp_path: Path, over: dict) -> None:
    net, cfg = _net(**over)
    path = tmp_path / "w.safetensors"
    save_weights(path, net, cfg, "default", operating_threshold="0.4", sky_threshold="0.5")
    torch.set_num_threads(1)
    from_file = Predictor(path, threads=1, backend="torch").predict(_frame())
    in_memory = Predictor.for_network(net, cfg).predict(_frame())
    assert len(from_file.boxes) > 0
    np.testing.assert_array_equal(in_memory.boxes, from_file.boxes)
    np.testing.assert_array_equal(in_memory.scores, from_file.scores)
    np.testing.assert_array_equal(in_memory.bad_pixels, from_file.bad_pixels)
    assert from_file.bad_pixels.tolist() == [[90, 40]]
    np.testing.assert_array_equal(in_memory.sky_mask(0.5), from_file.sky_mask(0.5))
    if over:  # the sky network's pass alone gives predict's sky
        sky_only = Predictor.for_network(net, cfg).predict_sky(_frame())
        assert len(sky_only.boxes) == 0
        np.testing.assert_array_equal(sky_only.sky_logit_map(), from_file.sky_logit_map())


def test_wrappers_are_looked_through() -> None:
    from torch.optim.swa_utils import AveragedModel

    net, cfg = _net(sky_net=True, sky_pass_long_side=64)
    averaged = AveragedModel(net)  # holds its own copy: that copy is what gets validated
    p = Predictor.for_network(averaged, cfg)
    assert p.net is averaged.module and p._sky_runner is not None  # the sky network is found inside


def test_validation_feeds_an_8bit_frame_exactly_as_read() -> None:
    raw = _frame()
    colour = np.dstack([raw, raw, raw])  # to_gray of equal channels is the frame itself
    for pixels in (raw, colour):
        s = make_sample("f", pixels, ImageAnnotation(targets=[Target(box=(30, 20, 33, 23))]))
        back = sample_pixels(s)
        assert back.dtype == np.uint8 and np.array_equal(back, raw)


def test_validate_restores_the_training_mode_and_stops_midway() -> None:
    net, cfg = _net()
    net.train()
    s = make_sample("f", _frame(), ImageAnnotation(targets=[Target(box=(30, 20, 33, 23))]))
    assert validate(net, cfg, [s, s], stop=lambda: True) is None and net.training
    res = validate(net, cfg, [s])
    assert net.training and res["sky_threshold"] == 0.5 and res["sky_iou"] == 0.0  # no sky label
