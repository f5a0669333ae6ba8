"""Training crops: boxes follow the pixels through cropping, padding and flips; BAG-CP hook."""

from __future__ import annotations

import numpy as np
import pytest

from core.domain import ImageAnnotation, Target
from model.data import SKY_IGNORE, CropSampler, clip_boxes, make_sample
from model.frames import prepare_image


def _sample(h=100, w=120):
    raw = np.zeros((h, w), np.uint8)
    raw[20:23, 30:33] = 255
    raw[70:74, 100:104] = 255
    ann = ImageAnnotation(targets=[Target(box=(30, 20, 33, 23)), Target(box=(100, 70, 104, 74))],
                          sky=np.ones((h, w), bool))
    return make_sample("a", raw, ann)


def test_make_sample_scales_and_keeps_boxes():
    s = _sample()
    assert s.image.dtype == np.float32 and s.image.max() == pytest.approx(1.0)
    assert s.boxes.tolist() == [[30, 20, 33, 23], [100, 70, 104, 74]]
    no_sky = make_sample("b", np.zeros((5, 5), np.uint16), ImageAnnotation())
    assert (no_sky.sky == SKY_IGNORE).all() and no_sky.raw_max == 65535 and no_sky.boxes.shape == (0, 4)


@pytest.mark.parametrize("seed", range(8))
def test_crop_boxes_cover_the_bright_pixels(seed):
    s = _sample()
    img, boxes, sky = CropSampler([s], crop=64, target_bias=1.0).crop_sample(s, np.random.default_rng(seed))
    assert img.shape == (64, 64) and sky.shape == (64, 64) and len(boxes) >= 1
    for x0, y0, x1, y1 in boxes.astype(int):
        assert img[y0:y1, x0:x1].min() == pytest.approx(1.0)  # each box lies on target pixels
    bright = img > 0.5
    covered = np.zeros_like(bright)
    for x0, y0, x1, y1 in boxes.astype(int):
        covered[y0:y1, x0:x1] = True
    assert not (bright & ~covered).any()  # and every target pixel in the crop is boxed


def test_small_images_are_padded_with_ignored_sky():
    s = _sample(40, 50)
    s.boxes = s.boxes[:1]
    img, boxes, sky = CropSampler([s], crop=64).crop_sample(s, np.random.default_rng(0))
    assert (sky[40:] == SKY_IGNORE).all() and (img[40:] == 0).all()
    assert ((sky[:40] == 1) | (sky[:40] == SKY_IGNORE)).all()
    assert len(boxes) == 1


def test_clip_boxes_drops_targets_whose_centre_is_outside():
    b = np.array([[-2, 0, 2, 3], [-3, 0, 1, 3], [5, 5, 9, 9]], np.float32)
    assert clip_boxes(b, 8, 8).tolist() == [[0, 0, 2, 3], [5, 5, 8, 8]]


def test_prepared_image_is_padded_to_multiple_of_32():
    prepared = prepare_image(np.full((33, 64), 255, np.uint8), bad_pixel_filter=False)
    t = prepared.x
    assert prepared.size == (33, 64) and t.shape == (1, 1, 64, 64) and t[0, 0, 33:].sum() == 0
    assert t[0, 0, :33].min() == 1.0


def test_batch_shapes():
    s = _sample()
    images, boxes, sky = CropSampler([s, s], crop=32).batch([0, 1], np.random.default_rng(0))
    assert tuple(images.shape) == (2, 1, 32, 32) and tuple(sky.shape) == (2, 32, 32) and len(boxes) == 2


def test_bagcp_adds_labelled_targets_in_the_sky():
    pytest.importorskip("core.bagcp")
    from model.data import BagcpAugment

    rng = np.random.default_rng(0)
    raw = (rng.normal(60, 2, (120, 160))).clip(0, 255).astype(np.uint8)
    targets = []
    for k in range(6):
        x, y = 10 + 20 * k, 10 + 3 * k
        raw[y : y + 3, x : x + 3] = 200
        targets.append(Target(box=(x, y, x + 3, y + 3)))
    s = make_sample("lib", raw, ImageAnnotation(targets=targets, sky=np.ones((120, 160), bool)))
    aug = BagcpAugment([s], prob=1.0)
    img = s.image.copy()
    out, boxes = aug(img, s.sky.copy(), s.boxes.copy(), s.raw_max, np.random.default_rng(1))
    assert len(boxes) > len(s.boxes) and out.shape == img.shape and out.dtype == np.float32
    assert not np.array_equal(out, img)
    changed = np.abs(out - img) > 1e-6
    boxed = np.zeros_like(changed)
    for x0, y0, x1, y1 in np.floor(boxes[len(s.boxes):]).astype(int):
        boxed[y0 : y1 + 1, x0 : x1 + 1] = True
    assert not (changed & ~boxed).any()  # pixels change only inside the new targets' boxes


# One 3x3 target on a flat background of 50: its pixels, hand-written, are what plain paste must copy.
_TARGET = np.array([[150, 200, 150], [200, 250, 200], [150, 200, 150]], np.uint8)


def _paste_scene(sky_value: int):
    """64x64 background 50 with _TARGET at rows/cols 7..9 (its 250 peak at (8, 8) lies on the
    stride-4 grid BAG-CP samples the value range from, so source and crop share the range 50..250)."""
    raw = np.full((64, 64), 50, np.uint8)
    raw[7:10, 7:10] = _TARGET
    ann = ImageAnnotation(targets=[Target(box=(7, 7, 10, 10))], sky=np.full((64, 64), bool(sky_value)))
    return make_sample("paste", raw, ann)


def test_plain_paste_copies_the_target_pixels_verbatim_even_outside_the_sky():
    pytest.importorskip("core.bagcp")
    from model.data import BagcpAugment, PasteMode

    s = _paste_scene(sky_value=0)  # no sky at all: plain copy-paste ignores the background
    aug = BagcpAugment([s], prob=1.0, mode=PasteMode.PLAIN)
    out, boxes = aug(s.image.copy(), s.sky.copy(), s.boxes.copy(), s.raw_max, np.random.default_rng(3))
    new = boxes[len(s.boxes):].astype(int)
    assert len(new) >= 8  # strategy (b): 8-12 targets per draw, scattered
    pasted = np.zeros(out.shape, bool)
    for x0, y0, x1, y1 in new:
        assert (x1 - x0, y1 - y0) == (3, 3)
        np.testing.assert_allclose(out[y0:y1, x0:x1] * 255, _TARGET, atol=1e-3)
        pasted[y0:y1, x0:x1] = True
    np.testing.assert_array_equal(np.round(out * 255)[~pasted], np.round(s.image * 255)[~pasted])


def test_bagcp_blends_instead_of_copying_and_needs_sky():
    pytest.importorskip("core.bagcp")
    from model.data import BagcpAugment, PasteMode

    s = _paste_scene(sky_value=0)
    aug = BagcpAugment([s], prob=1.0, mode=PasteMode.BAGCP)
    out, boxes = aug(s.image.copy(), s.sky.copy(), s.boxes.copy(), s.raw_max, np.random.default_rng(3))
    assert len(boxes) == 1 and np.array_equal(out, s.image)  # no sky: nothing pasted
    s = _paste_scene(sky_value=1)
    out, boxes = aug(s.image.copy(), s.sky.copy(), s.boxes.copy(), s.raw_max, np.random.default_rng(3))
    new = boxes[len(s.boxes):].astype(int)
    assert len(new) >= 8
    for x0, y0, x1, y1 in new:
        px = np.round(out[y0:y1, x0:x1] * 255)
        # Eq. 1 on a background of 50: 50 + lambda * G * (target - 50) with lambda * G < 1 almost
        # everywhere, so values stay within [50, 250] and the peak falls short of a verbatim copy.
        assert px.min() >= 50 and px.max() <= 250
        assert px.max() < 250 or not np.array_equal(px, _TARGET[: y1 - y0, : x1 - x0])


def test_paste_off_gives_no_augmenter():
    from model.data import PasteMode, try_bagcp

    s = _paste_scene(sky_value=1)
    assert try_bagcp([s], 0.5, PasteMode.OFF) is None
    assert try_bagcp([s], 0.0, PasteMode.PLAIN) is None
    assert try_bagcp([s], 0.5, PasteMode.PLAIN).mode is PasteMode.PLAIN
