"""The sky network's training data options of ADR 0030 (inference-scale frames, upside-down /
blurred / noisy frames, the boundary-weighted loss), against hand-built frames and hand-derived
values."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model.data import SKY_IGNORE, Sample
from model.sky_train import ShrunkFrames, SkyAugment, boundary_band, sky_net_loss


def _frame(h: int, w: int, horizon: int) -> Sample:
    """A bright sky above row ``horizon``, dark ground below, a gradient across so flips show."""
    img = np.tile(np.linspace(0.0, 0.2, w, dtype=np.float32), (h, 1))
    img[:horizon] += 0.7
    sky = np.zeros((h, w), np.uint8)
    sky[:horizon] = 1
    return Sample("f", img, np.zeros((0, 4), np.float32), sky)


def test_upside_down_frames_carry_their_mask_along() -> None:
    s = _frame(64, 96, 20)
    img, sky = SkyAugment(vflip=1.0).apply(s.image, s.sky, np.random.default_rng(0))
    assert sky[-20:].all() and not sky[:-20].any()  # the sky is now the bottom 20 rows
    np.testing.assert_array_equal(img, s.image[::-1])
    img0, sky0 = SkyAugment().apply(s.image, s.sky, np.random.default_rng(0))
    assert img0 is s.image and sky0 is s.sky  # off by default: untouched


def test_blur_is_the_down_up_resize_and_keeps_the_mask() -> None:
    s = _frame(64, 96, 20)
    img, sky = SkyAugment(blur=1.0, blur_factor=0.5).apply(s.image, s.sky, np.random.default_rng(0))
    small = cv2.resize(s.image, (48, 32), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(img, cv2.resize(small, (96, 64), interpolation=cv2.INTER_LINEAR), atol=1e-6)
    assert sky is s.sky
    assert not np.allclose(img, s.image)  # the horizon edge is softened


def test_noise_has_the_asked_sigma_and_stays_in_range() -> None:
    img = np.full((200, 200), 0.5, np.float32)
    out, _ = SkyAugment(noise=1.0, noise_sigma=3.0).apply(img, np.zeros((200, 200), np.uint8), np.random.default_rng(1))
    assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0
    assert float(np.std(out - img)) * 255 == pytest.approx(3.0, rel=0.05)
    assert float(np.mean(out - img)) * 255 == pytest.approx(0.0, abs=0.1)


def test_min_scale_trains_large_frames_at_the_inference_scale() -> None:
    """With min_scale 0.5 a 1280x1024 frame is trained at 640 px (times the step's jitter), as the
    Predictor shrinks it with sky_pass_min_scale 0.5; a 640x512 one stays at the base long side."""
    frames = ShrunkFrames([_frame(1024, 1280, 300), _frame(512, 640, 150)], 538, min_scale=0.5, max_jitter=1.2)
    assert max(frames.items[0][0].shape) == 768  # stored at 0.5 * 1280 * 1.2
    assert max(frames.items[1][0].shape) == 538
    assert frames.side_of(0, 448, 1.0) == 640 and frames.side_of(1, 448, 1.0) == 448
    assert frames.side_of(0, 400, 0.9) == 576
    x, sky = frames.batch([0], 448, np.random.default_rng(0), 1.0)
    assert x.shape == (1, 1, 512, 640) and sky.shape == (1, 512, 640)
    x, sky = frames.batch([1], 448, np.random.default_rng(0), 1.0)
    assert x.shape == (1, 1, 384, 448)  # 448x358 padded to multiples of 32
    assert (sky[0, 358:] == SKY_IGNORE).all() and (sky[0, :358] != SKY_IGNORE).all()
    plain = ShrunkFrames([_frame(1024, 1280, 300)], 538)
    assert plain.side_of(0, 448, 1.0) == 448  # the option off: one long side for all


def test_boundary_band_marks_pixels_near_the_outline_only() -> None:
    sky = torch.zeros(1, 20, 10, dtype=torch.uint8)
    sky[0, :8] = 1
    sky[0, 16:] = SKY_IGNORE  # unlabelled rows far from the outline
    band = boundary_band(sky, radius=2)
    rows = band[0, :, 5]
    # the change is between rows 7 and 8: rows 6..9 lie within 2 px of a pixel of the other class
    assert rows.tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]


def test_boundary_weight_counts_the_outline_bce_more() -> None:
    sky = torch.zeros(1, 16, 16, dtype=torch.uint8)
    sky[0, :8] = 1
    logits = torch.zeros(1, 1, 16, 16)  # p = 0.5 everywhere: BCE log 2 per pixel
    plain, _ = sky_net_loss(logits, sky)
    heavy, _ = sky_net_loss(logits, sky, boundary_weight=2.0)
    band = int(boundary_band(sky).sum())  # rows 4..11 (radius 4): 8 rows of 16
    assert band == 128
    # BCE = log 2 * (256 + 2 * band) / 256, the soft-IoU term unchanged
    assert float(heavy - plain) == pytest.approx(float(np.log(2.0)) * 2 * band / 256, rel=1e-5)
    assert F.binary_cross_entropy_with_logits(torch.zeros(1), torch.ones(1)).item() == pytest.approx(np.log(2.0))


def test_distill_loss_is_the_bce_against_the_teachers_probabilities_on_the_frame_only() -> None:
    """--distill-mirror (ADR 0044): hand-derived values. Logits equal to the teacher's give the
    entropy of its probabilities; padding (SKY_IGNORE) counts for nothing."""
    from model.sky_train import distill_loss

    rng = np.random.default_rng(3)
    teacher = torch.from_numpy(rng.normal(0, 2, (1, 1, 8, 8)).astype(np.float32))
    sky = torch.zeros(1, 8, 8, dtype=torch.uint8)
    sky[0, :, 6:] = SKY_IGNORE  # two padded columns
    p = 1 / (1 + np.exp(-teacher.numpy()[0, 0, :, :6].astype(np.float64)))
    entropy = float(np.mean(-(p * np.log(p) + (1 - p) * np.log(1 - p))))
    assert float(distill_loss(teacher.clone(), teacher, sky)) == pytest.approx(entropy, rel=1e-5)
    student = teacher.clone()
    student[..., 6:] = 50.0  # nonsense on the padding: no effect
    assert float(distill_loss(student, teacher, sky)) == pytest.approx(entropy, rel=1e-5)
    zeros = torch.zeros_like(teacher)  # p = 0.5: BCE log 2 whatever the target
    assert float(distill_loss(zeros, teacher, sky)) == pytest.approx(float(np.log(2.0)), rel=1e-5)


def test_mirror_teacher_is_a_frozen_two_look_copy() -> None:
    from model.config import BafeConfig
    from model.sky_train import mirror_teacher
    from model.skynet import SkyNet

    torch.manual_seed(0)
    student = SkyNet(BafeConfig(fpn_channels=16, gn_groups=4, sky_flip=False)).train()
    teacher = mirror_teacher(student)
    assert student.training and not student.flip  # the student is left as it was
    assert not teacher.training and teacher.flip
    assert not any(p.requires_grad for p in teacher.parameters())
    x = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        single = teacher.single
        want = 0.5 * (single(x) + single(x.flip(-1)).flip(-1))
        np.testing.assert_allclose(teacher(x).numpy(), want.numpy(), atol=1e-6)
        assert (teacher(x) - single(x)).abs().max() > 1e-4  # the mirror does change the logit
    with torch.no_grad():
        next(student.parameters()).add_(1.0)  # training the student leaves the teacher as it was
    assert not torch.equal(next(student.parameters()), next(teacher.parameters()))
