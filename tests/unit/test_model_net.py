"""BAFE-Net shapes, the hard channel exchange and the config switches."""

from __future__ import annotations

import pytest
import torch

from model.config import BafeConfig, preset
from model.exchange import HardExchange
from model.net import BafeNet

torch.set_num_threads(1)


def tiny(**kw) -> BafeConfig:
    base = dict(fpn_channels=16, gn_groups=4, tower_convs=1, adapter_hidden=8)
    base.update(kw)
    return preset("default", **base)


def test_output_shapes_per_level():
    cfg = tiny()
    out = BafeNet(cfg).eval()(torch.rand(2, 1, 64, 96))
    assert cfg.strides == (4, 8, 16)
    for key, ch in (("cls", 1), ("box", 4), ("ctr", 1), ("sky", 1)):
        assert [tuple(t.shape) for t in out[key]] == [(2, ch, 16, 24), (2, ch, 8, 12), (2, ch, 4, 6)]


def test_paper_preset_is_the_paper_config():
    cfg = preset("paper-r18")
    assert (cfg.backbone, cfg.strides, cfg.fpn_channels, cfg.tower_convs) == ("resnet18", (8, 16, 32), 256, 4)
    assert cfg.p == 0.5 and cfg.adapter_hidden == 64 and cfg.exchange == "dynamic"


def test_seg_head_off_has_no_sky_output_and_no_exchange():
    net = BafeNet(tiny(seg_head=False))
    assert net.head.exchange is None
    assert net(torch.rand(1, 1, 32, 32))["sky"] == []


def test_config_json_round_trip_and_bad_values():
    cfg = tiny(exchange="random", p=0.25)
    assert BafeConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="exchange"):
        tiny(exchange="sometimes")
    with pytest.raises(ValueError, match="p ="):
        tiny(p=0.0)


@pytest.mark.parametrize("mode", ["fixed", "random", "dynamic"])
def test_exchange_swaps_exactly_the_selected_channels(mode):
    torch.manual_seed(0)
    ex = HardExchange(8, 4, mode, adapter=False, hidden=8).eval()
    x1, x2 = torch.randn(2, 8, 5, 5), torch.randn(2, 8, 5, 5)
    i1, i2, _, _ = ex.select(x1, x2)
    if mode != "random":  # random draws new indices on every call
        y1, y2 = ex(x1, x2)
    else:
        torch.manual_seed(1)
        i1, i2, _, _ = ex.select(x1, x2)
        torch.manual_seed(1)
        y1, y2 = ex(x1, x2)
    for b in range(2):
        sel1, sel2 = i1[b].tolist(), i2[b].tolist()
        assert len(set(sel1)) == 4 and len(set(sel2)) == 4
        for k, (c1, c2) in enumerate(zip(sel1, sel2, strict=True)):
            assert torch.equal(y1[b, c1], x2[b, c2]), f"channel {k}"
            assert torch.equal(y2[b, c2], x1[b, c1])
        rest1 = [c for c in range(8) if c not in sel1]
        rest2 = [c for c in range(8) if c not in sel2]
        assert torch.equal(y1[b, rest1], x1[b, rest1])
        assert torch.equal(y2[b, rest2], x2[b, rest2])


def test_dynamic_selection_picks_top_scores_and_learns_through_the_gate():
    ex = HardExchange(8, 2, "dynamic", adapter=True, hidden=8)
    x1, x2 = torch.randn(1, 8, 6, 6), torch.randn(1, 8, 6, 6)
    i1, _, s1, _ = ex.select(x1, x2)
    assert set(i1[0].tolist()) == set(s1[0].topk(2).indices.tolist())
    y1, y2 = ex(x1, x2)
    (y1.sum() + y2.sum()).backward()
    assert ex.sel1.local.weight.grad is not None and ex.sel1.local.weight.grad.abs().sum() > 0
    assert ex.ad12[0].weight.grad.abs().sum() > 0


def test_reference_mode_keeps_selection_out_of_the_loss():
    ex = HardExchange(8, 2, "dynamic", adapter=True, hidden=8, trainable=False)
    y1, y2 = ex(torch.randn(1, 8, 6, 6), torch.randn(1, 8, 6, 6))
    (y1.sum() + y2.sum()).backward()
    assert ex.sel1.local.weight.grad is None
