"""The ONNX export's cheaper channel exchange (ADR 0039) against torch's own operators.

The references are torch.scatter, Tensor.amax and Tensor.mean (the training path); the exported
graph is read back with onnx and run in ONNX Runtime next to the torch network it came from.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from model.config import preset
from model.exchange import channel_tree, scatter_by_onehot, scatter_channels
from model.net import BafeNet
from model.onnx_export import _FlatOutputs, export_bytes


@pytest.mark.parametrize("c,k", [(32, 16), (7, 3), (5, 5), (1, 1)])
def test_onehot_scatter_equals_torch_scatter_bit_for_bit(c, k):
    g = torch.Generator().manual_seed(c * 10 + k)
    x = torch.randn(3, c, 5, 6, generator=g)
    values = torch.randn(3, k, 5, 6, generator=g)
    idx = torch.stack([torch.randperm(c, generator=g)[:k] for _ in range(3)])
    want = torch.scatter(x, 1, idx[:, :, None, None].expand(3, k, 5, 6), values)
    got = scatter_by_onehot(x, idx, values)
    assert torch.equal(got, want)
    assert torch.equal(scatter_channels(x, idx, values), want)  # outside an export: torch.scatter itself


@pytest.mark.parametrize("c", [1, 2, 3, 7, 32, 33])
def test_channel_tree_max_is_exact_and_sum_is_the_sum(c):
    x = torch.randn(2, c, 4, 9, generator=torch.Generator().manual_seed(c))
    assert torch.equal(channel_tree(x, torch.maximum), x.amax(dim=1, keepdim=True))
    total = channel_tree(x, torch.add)
    assert total.shape == (2, 1, 4, 9)
    assert torch.allclose(total, x.double().sum(dim=1, keepdim=True).float(), rtol=0, atol=1e-5)


def test_exported_exchange_has_no_slow_operators_and_matches_torch():
    import onnxruntime as ort

    torch.manual_seed(3)
    cfg = preset("default")
    net = BafeNet(cfg).eval()
    data = export_bytes(net, cfg, {})
    nodes = onnx.load_from_string(data).graph.node
    assert not [n.name for n in nodes if n.op_type in ("ScatterElements", "ReduceMax")]
    # the only reductions left are the scores' spatial means (over the last two axes: fast)
    axes = [list(onnx.helper.get_attribute_value(a)) for n in nodes if n.op_type == "ReduceMean"
            for a in n.attribute if a.name == "axes"]
    assert axes and all(a == [2, 3] for a in axes), axes
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for h, w in ((96, 128), (160, 96)):  # two sizes: the graph's shapes are dynamic
        x = torch.rand(1, 1, h, w, generator=torch.Generator().manual_seed(h))
        with torch.no_grad():
            want = [t.numpy() for t in _FlatOutputs(net)(x)]  # torch: scatter, amax, mean
        got = session.run(None, {"image": x.numpy()})
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
