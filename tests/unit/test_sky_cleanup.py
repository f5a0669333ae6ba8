"""Sky proposal clean-up (core.geometry.clean_sky_mask, ring_stats) and the whole-frame sky pass."""

from __future__ import annotations

import numpy as np
import torch

from core.geometry import clean_sky_mask, ring_stats
from model.config import BafeConfig, preset
from model.frames import downscale
from model.inference import Predictor
from model.net import BafeNet
from model.sky import sky_proposal

torch.set_num_threads(1)


def test_specks_and_pin_holes_below_the_size_go():
    m = np.zeros((60, 80), bool)
    m[:30] = True  # the sky
    m[10:12, 10:12] = False  # pin-hole of 4 px
    m[50:53, 60:63] = True  # speck of 9 px on the ground
    m[40:50, 5:15] = True  # island of 100 px: kept
    out = clean_sky_mask(m, min_area=20)
    want = np.zeros_like(m)
    want[:30] = True
    want[40:50, 5:15] = True
    assert np.array_equal(out, want)
    # rectangles trace to 4 vertices; the 2x2 pin-hole to the 8 surrounding pixel centres
    assert ring_stats(m) == (4, 20) and ring_stats(out) == (2, 8)


def test_smoothing_straightens_a_ragged_outline():
    rng = np.random.default_rng(0)
    m = np.zeros((100, 100), bool)
    edge = 50 + rng.integers(-2, 3, size=100)  # a boundary that jitters by +-2 px per column
    for x in range(100):
        m[: edge[x], x] = True
    out = clean_sky_mask(m, smooth=3.0)
    rings_before, verts_before = ring_stats(m)
    rings_after, verts_after = ring_stats(out)
    assert rings_after == 1 and verts_after < verts_before / 2
    # the area stays about the same: the mean boundary row is 50
    assert abs(out.sum() - m.sum()) < 0.02 * m.sum()


def test_sky_proposal_defaults_are_a_plain_threshold():
    prob = np.random.default_rng(1).random((40, 50)).astype(np.float32)
    assert np.array_equal(sky_proposal(prob, 0.4, BafeConfig()), prob >= 0.4)
    cleaned = sky_proposal(prob, 0.4, BafeConfig(sky_min_area=0.05))
    assert ring_stats(cleaned)[0] < ring_stats(prob >= 0.4)[0]


def test_downscale_is_an_area_average():
    img = np.arange(16, dtype=np.float32).reshape(4, 4)
    small = downscale(img, 2)
    assert small.shape == (2, 2)
    assert np.allclose(small, [[(0 + 1 + 4 + 5) / 4, (2 + 3 + 6 + 7) / 4], [(8 + 9 + 12 + 13) / 4, (10 + 11 + 14 + 15) / 4]])
    assert downscale(img, 8) is img


def test_whole_frame_pass_returns_a_full_size_map_and_old_configs_load():
    cfg = preset("default", fpn_channels=16, gn_groups=4, tower_convs=1, adapter_hidden=8, sky_pass_long_side=64)
    net = BafeNet(cfg).eval()
    predictor = Predictor.for_network(net, cfg)
    image = (np.random.default_rng(0).random((100, 150)) * 255).astype(np.uint8)
    prepared = predictor.prepare(image)
    assert prepared.sky_size == (43, 64)  # the pass runs on the frame shrunk to a long side of 64
    logit = predictor.finish(prepared, predictor.run_network(prepared)).sky_logit_map()
    assert tuple(logit.shape) == (100, 150)
    old = '{"backbone": "resnet18", "exchange": "dynamic", "fpn_channels": 32}'  # written before the fields
    c = BafeConfig.from_json(old)
    assert (c.sky_pass_long_side, c.sky_smooth, c.sky_min_area) == (0, 0.0, 0.0)


def test_export_with_inference_overrides(tmp_path):
    import json

    import pytest

    from app.cli.train import _export
    from model.checkpoint import read_metadata, save_weights
    from model.net import build_from_weights

    cfg = preset("default", fpn_channels=16, gn_groups=4, tower_convs=1, adapter_hidden=8)
    net = BafeNet(cfg)
    save_weights(tmp_path / "a.safetensors", net, cfg, "default", sky_threshold="0.5", operating_threshold="0.4")
    _export(tmp_path / "a.safetensors", tmp_path / "b.safetensors", {"sky_pass_long_side": 320, "sky_smooth": 4.0},
            sky_threshold=0.45)
    meta = read_metadata(tmp_path / "b.safetensors")
    conf = json.loads(meta["config"])
    assert (conf["sky_pass_long_side"], conf["sky_smooth"]) == (320, 4.0)
    assert (meta["sky_threshold"], meta["operating_threshold"]) == ("0.45", "0.4")
    b, _, _ = build_from_weights(tmp_path / "b.safetensors")
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in net.state_dict().items())
    with pytest.raises(ValueError, match="changes the network"):
        _export(tmp_path / "a.safetensors", tmp_path / "c.safetensors", {"fpn_channels": 8, "gn_groups": 4})
