"""Target assignment, box coding, losses and post-processing of BAFE-Net."""

from __future__ import annotations

import itertools

import pytest
import torch

from model.assign import all_locations, assign_batch, assign_image, level_locations
from model.boxes import decode, encode
from model.config import preset
from model.losses import compute_losses, sky_loss
from model.net import BafeNet
from model.postprocess import detect, filter_boxes, sky_probability

torch.set_num_threads(1)
CFG = preset("default", fpn_channels=16, gn_groups=4, tower_convs=1, adapter_hidden=8)


def test_locations_are_cell_centres():
    loc = level_locations(2, 3, 4)
    assert loc.tolist() == [[2, 2], [6, 2], [10, 2], [2, 6], [6, 6], [10, 6]]


@pytest.mark.parametrize("x0,y0", list(itertools.product(range(4), range(4))))
def test_every_3x3_target_gets_positives_on_the_stride4_level(x0, y0):
    locs, strides, levels = all_locations([(16, 16), (8, 8), (4, 4)], (4, 8, 16))
    box = torch.tensor([[20.0 + x0, 24.0 + y0, 23.0 + x0, 27.0 + y0]])
    pos, matched, ctr = assign_image(box, locs, strides, levels, CFG.size_ranges, CFG.center_radius)
    assert pos.any()
    assert torch.all(levels[pos] == 0), "a 3x3 target belongs to the stride-4 level"
    assert torch.all(matched[pos] == box[0])
    assert torch.all(ctr[pos] > 0) and torch.all(ctr[~pos] == 0)
    # the location whose cell holds the centre is among the positives, with the top centerness
    cx, cy = 21.5 + x0, 25.5 + y0
    cell = int(cy // 4) * 16 + int(cx // 4)
    assert pos[cell] and ctr[cell] == ctr[pos].max()


def test_large_targets_go_to_coarser_levels_and_nearest_centre_wins():
    locs, strides, levels = all_locations([(16, 16), (8, 8), (4, 4)], (4, 8, 16))
    big = torch.tensor([[10.0, 10.0, 50.0, 50.0]])
    pos, _, _ = assign_image(big, locs, strides, levels, CFG.size_ranges, CFG.center_radius)
    assert pos.any() and torch.all(levels[pos] == 2)
    pair = torch.tensor([[10.0, 10.0, 13.0, 13.0], [15.0, 10.0, 18.0, 13.0]])
    pos, matched, _ = assign_image(pair, locs, strides, levels, CFG.size_ranges, CFG.center_radius)
    for i in torch.nonzero(pos).flatten():
        x = locs[i, 0]
        nearest = 0 if abs(x - 11.5) <= abs(x - 16.5) else 1
        assert torch.equal(matched[i], pair[nearest])


def test_no_targets_no_positives():
    pos, matched, ctr = assign_batch([torch.zeros(0, 4)], [(4, 4)], (4,), ((0.0, 1e8),), 1.0)
    assert pos.shape == (1, 16) and not pos.any() and ctr.sum() == 0


def test_box_coding_round_trip():
    locs = torch.tensor([[2.0, 2.0], [6.0, 10.0]])
    strides = torch.tensor([4.0, 8.0])
    boxes = torch.tensor([[1.0, 0.5, 4.0, 3.5], [3.0, 7.0, 12.0, 20.0]])
    assert torch.allclose(decode(encode(boxes, locs, strides), locs, strides), boxes, atol=1e-5)


def _batch():
    torch.manual_seed(0)
    net = BafeNet(CFG)
    return net, net(torch.rand(2, 1, 64, 64))


def test_zero_box_and_centerness_loss_without_targets():
    net, out = _batch()
    sky = torch.zeros(2, 64, 64, dtype=torch.uint8)
    losses = compute_losses(out, [torch.zeros(0, 4), torch.zeros(0, 4)], sky, CFG)
    assert losses["box"].item() == 0.0 and losses["ctr"].item() == 0.0
    assert losses["cls"].item() > 0 and losses["sky"].item() > 0
    losses["total"].backward()  # still differentiable
    assert net.head.cls_logits.bias.grad is not None


def test_losses_positive_and_finite_with_targets():
    _, out = _batch()
    boxes = [torch.tensor([[10.0, 10.0, 13.0, 13.0]]), torch.tensor([[30.0, 40.0, 34.0, 44.0]])]
    losses = compute_losses(out, boxes, torch.ones(2, 64, 64, dtype=torch.uint8), CFG)
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())


def test_sky_loss_ignores_padding():
    logits = [torch.full((1, 1, 4, 4), 10.0)]
    sky = torch.full((1, 16, 16), 255, dtype=torch.uint8)
    sky[0, :8] = 1  # labelled sky where the logit is right; the rest is padding
    assert sky_loss(logits, sky).item() < 1e-3
    sky[0, :8] = 0  # now wrong where labelled
    assert sky_loss(logits, sky).item() > 5


def test_filter_boxes_clips_nms_and_caps():
    boxes = torch.tensor([[-2.0, 0, 3, 3], [-2, 0, 3, 3.2], [10, 10, 13, 13], [50, 50, 60, 60]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    b, s = filter_boxes(boxes, scores, (40, 40), 0.5, 2)
    assert s.tolist() == pytest.approx([0.9, 0.7])
    assert b[0].tolist() == [0, 0, 3, 3]


def test_detect_threshold_and_sky_map_size():
    _, out = _batch()
    boxes, scores = detect(out, CFG.strides, (60, 50), score_thr=0.0, max_per_image=5)
    assert len(scores) == 5 and torch.all(scores[:-1] >= scores[1:])
    assert torch.all(boxes[:, 2] <= 50) and torch.all(boxes[:, 3] <= 60)
    none, _ = detect(out, CFG.strides, (60, 50), score_thr=1.01)
    assert len(none) == 0
    sky = sky_probability(out, (64, 64), (60, 50))
    assert sky.shape == (60, 50) and float(sky.detach().min()) >= 0 and float(sky.detach().max()) <= 1
