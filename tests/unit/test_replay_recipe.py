"""The fine-tune recipe without forgetting (model/replay.py, ADR 0034): the new images' share of each
batch, counted from seeded draws, and the L2-SP pull computed by hand on tiny tensors."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from model.replay import ParentPull, mixed_order, new_per_batch


@pytest.mark.parametrize(("batch", "share", "expected"),
                         [(8, 0.5, 4), (8, 0.25, 2), (8, 0.01, 1), (8, 1.0, 7), (2, 0.5, 1), (1, 0.7, 1), (1, 0.2, 0)])
def test_new_per_batch(batch, share, expected):
    # round(share * batch), with both kinds in every batch of two or more
    assert new_per_batch(batch, share) == expected


def test_each_batch_has_its_share_of_new_images_and_every_image_its_turn():
    new, old = [10, 11, 12], [0, 1, 2, 3, 4]
    order = mixed_order(new, old, batch=4, share=0.25, steps=6, rng=np.random.default_rng(7))
    assert order.shape == (24,)
    batches = order.reshape(6, 4)
    # one new image per batch of 4 (round(0.25 * 4) = 1), three old ones
    assert [sum(int(i) in new for i in b) for b in batches] == [1] * 6
    counts = Counter(order.tolist())
    # 6 new draws over 3 images, whole permutations: each twice; 18 old draws over 5: 3 whole
    # passes (15) and 3 of a fourth, so three images 4 times and two 3 times
    assert [counts[i] for i in new] == [2, 2, 2]
    assert sorted(counts[i] for i in old) == [3, 3, 4, 4, 4]
    assert set(counts) == set(new) | set(old)


def test_half_of_a_batch_of_eight_over_many_steps():
    new, old = list(range(40)), list(range(40, 552))  # the benchmark's 40 family frames among 552
    order = mixed_order(new, old, batch=8, share=0.5, steps=138, rng=np.random.default_rng(0))
    is_new = np.isin(order, new).reshape(138, 8)
    assert (is_new.sum(axis=1) == 4).all()
    # 552 new draws = 13 whole passes over 40 and 32 of a 14th: each frame 13 or 14 times
    counts = Counter(order[np.isin(order, new)].tolist())
    assert sorted(set(counts.values())) == [13, 14] and sum(counts.values()) == 552
    assert sum(1 for v in counts.values() if v == 14) == 32


def test_without_new_or_old_images_it_is_plain_permutations():
    order = mixed_order([], [0, 1, 2, 3], batch=2, share=0.5, steps=4, rng=np.random.default_rng(1))
    assert sorted(order[:4].tolist()) == [0, 1, 2, 3] and sorted(order[4:].tolist()) == [0, 1, 2, 3]


def test_the_same_seed_draws_the_same_order():
    a = mixed_order([5, 6], [0, 1, 2], 4, 0.5, 5, np.random.default_rng([3, 1]))
    b = mixed_order([5, 6], [0, 1, 2], 4, 0.5, 5, np.random.default_rng([3, 1]))
    assert a.tolist() == b.tolist()


def test_l2sp_penalty_and_gradient_by_hand():
    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -2.0]]))
        lin.bias.copy_(torch.tensor([0.5]))
    pull = ParentPull(lin, lam=0.1)
    with torch.no_grad():  # the fine-tune moves the weights by (0.3, -0.4) and the bias by 1.0
        lin.weight.copy_(torch.tensor([[1.3, -2.4]]))
        lin.bias.copy_(torch.tensor([1.5]))
    penalty = pull(lin)
    # 0.1 * (0.3^2 + 0.4^2 + 1.0^2) = 0.1 * 1.25
    assert float(penalty.detach()) == pytest.approx(0.125, abs=1e-6)
    penalty.backward()
    # d/dw lam * (w - w0)^2 = 2 * lam * (w - w0)
    assert lin.weight.grad[0].tolist() == pytest.approx([0.06, -0.08], abs=1e-6)
    assert lin.bias.grad.tolist() == pytest.approx([0.2], abs=1e-6)


def test_l2sp_skips_frozen_parameters_and_resumes_its_reference():
    net = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False))
    net[1].requires_grad_(False)
    with torch.no_grad():
        net[0].weight.fill_(2.0)
        net[1].weight.fill_(5.0)
    pull = ParentPull(net, lam=1.0)
    assert set(pull.ref) == {"0.weight"}
    with torch.no_grad():
        net[1].weight.fill_(9.0)  # frozen: not pulled
    assert float(pull(net).detach()) == 0.0
    # a resumed run gets the parent's values from its state, not the weights it resumes with
    resumed = ParentPull(net, lam=1.0)  # made from the current (moved) weights...
    with torch.no_grad():
        net[0].weight.fill_(3.0)
    resumed.load_state_dict(pull.state_dict())  # ...then told the parent's
    assert float(resumed(net).detach()) == pytest.approx(1.0)  # (3 - 2)^2


def test_detector_order_gives_the_new_images_their_share():
    from model.train import DetectorTask

    opts = SimpleNamespace(seed=0, batch=8, repeats=3, new=(0, 1, 2, 3), new_share=0.25)
    task = SimpleNamespace(opts=opts, train_set=[None] * 20, steps_per_epoch=8)
    order = DetectorTask._order(task, epoch=0)
    assert order.shape == (64,)
    assert [int(np.isin(b, [0, 1, 2, 3]).sum()) for b in order.reshape(8, 8)] == [2] * 8
    plain = DetectorTask._order(SimpleNamespace(opts=SimpleNamespace(seed=0, batch=8, repeats=3, new=(),
                                                                     new_share=0.25),
                                                train_set=[None] * 20, steps_per_epoch=8), epoch=0)
    # without new images: 3 permutations of the 20 (the order before ADR 0034)
    assert plain.shape == (60,) and all(sorted(plain[k * 20:(k + 1) * 20].tolist()) == list(range(20))
                                        for k in range(3))


def test_sky_frames_keep_their_sample_index():
    from model.data import SKY_IGNORE, Sample
    from model.sky_train import ShrunkFrames

    def sample(name, labelled):
        sky = np.zeros((64, 80), np.uint8) if labelled else np.full((64, 80), SKY_IGNORE, np.uint8)
        return Sample(name, np.zeros((64, 80), np.float32), np.zeros((0, 4), np.float32), sky)

    frames = ShrunkFrames([sample("a", True), sample("b", False), sample("c", True)], 64)
    assert frames.source == [0, 2]  # "b" has no sky label: skipped, and "c" is sample 2


def test_paired_per_frame_statistics_by_hand():
    from benchmarks.bench_family_finetune import paired

    # per_image rows: name, deletes, adds, box fixes, sky edits, sky IoU
    base = [["a", 1, 0, 0, 2, 0.90], ["b", 0, 1, 0, 1, 0.80], ["c", 0, 0, 0, 0, 0.95], ["d", 2, 0, 1, 3, None]]
    tuned = [["a", 0, 0, 0, 2, 0.92], ["b", 0, 2, 0, 1, 0.80], ["c", 0, 0, 0, 0, 0.90], ["d", 0, 0, 1, 1, None]]
    rows = {r["figure"]: r for r in paired({"base": {"per_image": base}, "fine-tuned": {"per_image": tuned}})}
    c = rows["corrections"]  # 3 -> 2, 2 -> 3, 0 -> 0, 6 -> 2: differences -1, +1, 0, -4
    assert c["mean_diff"] == pytest.approx(-1.0)
    assert (c["worse"], c["better"], c["equal"]) == (1, 2, 1)
    assert c["sign_p"] == pytest.approx(1.0)  # 1 of 3 either way: 2 * (1 + 3) / 8 = 1
    # every bootstrap mean lies between the smallest and the largest difference
    assert -4.0 <= c["ci95"][0] <= c["mean_diff"] <= c["ci95"][1] <= 1.0
    s = rows["sky IoU"]  # frame d has no sky label: 3 frames; +0.02, 0, -0.05
    assert s["frames"] == 3 and s["mean_diff"] == pytest.approx(-0.01)
    assert (s["worse"], s["better"], s["equal"]) == (1, 1, 1)
    d = rows["deletes"]  # -1, 0, 0, -2: better on 2 frames, sign test 2 * (1/4) = 0.5
    assert (d["worse"], d["better"]) == (0, 2) and d["sign_p"] == pytest.approx(0.5)
