"""Training crops: boxes follow the pixels through cropping, padding and flips; BAG-CP hook."""

from __future__ import annotations

import numpy as np
import pytest

from core.types import ImageAnnotation, Target
from model.data import SKY_IGNORE, CropSampler, clip_boxes, make_sample, pad_image


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


def test_pad_image_to_multiple_of_32():
    t, size = pad_image(np.ones((33, 64), np.float32))
    assert size == (64, 64) and t.shape == (1, 1, 64, 64) and t[0, 0, 33:].sum() == 0


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
