"""core.geometry: ring extraction / rasterisation round trips, ring edits, polygons, target fitting."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.errors import SirstError
from core.geometry import (
    GeometryError,
    Ring,
    apply_polygon,
    apply_ring_delete,
    apply_ring_edit,
    fit_target,
    mask_to_rings,
    rasterize_ring,
    ring_delete_vertex,
    ring_insert_vertex,
    ring_move_vertex,
    ring_region,
    rings_to_mask,
)


def _blobby_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    noise = cv2.GaussianBlur(rng.random((h, w)), (5, 5), 0)
    return noise > np.quantile(noise, rng.uniform(0.3, 0.7))


def _square_mask(h: int = 30, w: int = 30) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[5:15, 8:20] = True
    return m


def test_rings_of_square_sit_on_pixel_centres() -> None:
    rings = mask_to_rings(_square_mask())
    assert len(rings) == 1 and not rings[0].is_hole
    pts = rings[0].points
    assert pts.dtype == np.float64 and pts.shape == (4, 2)  # CHAIN_APPROX_SIMPLE keeps 4 corners
    assert set(map(tuple, pts)) == {(8.5, 5.5), (19.5, 5.5), (19.5, 14.5), (8.5, 14.5)}
    assert np.array_equal(rasterize_ring(rings[0], 30, 30), _square_mask())


def test_empty_mask_has_no_rings() -> None:
    assert mask_to_rings(np.zeros((4, 4), dtype=bool)) == []


@pytest.mark.parametrize("seed", range(6))
def test_round_trip_random_blobby_masks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = _blobby_mask(rng, 48, 64)
    rings = mask_to_rings(mask)
    assert any(r.is_hole for r in rings) or seed > 0  # seed 0 has holes: the test covers them
    assert np.array_equal(rings_to_mask(rings, 48, 64), mask)


def test_each_component_is_reproduced_exactly() -> None:
    rng = np.random.default_rng(7)
    mask = _blobby_mask(rng, 60, 60)
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    rings = mask_to_rings(mask)
    outers = [r for r in rings if not r.is_hole]
    assert len(outers) == n - 1
    for label in range(1, n):
        comp = labels == label
        outer = next(r for r in outers if comp[int(r.points[0, 1]), int(r.points[0, 0])])
        filled = rasterize_ring(outer, 60, 60)
        # The outer raster is the component with its holes filled; carving the holes gives it back.
        holes = [r for r in rings if r.is_hole and filled[int(r.points[0, 1]), int(r.points[0, 0])]]
        rebuilt = filled.copy()
        for hole in holes:
            rebuilt &= ~ring_region(hole, 60, 60)
        assert np.array_equal(rebuilt & comp, comp)
        assert not (rebuilt & ~mask).any()


def test_noise_mask_round_trip() -> None:
    rng = np.random.default_rng(3)
    mask = rng.random((25, 31)) > 0.5
    assert np.array_equal(rings_to_mask(mask_to_rings(mask), 25, 31), mask)


def test_ring_edit_without_change_is_identity() -> None:
    rng = np.random.default_rng(11)
    mask = _blobby_mask(rng, 40, 40)
    for ring in mask_to_rings(mask):
        assert np.array_equal(apply_ring_edit(mask, ring, ring), mask)


def test_ring_edit_moves_a_corner_and_nothing_else() -> None:
    mask = _square_mask()
    mask[22:26, 2:6] = True  # a second component that must stay untouched
    ring = next(r for r in mask_to_rings(mask) if (19.5, 14.5) in map(tuple, r.points))
    new_pts = ring.points.copy()
    corner = np.flatnonzero((new_pts == (19.5, 14.5)).all(axis=1))[0]
    new_pts[corner] = (24.5, 19.5)  # drag the bottom-right corner outwards
    out = apply_ring_edit(mask, ring, Ring(new_pts))
    assert out[19, 24] and out[16, 20]  # grown
    assert np.array_equal(out[20:, :8], mask[20:, :8])  # other component exact
    assert np.array_equal(out[5:15, 8:20], mask[5:15, 8:20])  # original square kept
    expected = mask | rasterize_ring(new_pts, 30, 30)
    assert np.array_equal(out, expected)


def test_hole_edit_grows_the_hole() -> None:
    mask = np.ones((20, 20), dtype=bool)
    mask[8:11, 8:11] = False
    hole = next(r for r in mask_to_rings(mask) if r.is_hole)
    assert np.array_equal(ring_region(hole, 20, 20), ~mask)
    grown = Ring(hole.points + np.sign(hole.points - hole.points.mean(axis=0)), is_hole=True)
    out = apply_ring_edit(mask, hole, grown)
    assert not out[7:12, 7:12].any() and out[5, 5] and out[14, 14]
    assert np.array_equal(out, rings_to_mask(mask_to_rings(out), 20, 20))


def test_ring_delete_outer_and_hole() -> None:
    mask = np.zeros((20, 20), dtype=bool)
    mask[2:12, 2:12] = True
    mask[5:8, 5:8] = False
    mask[15:18, 15:18] = True
    rings = mask_to_rings(mask)
    hole = next(r for r in rings if r.is_hole)
    filled = apply_ring_delete(mask, hole)
    assert filled[2:12, 2:12].all() and filled[15:18, 15:18].all()
    outer = next(r for r in rings if not r.is_hole and r.points[:, 0].min() < 5)
    removed = apply_ring_delete(mask, outer)
    assert not removed[:13, :13].any() and removed[15:18, 15:18].all()


def test_apply_polygon_add_and_subtract() -> None:
    square = np.array([[2.5, 2.5], [9.5, 2.5], [9.5, 9.5], [2.5, 9.5]])
    added = apply_polygon(None, square, "add", 12, 12)
    assert added.sum() == 64 and added[2:10, 2:10].all()
    cut = apply_polygon(added, square + 4, "subtract", 12, 12)
    assert cut[2:6, 2:6].all() and not cut[6:10, 6:10].any()


def test_apply_polygon_repairs_a_bow_tie() -> None:
    bow_tie = np.array([[0.5, 0.5], [10.5, 10.5], [10.5, 0.5], [0.5, 10.5]])  # crosses itself
    out = apply_polygon(None, bow_tie, "add", 12, 12)
    # Both triangles of the bow tie are filled (left and right), top and bottom stay empty.
    assert out[5, 1] and out[5, 9] and not out[1, 5] and not out[10, 5]


def test_apply_polygon_rejects_bad_input() -> None:
    with pytest.raises(GeometryError, match="at least 3 vertices"):
        apply_polygon(None, np.array([[0.0, 0.0], [1.0, 1.0]]), "add", 5, 5)
    with pytest.raises(GeometryError, match="unknown polygon mode"):
        apply_polygon(None, np.zeros((3, 2)), "xor", 5, 5)
    with pytest.raises(GeometryError, match="does not match"):
        apply_polygon(np.zeros((4, 4), bool), np.zeros((3, 2)), "add", 5, 5)
    with pytest.raises(SirstError, match=r"\[N, 2\]"):
        rasterize_ring(np.zeros((3, 3)), 5, 5)


def _image_with_blob(kind: str, cx: int, cy: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    img = 1000.0 + rng.normal(0, 5, (64, 64))
    if kind == "square3":
        img[cy - 1 : cy + 2, cx - 1 : cx + 2] += 400
        img[cy, cx] += 200
    else:
        yy, xx = np.mgrid[0:64, 0:64]
        img += 3000 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 0.9**2))
    return np.clip(img, 0, 65535).astype(np.uint16)


def test_fit_target_on_3x3_blob() -> None:
    img = _image_with_blob("square3", 20, 30)
    t = fit_target(img, 21.7, 31.2)  # click off-centre: snaps to the peak
    assert t.point == (20.0, 30.0)
    assert t.box == (19.0, 29.0, 22.0, 32.0)
    assert t.mask is not None and t.mask.pixels.shape == (3, 3) and t.mask.pixels.all()
    assert (t.mask.x0, t.mask.y0) == (19, 29)


def test_fit_target_on_gaussian_blob() -> None:
    img = _image_with_blob("gauss", 40, 12)
    t = fit_target(img, 38.2, 13.9)
    assert t.point == (40.0, 12.0)
    x0, y0, x1, y1 = t.box
    assert (x0 + x1) / 2 == pytest.approx(40.5) and (y0 + y1) / 2 == pytest.approx(12.5)
    assert 3 <= x1 - x0 <= 5 and 3 <= y1 - y0 <= 5
    assert t.mask.pixels[12 - int(y0), 40 - int(x0)]


def test_fit_target_without_contrast_gives_3x3_on_click() -> None:
    flat = np.full((20, 20), 500, dtype=np.uint16)
    t = fit_target(flat, 7.4, 9.9)
    assert t.box == (6.0, 8.0, 9.0, 11.0) and t.point == (7.0, 9.0) and t.mask is None
    corner = fit_target(flat, 0.2, 0.2)
    assert corner.box == (0.0, 0.0, 2.0, 2.0)  # clipped at the image edge


def test_fit_target_rgb_and_outside() -> None:
    gray = _image_with_blob("square3", 10, 10).astype(np.float64) / 257
    rgb = np.repeat(gray.astype(np.uint8)[:, :, None], 3, axis=2)
    assert fit_target(rgb, 10, 10).box == (9.0, 9.0, 12.0, 12.0)
    with pytest.raises(GeometryError, match="outside"):
        fit_target(rgb, 70, 3)


def test_ring_behaves_like_an_array() -> None:
    ring = Ring([[0.5, 0.5], [3.5, 0.5], [3.5, 3.5]])
    assert np.asarray(ring).shape == (3, 2) and len(ring) == 3
    assert ring == Ring(np.asarray(ring)) and ring != Ring(np.asarray(ring), is_hole=True)


def test_ring_vertex_helpers() -> None:
    ring = Ring([[0.5, 0.5], [5.5, 0.5], [5.5, 5.5], [0.5, 5.5]], is_hole=True)
    moved = ring_move_vertex(ring, 2, (7.5, 8.5))
    assert (
        moved.is_hole
        and tuple(moved.points[2]) == (7.5, 8.5)
        and tuple(ring.points[2]) == (5.5, 5.5)
    )
    inserted = ring_insert_vertex(ring, 0, (3.5, -1.5))
    assert len(inserted) == 5 and tuple(inserted.points[1]) == (3.5, -1.5)
    deleted = ring_delete_vertex(inserted, 1)
    assert deleted == ring
    assert ring_delete_vertex(Ring([[0, 0], [1, 0], [1, 1]]), 0) is None  # would not be a polygon
