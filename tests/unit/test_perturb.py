"""The robustness benchmark's perturbations (benchmarks/perturb.py) against hand-derived values."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import perturb
from benchmarks.robustness import small_targets


def test_flip_of_a_known_box_covers_the_flipped_pixels():
    # Rows 2, 3, 4 of a 10-row frame ([2, 5)) land on rows 7, 6, 5 ([5, 8)); columns stay.
    assert perturb.flip_boxes(np.array([[3, 2, 6, 5]]), 10).tolist() == [[3, 5, 6, 8]]
    img = np.zeros((10, 12), np.uint8)
    img[2:5, 3:6] = 255
    flipped = perturb.vflip(img)
    x1, y1, x2, y2 = (int(v) for v in perturb.flip_boxes(np.array([[3, 2, 6, 5]]), 10)[0])
    assert np.argwhere(flipped).min(0).tolist() == [y1, x1]
    assert np.argwhere(flipped).max(0).tolist() == [y2 - 1, x2 - 1]


def test_flip_keeps_the_box_list_when_empty_and_flipping_twice_is_identity():
    assert perturb.flip_boxes(np.zeros((0, 4)), 7).shape == (0, 4)
    b = np.array([[0.5, 0.0, 2.5, 3.0], [1, 6, 4, 7]])
    assert np.array_equal(perturb.flip_boxes(perturb.flip_boxes(b, 7), 7), b)


def test_flip_mask_moves_the_top_row_to_the_bottom():
    m = np.zeros((4, 3), bool)
    m[0] = True
    assert perturb.flip_mask(m)[3].all() and not perturb.flip_mask(m)[:3].any()


def test_noise_on_a_flat_8bit_frame_has_the_asked_std():
    flat = np.full((400, 500), 128, np.uint8)
    out = perturb.gaussian_noise(flat, 3.0, np.random.default_rng(1))
    assert out.dtype == np.uint8
    # std of N(0, 3) rounded to integers: sqrt(9 + 1/12) = 3.014; 200 000 samples: +- 0.01
    assert out.astype(np.float64).std() == pytest.approx(np.sqrt(9 + 1 / 12), abs=0.02)
    assert out.astype(np.float64).mean() == pytest.approx(128.0, abs=0.03)


def test_noise_on_a_16bit_frame_scales_with_its_range():
    # A 16-bit frame spanning 1000..6100 (5100 counts = 20 per 8-bit level): sigma 3 -> 60 counts.
    img = np.full((400, 500), 3000, np.uint16)
    img[0, 0], img[0, 1] = 1000, 6100
    assert perturb.noise_sigma(img, 3.0) == pytest.approx(60.0)
    out = perturb.gaussian_noise(img, 3.0, np.random.default_rng(2))
    assert out.dtype == np.uint16
    assert out[1:].astype(np.float64).std() == pytest.approx(60.0, rel=0.01)


def test_noise_is_clipped_to_the_dtype_and_seeded():
    black = np.zeros((50, 50), np.uint8)
    a = perturb.gaussian_noise(black, 3.0, np.random.default_rng(5))
    assert a.min() == 0 and (a == 0).mean() > 0.45  # half the draws are negative and clip to 0
    assert np.array_equal(a, perturb.gaussian_noise(black, 3.0, np.random.default_rng(5)))


def test_down_up_of_a_step_edge_on_an_even_column():
    # 0 | 200 at column 8 of 16: area down keeps 0 0 0 0 200 200 200 200; bilinear up (half-pixel
    # centres, x_src = (x + 0.5) / 2 - 0.5) puts 3.25 -> 50 at column 7 and 3.75 -> 150 at column 8.
    img = np.zeros((6, 16), np.uint8)
    img[:, 8:] = 200
    out = perturb.down_up(img)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert out[3].tolist() == [0] * 7 + [50, 150] + [200] * 7


def test_down_up_of_a_step_edge_on_an_odd_column():
    # Step at column 7: area down gives 0 0 0 100 200 200 200 200 (columns 6-7 average to 100); up:
    # column 5 (src 2.25) = 0.75*0 + 0.25*100 = 25, column 6 (2.75) = 0.25*0 + 0.75*100 = 75,
    # column 7 (3.25) = 0.75*100 + 0.25*200 = 125, column 8 (3.75) = 0.25*100 + 0.75*200 = 175.
    img = np.zeros((4, 16), np.uint8)
    img[:, 7:] = 200
    assert perturb.down_up(img)[1].tolist() == [0] * 5 + [25, 75, 125, 175] + [200] * 7


def test_down_up_leaves_a_flat_frame_and_keeps_odd_sizes():
    flat = np.full((7, 9), 40000, np.uint16)
    out = perturb.down_up(flat)
    assert out.shape == (7, 9) and out.dtype == np.uint16 and (out == 40000).all()


def test_16bit_frame_is_linear_and_bad_pixels_are_the_asked_share():
    img = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = perturb.to_16bit(img)
    assert out.dtype == np.uint16 and out[0, 0] == 2000 and out[15, 15] == 255 * 50 + 2000
    big = np.full((100, 200), 100, np.uint8)
    bad = perturb.to_16bit(big, 2e-4 * 10, np.random.default_rng(3))  # 0.2 %: 40 pixels
    changed = bad != 100 * 50 + 2000
    assert changed.sum() == 40
    assert set(np.unique(bad[changed]).tolist()) <= {perturb.HOT_16, perturb.DEAD_16}


def test_perturbations_refuse_other_dtypes():
    with pytest.raises(TypeError):
        perturb.gaussian_noise(np.zeros((4, 4), np.float32), 3.0, np.random.default_rng(0))
    with pytest.raises(TypeError):
        perturb.to_16bit(np.zeros((4, 4), np.uint16))


def test_small_targets_are_boxes_of_at_most_nine_pixels():
    boxes = np.array([[0, 0, 3, 3], [0, 0, 4, 3], [5, 5, 6, 14], [1, 1, 2, 2]])
    assert small_targets(boxes).tolist() == [True, False, True, True]
