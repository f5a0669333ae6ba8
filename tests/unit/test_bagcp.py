"""BAG-CP placement: sky only, 20x20 regions of 8-12 targets, sizes, spacing, switches, messages."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.bagcp import BagcpConfig, BagcpError, synthesize
from core.domain import Source, Target, TargetState
from core.target_library import TargetLibrary
from tests.unit._bagcp_helpers import full_mask, patch_library, scene, touches, wavy_sky

H, W = 128, 160
SEEDS = range(12)


@pytest.fixture(scope="module")
def library() -> TargetLibrary:
    return patch_library(sizes=(2, 8))  # some patches must shrink to fit 5x5


@pytest.fixture(scope="module")
def existing() -> list[Target]:
    boxes = [(10, 10, 13, 13), (100, 20, 104, 23), (140, 5, 143, 9), (40, 50, 43, 52)]
    return [Target(point=(b[0] + 1, b[1] + 1), box=b) for b in boxes]


def run(library: TargetLibrary, seed: int, sky=None, existing=(), image=None, **cfg) -> object:
    image = scene(H, W, seed) if image is None else image
    sky = wavy_sky(H, W) if sky is None else sky
    return synthesize(
        image, sky, list(existing), library, BagcpConfig(**cfg), np.random.default_rng(seed)
    )


def test_every_pasted_pixel_lies_in_sky(library: TargetLibrary) -> None:
    sky = wavy_sky(H, W)
    for seed in SEEDS:
        image = scene(H, W, seed)
        res = run(library, seed, image=image)
        assert res.targets, res.message
        changed = res.image != image
        assert not (changed & ~sky).any(), f"seed {seed}: pixels changed outside the sky"
        for t in res.targets:
            assert not (full_mask(t, H, W) & ~sky).any()


def test_regions_are_20x20_in_sky_and_hold_8_to_12_targets(library: TargetLibrary) -> None:
    sky = wavy_sky(H, W)
    for seed in SEEDS:
        res = run(library, seed)
        assert 1 <= len(res.regions) <= 3
        counts = [0] * len(res.regions)
        for t in res.targets:
            inside = [
                i
                for i, r in enumerate(res.regions)
                if r[0] <= t.box[0] and r[1] <= t.box[1] and t.box[2] <= r[2] and t.box[3] <= r[3]
            ]
            assert len(inside) == 1, f"seed {seed}: target {t.box} not in exactly one region"
            counts[inside[0]] += 1
        for (x0, y0, x1, y1), n in zip(res.regions, counts, strict=True):
            assert (x1 - x0, y1 - y0) == (20, 20)
            assert sky[int(y0) : int(y1), int(x0) : int(x1)].all()
            assert 8 <= n <= 12


def test_sizes_spacing_and_existing_targets(library: TargetLibrary, existing: list) -> None:
    for seed, cluster in itertools.product(SEEDS, (True, False)):
        res = run(library, seed, existing=existing, cluster=cluster)
        masks = [full_mask(t, H, W) for t in res.targets]
        for t in res.targets:
            assert t.box[2] - t.box[0] <= 5 and t.box[3] - t.box[1] <= 5
            assert t.source == Source.SYNTHETIC and t.state == TargetState.ACCEPTED
        for a, b in itertools.combinations(masks, 2):
            assert not touches(a, b), f"seed {seed}: two pasted targets touch"
        for e in existing:
            x0, y0, x1, y1 = (int(v) for v in e.box)
            box = np.zeros((H, W), bool)
            box[y0:y1, x0:x1] = True
            assert not any(touches(box, m) for m in masks), f"seed {seed}: touches {e.box}"


def test_target_labels_cover_pasted_pixels_and_point_at_peak(library: TargetLibrary) -> None:
    image = scene(H, W, 3)
    res = run(library, 3, image=image)
    for t in res.targets:
        m = full_mask(t, H, W)
        rows, cols = np.nonzero(m)
        assert t.box == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        px, py = (int(v) for v in t.point)
        assert m[py, px] and res.image[py, px] == res.image[m].max()


def test_gaussian_switch_changes_only_the_blend(library: TargetLibrary) -> None:
    on, off = run(library, 5), run(library, 5, gaussian=False)
    assert [t.box for t in on.targets] == [t.box for t in off.targets]
    assert on.regions == off.regions
    assert [p.library_index for p in on.pastes] == [p.library_index for p in off.pastes]
    assert not np.array_equal(on.image, off.image)


def test_cluster_switch_changes_only_the_arrangement(library: TargetLibrary) -> None:
    on, off = run(library, 6), run(library, 6, cluster=False)
    assert off.regions == [] and on.regions
    assert [p.library_index for p in on.pastes] == [p.library_index for p in off.pastes]
    assert [p.lam for p in on.pastes] == [p.lam for p in off.pastes]
    xs = [t.box[0] for t in off.targets]
    ys = [t.box[1] for t in off.targets]
    assert max(xs) - min(xs) > 20 or max(ys) - min(ys) > 20, "scattered targets stay clustered"


def test_background_aware_switch_changes_only_where_targets_may_go(library: TargetLibrary) -> None:
    sky = np.zeros((H, W), bool)
    sky[:, : W // 2] = True
    off_sky = 0
    for seed in SEEDS:
        on = run(library, seed, sky=sky)
        off = run(library, seed, sky=sky, background_aware=False)
        assert [p.library_index for p in on.pastes] == [p.library_index for p in off.pastes]
        assert [p.theta for p in on.pastes] == [p.theta for p in off.pastes]
        assert all(sky[full_mask(t, H, W)].all() for t in on.targets)
        off_sky += sum(not sky[full_mask(t, H, W)].all() for t in off.targets)
    assert off_sky > 0, "background_aware=False never left the sky"


def test_copy_paste_off_returns_the_image_unchanged(library: TargetLibrary) -> None:
    image = scene(H, W, 1)
    res = run(library, 1, image=image, copy_paste=False)
    assert np.array_equal(res.image, image) and res.image is not image
    assert res.targets == [] and res.regions == []


@pytest.mark.parametrize("sky", [np.zeros((H, W), bool), None])
def test_no_sky_pastes_nothing_and_says_why(library: TargetLibrary, sky) -> None:
    image = scene(H, W, 2)
    res = synthesize(image, sky, [], library, BagcpConfig(), np.random.default_rng(0))
    assert res.targets == [] and np.array_equal(res.image, image)
    assert "no sky" in res.message and "background_aware" in res.message
    anywhere = synthesize(
        image, sky, [], library, BagcpConfig(background_aware=False), np.random.default_rng(0)
    )
    assert anywhere.targets and anywhere.message is None


def test_small_sky_places_fewer_regions_and_says_so(library: TargetLibrary) -> None:
    sky = np.zeros((H, W), bool)
    sky[40:60, 70:90] = True  # room for exactly one 20x20 region
    res = run(library, 0, sky=sky, n_regions=(3, 3))
    assert len(res.regions) == 1 and res.regions[0] == (70.0, 40.0, 90.0, 60.0)
    assert "placed 1 of 3 clusters" in res.message
    sky[:] = False
    sky[40:46, 70:76] = True  # room for one scattered target only
    res = run(library, 0, sky=sky, cluster=False)
    assert len(res.targets) == 1 and "placed 1 of" in res.message


def test_determinism_for_a_seed(library: TargetLibrary) -> None:
    a, b, c = run(library, 9), run(library, 9), run(library, 10)
    assert np.array_equal(a.image, b.image)
    assert [(t.box, t.point) for t in a.targets] == [(t.box, t.point) for t in b.targets]
    assert a.pastes == b.pastes
    assert not np.array_equal(a.image, c.image)


def test_inputs_are_not_modified(library: TargetLibrary, existing: list) -> None:
    image, sky = scene(H, W, 4), wavy_sky(H, W)
    image0, sky0 = image.copy(), sky.copy()
    boxes0 = [t.box for t in existing]
    run(library, 4, image=image, sky=sky, existing=existing)
    assert np.array_equal(image, image0) and np.array_equal(sky, sky0)
    assert [t.box for t in existing] == boxes0


def test_bad_inputs_raise_typed_errors(library: TargetLibrary) -> None:
    image, rng = scene(H, W, 0), np.random.default_rng(0)
    with pytest.raises(BagcpError, match="sky mask is 10x10"):
        synthesize(image, np.ones((10, 10), bool), [], library, BagcpConfig(), rng)
    with pytest.raises(BagcpError, match="library is empty"):
        synthesize(image, wavy_sky(H, W), [], TargetLibrary(), BagcpConfig(), rng)
    with pytest.raises(BagcpError, match="channels"):
        synthesize(np.zeros((H, W, 2), np.uint8), None, [], library, BagcpConfig(), rng)
    with pytest.raises(BagcpError, match="low end above high end"):
        BagcpConfig(lam=(1.0, 0.5))
    with pytest.raises(BagcpError, match="max_size"):
        BagcpConfig(max_size=30)


def test_table_iii_strategies_map_to_switches() -> None:
    rows = {k: BagcpConfig.strategy(k) for k in "abcdef"}
    flags = {k: (c.copy_paste, c.cluster, c.gaussian, c.background_aware) for k, c in rows.items()}
    assert flags["a"][0] is False
    assert flags["b"] == (True, False, False, False)
    assert flags["c"] == (True, True, False, False)
    assert flags["d"] == (True, False, True, False)
    assert flags["e"] == (True, True, True, False)
    assert flags["f"] == (True, True, True, True)
    with pytest.raises(BagcpError, match="a, b, c"):
        BagcpConfig.strategy("g")
