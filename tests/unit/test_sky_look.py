"""The sky network's mirrored look only where it can change the sky (model/sky_look.py, ADR 0036).

Truths: hand-made logit maps with a hand-counted share of cells near logit(threshold); the whole
exported sky graph run in a plain onnxruntime session and the eager torch sky network.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from model.checkpoint import save_weights
from model.config import preset
from model.net import BafeNet
from model.sky_look import (
    ALWAYS,
    MirrorRule,
    needs_mirror,
    split_graph,
    uncertain_share,
    valid_cells,
)

ort = pytest.importorskip("onnxruntime")

T = math.log(0.3 / 0.7)  # logit of a 0.3 sky threshold


def test_uncertain_share_counts_cells_near_the_threshold_inside_the_frame():
    logit = np.full((1, 1, 6, 8), 5.0, np.float32)  # confident sky
    logit[0, 0, 0, :3] = T + 0.4  # 3 cells within 0.5 of the threshold
    logit[0, 0, 1, 0] = T - 0.6  # outside a 0.5 margin, inside 1.0
    logit[0, 0, 5, :] = T  # the last row is padding: not counted
    assert uncertain_share(logit, (5, 8), 0.3, 0.5) == pytest.approx(3 / 40)
    assert uncertain_share(logit, (5, 8), 0.3, 1.0) == pytest.approx(4 / 40)


@pytest.mark.parametrize(("fill", "expected"), [(6.0, False), (-6.0, False)])
def test_all_sky_or_all_ground_frames_skip_the_mirror(fill, expected):
    logit = np.full((1, 1, 20, 30), fill, np.float32)
    assert needs_mirror(logit, (20, 30), 0.3, MirrorRule(1.5, 0.03)) is expected
    assert needs_mirror(logit, (20, 30), 0.3, ALWAYS) is True  # the graph's own behaviour


def test_a_sharp_horizon_skips_and_a_wide_uncertain_band_mirrors():
    rule = MirrorRule(1.5, 0.03)
    sharp = np.full((1, 1, 40, 50), -6.0, np.float32)
    sharp[0, 0, :20] = 6.0
    sharp[0, 0, 20] = T  # one row of 50 cells at the threshold: 50 / 2000 = 2.5 % <= 3 %
    assert not needs_mirror(sharp, (40, 50), 0.3, rule)
    wide = sharp.copy()
    wide[0, 0, 20:24] = T + 1.0  # four rows: 10 % of the cells within 1.5 of the threshold
    assert needs_mirror(wide, (40, 50), 0.3, rule)
    # the same band in the padding only: no mirror
    padded = np.full((1, 1, 44, 50), -6.0, np.float32)
    padded[0, 0, 40:] = T
    assert not needs_mirror(padded, (40, 50), 0.3, rule)


def test_valid_cells_round_the_frame_up_to_whole_cells():
    assert valid_cells((358, 448), 4) == (90, 112)
    assert valid_cells((512, 640), 4) == (128, 160)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A small random-init net with a whole-frame sky network, mirrored look on."""
    torch.manual_seed(11)
    cfg = preset("default", exchange="fixed", fpn_channels=16, gn_groups=4, sky_pass_long_side=96,
                 sky_net=True, sky_flip=True)
    net = BafeNet(cfg).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    save_weights(path, net, cfg, "default", operating_threshold=0.4, sky_threshold=0.5)
    return path


def _frame(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.random((1, 1, 64, 96), dtype=np.float32) * 0.3
    x[..., 32:, :] += 0.5
    return x


def test_split_graph_gives_the_whole_graph_and_the_torch_network(tiny):
    from model.backends import make_session
    from model.net import build_from_weights
    from model.onnx_export import GraphPart, cached_onnx
    from model.sky_look import MirrorLooks

    net, cfg, meta = build_from_weights(tiny)
    data = cached_onnx(net, cfg, meta, tiny, GraphPart.SKY)
    whole = make_session(data, 1)
    looks = MirrorLooks(*(make_session(piece, 1) for piece in split_graph(data)))
    for seed in range(3):
        x = _frame(seed)
        ref = whole.run(None, {"image": x})[0]
        np.testing.assert_array_equal(looks.both(x), ref)  # the same graph, cut in two: bit for bit
        with torch.no_grad():
            single = net.sky_net.single(torch.from_numpy(x)).numpy()
            both = net.sky_net(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(looks.look(x), single, atol=1e-4)
        np.testing.assert_allclose(ref, both, atol=1e-4)
        assert np.abs(single - both).max() > 1e-3  # the mirrored look does change this network's logit


def test_split_graph_refuses_a_graph_without_the_mirrored_look(tiny):
    from model.net import build_from_weights
    from model.onnx_export import GraphPart, export_bytes

    net, cfg, meta = build_from_weights(tiny)
    net.sky_net.flip = False
    assert split_graph(export_bytes(net, cfg, meta, GraphPart.SKY)) is None


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_predictor_runs_the_mirror_only_when_the_rule_asks(tiny, backend):
    from model.inference import Predictor

    p = Predictor(tiny, threads=1, backend=backend)
    img = (np.random.default_rng(3).random((120, 160)) * 255).astype(np.uint8)
    prepared = p.prepare(img)
    full = p._sky_runner(prepared.sky_x).numpy()  # the graph / module with both looks
    p.sky_mirror = ALWAYS
    logit, mirrored = p.sky_logit(prepared)
    assert mirrored
    np.testing.assert_allclose(logit.numpy(), full, atol=1e-5 if backend == "torch" else 0)
    p.sky_mirror = MirrorRule(0.0, 2.0)  # never: no cell can be "uncertain" in more than 100 %
    logit, mirrored = p.sky_logit(prepared)
    assert not mirrored
    with torch.no_grad():
        plain = p.net.sky_net.single(torch.from_numpy(prepared.sky_x)).numpy()
    np.testing.assert_allclose(logit.numpy(), plain, atol=1e-4)
    # the prediction takes the logit the rule chose
    p.sky_mirror = ALWAYS
    a = p.predict(img).sky_prob
    p.sky_mirror = MirrorRule(0.0, 2.0)
    b = p.predict(img).sky_prob
    assert not np.array_equal(a, b)
