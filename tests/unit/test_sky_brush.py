"""core.geometry.brush_mask / apply_brush: the sky brush's raster against shapely's distances and
hand-counted pixels."""

from __future__ import annotations

import numpy as np
import pytest
from shapely import LineString, distance, points

from core.geometry import GeometryError, apply_brush, brush_mask


def centres_within(path: np.ndarray, r: float, h: int, w: int) -> np.ndarray:
    """Pixels whose centre is within r of the path, by shapely (the independent truth)."""
    ys, xs = np.mgrid[:h, :w]
    geom = LineString(path) if len(path) > 1 else points(*path[0])
    return (distance(points(xs.ravel() + 0.5, ys.ravel() + 0.5), geom) <= r).reshape(h, w)


@pytest.mark.parametrize("seed", range(6))
def test_random_strokes_cover_the_pixel_centres_shapely_puts_within_the_radius(seed) -> None:
    rng = np.random.default_rng(seed)
    h, w = 48, 64
    n = int(rng.integers(1, 12))
    path = np.cumsum(rng.normal(0, 6, (n, 2)), axis=0) + (w / 2, h / 2)
    r = float(rng.uniform(0.8, 9.0))  # >= 0.71: every pixel the path crosses has its centre within r
    got = brush_mask(path, r, h, w)
    assert np.array_equal(got, centres_within(path, r, h, w))


def test_a_dab_counts_the_hand_derived_pixels() -> None:
    # Radius 2.5 on a pixel centre: offsets (dx, dy) with dx^2 + dy^2 <= 6.25 are 5 + 2 * 5 + 2 * 3 = 21.
    m = brush_mask(np.array([[10.5, 10.5]]), 2.5, 20, 20)
    assert m.sum() == 21 and m[10, 8] and m[10, 12] and not m[8, 8] and m[9, 8]


def test_a_zero_radius_stroke_paints_the_pixels_it_crosses() -> None:
    m = brush_mask(np.array([[0.5, 0.5], [9.5, 0.5]]), 0.0, 4, 12)
    assert np.array_equal(np.nonzero(m)[0], np.zeros(10)) and np.array_equal(np.nonzero(m)[1], np.arange(10))
    diag = brush_mask(np.array([[0.2, 0.2], [3.9, 3.9]]), 0.0, 5, 5)
    assert np.array_equal(diag, np.eye(5, dtype=bool) & (np.arange(5) < 4)[:, None])


def test_strokes_leaving_the_image_are_clipped() -> None:
    path = np.array([[-20.0, 5.5], [30.0, 5.5]])
    m = brush_mask(path, 1.2, 10, 8)
    assert np.array_equal(m, centres_within(path, 1.2, 10, 8)) and m[4:7].all() and not m[:4].any()
    assert not brush_mask(np.array([[-50.0, -50.0], [-40.0, -60.0]]), 3.0, 10, 8).any()


def test_apply_brush_adds_and_subtracts_and_refuses_bad_input() -> None:
    base = np.zeros((10, 10), bool)
    base[:, :5] = True
    stroke = np.array([[2.5, 5.5], [7.5, 5.5]])
    region = centres_within(stroke, 1.0, 10, 10)
    assert np.array_equal(apply_brush(base, stroke, 1.0, "add", 10, 10), base | region)
    assert np.array_equal(apply_brush(base, stroke, 1.0, "subtract", 10, 10), base & ~region)
    assert np.array_equal(apply_brush(None, stroke, 1.0, "add", 10, 10), region)
    with pytest.raises(GeometryError, match="brush mode"):
        apply_brush(base, stroke, 1.0, "paint", 10, 10)
    with pytest.raises(GeometryError, match="at least one point"):
        brush_mask(np.zeros((0, 2)), 1.0, 10, 10)
    with pytest.raises(GeometryError, match="radius"):
        brush_mask(stroke, -1.0, 10, 10)
    with pytest.raises(GeometryError, match="NaN"):
        brush_mask(np.array([[np.nan, 1.0]]), 1.0, 10, 10)
    with pytest.raises(GeometryError, match="does not match"):
        apply_brush(base, stroke, 1.0, "add", 12, 10)


def distances(path: np.ndarray, h: int, w: int) -> np.ndarray:
    ys, xs = np.mgrid[:h, :w]
    geom = LineString(path) if len(path) > 1 else points(*path[0])
    return distance(points(xs.ravel() + 0.5, ys.ravel() + 0.5), geom).reshape(h, w)


@pytest.mark.parametrize("seed", range(5))
def test_a_wide_brush_keeps_its_edge_within_1_px_of_the_rule(seed) -> None:
    """From BRUSH_WIDE on a distance transform paints: every pixel centre within r - 1 of the
    path is painted, none farther than r + 1 (shapely's distances)."""
    from core.geometry import BRUSH_WIDE

    rng = np.random.default_rng(seed)
    h, w = 120, 160
    n = int(rng.integers(1, 40))
    path = np.cumsum(rng.normal(0, 4, (n, 2)), axis=0) + rng.uniform(20, 140, 2)  # may leave the frame
    r = float(rng.uniform(BRUSH_WIDE, 45.0))
    got = brush_mask(path, r, h, w)
    d = distances(path, h, w)
    assert got[d <= r - 1].all() and not got[d > r + 1].any()
    assert abs(int(got.sum()) - int((d <= r).sum())) <= 0.05 * max(int((d <= r).sum()), 1) + 10
