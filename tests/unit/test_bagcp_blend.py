"""BAG-CP blend: Eq. 1-3 recomputed independently, parameter ranges, dtypes, colour, clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.bagcp import BagcpConfig, gaussian_weights, synthesize
from core.target_library import TargetLibrary
from tests.unit._bagcp_helpers import full_mask, patch_library, scene

H, W = 96, 128


@pytest.fixture(scope="module")
def library() -> TargetLibrary:
    return patch_library(seed=1, sizes=(2, 3))  # small enough that no patch is resized


def eq1_expected(back: np.ndarray, contrast: np.ndarray, mask: np.ndarray, rec) -> np.ndarray:
    """T_new = T_back + B_box * lambda * G, written out pixel by pixel from the paper."""
    h, w = mask.shape
    out = back.astype(np.float64).copy()
    t = math.radians(rec.theta)
    for r in range(h):
        for c in range(w):
            if not mask[r, c]:
                continue
            x = (c + 0.5) / w - 0.5 - rec.rho[0]  # box spans [-1/2, 1/2], centre shifted by rho
            y = (r + 0.5) / h - 0.5 - rec.rho[1]
            xr, yr = math.cos(t) * x - math.sin(t) * y, math.sin(t) * x + math.cos(t) * y
            g = math.exp(-(xr**2) / (2 * rec.sigma[0] ** 2) - yr**2 / (2 * rec.sigma[1] ** 2))
            out[r, c] += contrast[r, c] * rec.lam * g
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_blend_matches_eq1(library: TargetLibrary, dtype: type) -> None:
    image = scene(H, W, 7, dtype)
    res = synthesize(
        image, np.ones((H, W), bool), [], library, BagcpConfig(), np.random.default_rng(7)
    )
    sample = image[::4, ::4].astype(np.float64)
    span = np.percentile(sample, 99.5) - np.percentile(sample, 0.5)
    checked = 0
    for rec in res.pastes:
        patch = library[rec.library_index]
        assert (rec.height, rec.width) == patch.mask.shape
        assert rec.scale == pytest.approx(span, rel=1e-6)
        b_box = patch.contrast.astype(np.float64) / patch.vrange * rec.scale
        ys, xs = slice(rec.y0, rec.y0 + rec.height), slice(rec.x0, rec.x0 + rec.width)
        want = eq1_expected(image[ys, xs], b_box, patch.mask, rec)
        got = res.image[ys, xs].astype(np.float64)
        tol = 1e-4 if dtype == np.float32 else 1.0  # integer results are rounded
        np.testing.assert_allclose(got, want, atol=tol)
        checked += 1
    assert checked >= 8


def test_blend_parameters_stay_in_the_paper_ranges(library: TargetLibrary) -> None:
    recs = []
    for seed in range(6):
        res = synthesize(
            scene(H, W, seed),
            np.ones((H, W), bool),
            [],
            library,
            BagcpConfig(),
            np.random.default_rng(seed),
        )
        recs += res.pastes
    lam = np.array([r.lam for r in recs])
    rho = np.array([r.rho for r in recs])
    sigma = np.array([r.sigma for r in recs])
    theta = np.array([r.theta for r in recs])
    assert lam.min() >= 0.5 and lam.max() <= 1.0
    assert rho.min() >= 0.0 and rho.max() <= 0.2
    assert sigma.min() >= 0.3 and sigma.max() <= 0.6
    assert theta.min() >= -90 and theta.max() <= 90 and theta.min() < 0 < theta.max()


def test_gaussian_weights_shape_peak_and_rotation() -> None:
    g = gaussian_weights(5, 5, (0.0, 0.0), (0.3, 0.6), 0.0)
    assert g.shape == (5, 5) and g.dtype == np.float32
    assert g[2, 2] == pytest.approx(1.0) and g.max() == g[2, 2]
    assert g[2, 0] < g[0, 2], "sigma_x < sigma_y: falls off faster along x"
    turned = gaussian_weights(5, 5, (0.0, 0.0), (0.3, 0.6), 90.0)
    np.testing.assert_allclose(turned, g.T, atol=1e-6)  # a quarter turn swaps the axes
    shifted = gaussian_weights(5, 5, (0.2, 0.2), (0.3, 0.3), 0.0)
    assert shifted[3, 3] > shifted[1, 1], "rho moves the centre towards +x, +y"


def test_gaussian_off_is_a_hard_copy(library: TargetLibrary) -> None:
    image = scene(H, W, 2, np.float32)
    res = synthesize(
        image,
        np.ones((H, W), bool),
        [],
        library,
        BagcpConfig(gaussian=False),
        np.random.default_rng(2),
    )
    for rec in res.pastes:
        p = library[rec.library_index]
        want = rec.offset + ((p.background - p.vmin) + p.contrast) / p.vrange * rec.scale
        got = res.image[rec.y0 : rec.y0 + rec.height, rec.x0 : rec.x0 + rec.width]
        np.testing.assert_allclose(got[p.mask], np.clip(want[p.mask], 0, 1), atol=1e-5)


def test_16bit_stays_16bit_and_clips_instead_of_wrapping(library: TargetLibrary) -> None:
    image = np.zeros((H, W), np.uint16)
    image[:, W // 2 :] = 65000  # bright sky: pasted targets overshoot 65535
    sky = image > 0
    res = synthesize(image, sky, [], library, BagcpConfig(), np.random.default_rng(0))
    assert res.image.dtype == np.uint16 and res.image.shape == image.shape
    pasted = np.zeros((H, W), bool)
    for t in res.targets:
        pasted |= full_mask(t, H, W)
    assert (res.image[pasted] >= 65000).all(), "a pasted pixel wrapped around"
    assert res.image.max() == 65535


def test_colour_images_get_the_same_contrast_on_each_channel(library: TargetLibrary) -> None:
    gray = scene(H, W, 3)
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 200)])
    res = synthesize(
        rgba, np.ones((H, W), bool), [], library, BagcpConfig(), np.random.default_rng(3)
    )
    assert res.image.shape == rgba.shape and res.image.dtype == np.uint8 and res.targets
    out = res.image
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert (out[..., 3] == 200).all(), "alpha must stay untouched"
    as_gray = synthesize(
        gray, np.ones((H, W), bool), [], library, BagcpConfig(), np.random.default_rng(3)
    )
    assert np.array_equal(out[..., 0], as_gray.image)
