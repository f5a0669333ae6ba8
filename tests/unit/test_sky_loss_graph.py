"""A crop batch without sky labels still gives every sky-head parameter a gradient (zero): under
DistributedDataParallel every rank must produce a gradient for every trained parameter."""

from __future__ import annotations

import torch

from model.config import preset
from model.losses import compute_losses, sky_loss
from model.net import BafeNet
from tests.unit.test_model_train import TINY


def test_unlabelled_sky_keeps_the_sky_head_on_the_graph() -> None:
    torch.manual_seed(0)
    net = BafeNet(preset("default", **TINY))
    out = net(torch.rand(2, 1, 64, 64))
    unlabelled = torch.full((2, 64, 64), 255, dtype=torch.uint8)
    losses = compute_losses(out, [torch.zeros(0, 4), torch.zeros(0, 4)], unlabelled, net.cfg)
    assert losses["sky"].item() == 0.0
    losses["total"].backward()
    sky_params = [(n, p) for n, p in net.named_parameters() if "sky_logits" in n]  # used by the sky loss only
    assert sky_params
    for name, p in sky_params:
        assert p.grad is not None and float(p.grad.abs().sum()) == 0.0, name
    assert all(p.grad is not None for p in net.parameters())  # nothing left out for DDP to wait on
    logits = [torch.zeros(1, 1, 2, 2, requires_grad=True)]
    half = torch.tensor([[[1, 1], [0, 255]]], dtype=torch.uint8)
    # by hand: BCE of logit 0 is ln 2 on the three labelled pixels
    assert abs(sky_loss(logits, half).item() - 0.693147) < 1e-5
