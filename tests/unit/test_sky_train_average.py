"""The sky trainer's weight average and epoch selection, against hand-computed values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from model.sky_train import WeightAverage, selection_score


def test_weight_average_follows_the_warmed_up_decay() -> None:
    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    with torch.no_grad():
        net[0].weight.fill_(0.0)
    avg = WeightAverage(net, decay=0.9)
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[1].num_batches_tracked.fill_(7)
    avg.update(net)  # decay min(0.9, 2/11): 2/11 * 0 + 9/11 * 1
    assert avg.module[0].weight.item() == pytest.approx(9 / 11)
    assert avg.module[1].num_batches_tracked.item() == 7  # integer buffers are copied, not averaged
    with torch.no_grad():
        net[0].weight.fill_(2.0)
    avg.update(net)  # decay min(0.9, 3/12) = 0.25
    assert avg.module[0].weight.item() == pytest.approx(0.25 * 9 / 11 + 0.75 * 2.0)
    for _ in range(200):  # long after the warm-up the decay is the one asked for
        avg.update(net)
    assert avg.module[0].weight.item() == pytest.approx(2.0, abs=1e-6)
    assert not any(p.requires_grad for p in avg.module.parameters())
    assert net[0].weight.item() == 2.0  # the trained module is left alone


def test_selection_score_is_the_mean_of_the_bar_figures() -> None:
    assert selection_score({"sky_iou": 0.92, "sky_median": 0.97, "sky_large": 0.90, "rings": 3.0}) == pytest.approx(0.93)
    assert selection_score({"sky_iou": 0.8, "sky_median": 0.9}) == pytest.approx(0.85)  # no large frames
    assert selection_score({}) == 0.0
    # an epoch with the better pooled IoU but a worse typical frame loses
    a = {"sky_iou": 0.936, "sky_median": 0.968, "sky_large": 0.924}
    b = {"sky_iou": 0.933, "sky_median": 0.973, "sky_large": 0.923}
    assert selection_score(b) > selection_score(a)
