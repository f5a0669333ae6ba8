"""Isolated hot / dead pixels: found where injected, real 2-9 px targets untouched, repaired to the
median of their neighbours, and reported by the Predictor."""

from __future__ import annotations

import numpy as np
import pytest

from core.badpixels import (
    clean_frame,
    filter_bad_pixels,
    find_bad_pixels,
    inject_bad_pixels,
    repair_bad_pixels,
)


def scene(seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """16-bit noisy frame with a sky/ground step and Gaussian targets of 2..9 px (centre x, y, size)."""
    rng = np.random.default_rng(seed)
    h, w = 120, 160
    img = rng.normal(3000, 40, (h, w))
    img[70:] += 2500  # ground
    yy, xx = np.mgrid[:h, :w]
    targets = []
    for k, size in enumerate((2, 3, 4, 5, 7, 9)):
        cx, cy = 15 + 25 * k + 0.3, 25 + 0.6 * k
        sigma = size / 4
        img += 6000 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
        targets.append((int(cx), int(cy), size))
    return np.clip(img, 0, 16383).astype(np.uint16), targets


def test_injected_defects_are_found_and_targets_are_not():
    img, targets = scene()
    bad, coords = inject_bad_pixels(img, 0.002, np.random.default_rng(3), hot=16383, dead=0)
    assert len(coords) == round(0.002 * img.size)
    # injection keeps every defect isolated: no two within one pixel of each other
    d = np.abs(coords[:, None, :] - coords[None, :, :]).max(axis=2)
    assert (d[~np.eye(len(coords), dtype=bool)] >= 2).all()
    found = {tuple(c) for c in find_bad_pixels(bad).tolist()}
    injected = {tuple(c) for c in coords.tolist()}
    near_target = {c for c in injected if any(abs(c[0] - x) <= s and abs(c[1] - y) <= s for x, y, s in targets)}
    on_edge = {c for c in injected if 69 <= c[1] <= 70}  # a neighbourhood spanning the sky/ground step
    assert injected - near_target - on_edge <= found  # every defect away from a target or an edge is found
    assert found <= injected  # and nothing else: no target pixel, no noise pixel
    assert len(find_bad_pixels(img)) == 0  # the clean frame has none


def test_a_one_pixel_spike_is_flagged_but_a_two_pixel_target_is_not():
    img = np.full((9, 9), 400.0, np.float32)
    img[2, 2] = 1400  # isolated: flagged
    img[6, 5:7] = 1400  # two pixels side by side: a target, not a defect
    img[4, 7] = 0  # dead
    assert find_bad_pixels(img).tolist() == [[2, 2], [7, 4]]


def test_repair_uses_the_median_of_the_eight_neighbours():
    img = np.arange(25, dtype=np.uint16).reshape(5, 5) * 10
    img[2, 2] = 60000
    out = repair_bad_pixels(img, np.array([[2, 2]]))
    # neighbours of (2, 2): 60 70 80 110 130 160 170 180 -> median (110 + 130) / 2
    assert out[2, 2] == 120 and out.dtype == np.uint16
    assert (np.delete(out.ravel(), 12) == np.delete(img.ravel(), 12)).all()
    fixed, coords = filter_bad_pixels(img)
    assert coords.tolist() == [[2, 2]] and fixed[2, 2] == 120


def test_clean_frame_switch_and_colour_input():
    img, _ = scene(1)
    bad, coords = inject_bad_pixels(img, 0.001, np.random.default_rng(0), hot=16383, dead=0)
    rgb = np.repeat(bad[:, :, None], 3, axis=2)
    gray, found = clean_frame(rgb, enabled=True)
    assert gray.shape == bad.shape and len(found) >= len(coords) - 2
    gray_off, none = clean_frame(rgb, enabled=False)
    assert len(none) == 0 and np.array_equal(gray_off, bad)
    with pytest.raises(ValueError, match="2-D"):
        find_bad_pixels(rgb)


def test_predictor_reports_the_repaired_pixels(tmp_path):
    import torch

    from model.checkpoint import save_weights
    from model.config import preset
    from model.inference import Predictor
    from model.net import BafeNet

    torch.manual_seed(0)
    cfg = preset("default", fpn_channels=16, gn_groups=4, tower_convs=1, adapter_hidden=8)
    save_weights(tmp_path / "w.safetensors", BafeNet(cfg), cfg, "default", sky_threshold="0.5")
    img, _ = scene(2)
    bad, coords = inject_bad_pixels(img, 0.0005, np.random.default_rng(5), hot=16383, dead=0)
    on = Predictor(tmp_path / "w.safetensors", threads=1).predict(bad)
    expected = {tuple(c) for c in find_bad_pixels(bad).tolist()}
    assert {tuple(c) for c in on.bad_pixels.tolist()} == expected and len(expected) >= len(coords) - 1
    off = Predictor(tmp_path / "w.safetensors", threads=1, bad_pixel_filter=False).predict(bad)
    assert off.bad_pixels.shape == (0, 2)
    assert on.sky_mask().shape == bad.shape and on.sky_mask().dtype == bool


def test_histogram_percentiles_equal_numpys_on_8_and_16_bit_frames():
    """find_bad_pixels takes the 0.5 / 99.5 percentiles of integer frames from a histogram; the
    truth is np.percentile of the float32 frame, as before (ADR 0036)."""
    from core.badpixels import _percentiles

    rng = np.random.default_rng(4)
    for i in range(60):
        shape = [(512, 640), (37, 53), (3, 3), (100, 7)][i % 4]
        if i % 3 == 0:
            g = rng.integers(0, 256, shape).astype(np.uint8)
        elif i % 3 == 1:
            g = np.clip(rng.normal(rng.uniform(0, 255), rng.uniform(0.1, 40), shape), 0, 255).astype(np.uint8)
        else:
            g = rng.integers(0, 2**14, shape).astype(np.uint16)
        for qs in ((0.5, 99.5), (0.0, 100.0), (50.0,)):
            want = np.percentile(g.astype(np.float32), qs)
            assert _percentiles(g, qs) == tuple(float(v) for v in want)


def test_8_bit_integer_path_flags_exactly_what_the_float_test_flags():
    """The 8-bit frames' integer test (ADR 0036) against the float32 test written out here."""
    import cv2

    from core.badpixels import BadPixelConfig, find_bad_pixels

    ring = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.uint8)
    rng = np.random.default_rng(12)
    for i in range(40):
        g = np.clip(rng.normal(rng.uniform(20, 230), rng.uniform(0.5, 30), (64, 80)), 0, 255).astype(np.uint8)
        ys, xs = rng.integers(1, 63, 30), rng.integers(1, 79, 30)
        g[ys[:15], xs[:15]] = 255
        g[ys[15:], xs[15:]] = 0
        if i % 5 == 0:
            g[:] = 77  # flat: the floor decides
            g[10, 10] = 90
        for cfg in (BadPixelConfig(), BadPixelConfig(ratio=2.0, floor_frac=0.05), BadPixelConfig(ratio=2.5)):
            f = g.astype(np.float32)
            lo, hi = np.percentile(f, (0.5, 99.5))
            floor = max(float(hi - lo) * cfg.floor_frac, 1e-6)
            mx = cv2.dilate(f, ring, borderType=cv2.BORDER_REPLICATE)
            mn = cv2.erode(f, ring, borderType=cv2.BORDER_REPLICATE)
            margin = np.maximum(floor, cfg.ratio * (mx - mn))
            want_y, want_x = np.nonzero(((f - mx) > margin) | ((mn - f) > margin))
            got = find_bad_pixels(g, cfg)
            np.testing.assert_array_equal(got, np.stack([want_x, want_y], axis=1).astype(np.int32))
