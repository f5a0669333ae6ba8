"""core/inspect: matching, background class, local contrast, brightness rank, statistics.

The hand-made scene (20x20): background rows alternate 8 (even rows) and 12 (odd rows), so every
ring of width 3 around a 2x2 box spanning one even and one odd row has mean 10 and std 2.
- target A, box (4, 4, 6, 6), value 50, in the sky (rows 0-9 are sky): contrast (50-10)/2 = 20;
- target B, box (4, 14, 6, 16), value 60, non-sky, never detected (the miss): contrast 25;
- false alarm, box (14, 14, 16, 16), value 30, non-sky: contrast (30-10)/2 = 10.
Ranks: 4 pixels (B) are brighter than A's peak 50 -> 4/400 = 1 %; nothing is brighter than B -> 0 %.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.domain import ImageAnnotation, Target, TargetMask, TargetState
from core.services.inspection import (
    FA,
    MISS,
    NON_SKY,
    SKY,
    UNKNOWN,
    InspectionSummary,
    MatchRule,
    background_class,
    box_iou,
    brightness_ranks,
    collect_stats,
    crop_around,
    inspect_image,
    local_contrast,
    match_detections,
    summarize,
    target_peak,
)
from tests._support.inspection_scene import BOX_A, BOX_B, BOX_FA, scene_pixels, scene_targets


@pytest.fixture
def scene() -> tuple[np.ndarray, np.ndarray, list[Target]]:
    return (*scene_pixels(), scene_targets())


def test_local_contrast_by_hand(scene) -> None:
    img, _, _ = scene
    g = img.astype(np.float64)
    assert local_contrast(g, BOX_A) == pytest.approx(20.0)
    assert local_contrast(g, BOX_B) == pytest.approx(25.0)
    assert local_contrast(g, BOX_FA) == pytest.approx(10.0)


def test_local_contrast_flat_background_uses_std_floor() -> None:
    g = np.full((12, 12), 10.0)
    g[5:7, 5:7] = 15.0
    assert local_contrast(g, (5, 5, 7, 7)) == pytest.approx(5.0)  # std 0 -> floored at 1 level


def test_local_contrast_empty_box_is_nan() -> None:
    assert math.isnan(local_contrast(np.zeros((5, 5)), (7, 7, 9, 9)))


def test_background_class_majority(scene) -> None:
    _, sky, _ = scene
    assert background_class(sky, BOX_A) == SKY
    assert background_class(sky, BOX_FA) == NON_SKY
    assert background_class(sky, (0, 8, 2, 12)) == NON_SKY  # 2 of 4 rows sky: a tie is no majority
    assert background_class(sky, (0, 7, 2, 11)) == SKY  # 3 of 4 rows sky
    assert background_class(None, BOX_A) == UNKNOWN


def test_brightness_rank_by_hand(scene) -> None:
    img, _, targets = scene
    g = img.astype(np.float64)
    peaks = [target_peak(g, t) for t in targets]
    assert peaks == [50.0, 60.0]
    assert brightness_ranks(g, peaks).tolist() == pytest.approx([1.0, 0.0])


def test_target_peak_prefers_mask_over_box() -> None:
    g = np.zeros((6, 6))
    g[1, 1], g[2, 2] = 9.0, 5.0
    mask = TargetMask(2, 2, np.ones((1, 1), dtype=bool))
    assert target_peak(g, Target(box=(1, 1, 3, 3), mask=mask)) == 5.0
    assert target_peak(g, Target(box=(1, 1, 3, 3))) == 9.0


def test_legacy_iou_adds_a_pixel() -> None:
    a, b = np.array([[0, 0, 3, 3]]), np.array([[1, 1, 4, 4]])
    assert box_iou(a, b, legacy=True)[0, 0] == pytest.approx(9 / 23)
    assert box_iou(a, b, legacy=False)[0, 0] == pytest.approx(4 / 14)
    assert box_iou(a, np.array([[10, 10, 12, 12]]))[0, 0] == 0.0


def test_matching_is_greedy_by_score_one_to_one() -> None:
    targets = [Target(box=(10, 10, 13, 13))]
    boxes = np.array([[10, 10, 13, 13], [10, 10, 13, 14]])
    det_ok, gt_ok = match_detections(boxes, np.array([0.3, 0.9]), targets)
    assert det_ok.tolist() == [False, True]  # the higher score takes the target
    assert gt_ok.tolist() == [True]


def test_point_only_target_matches_by_centre_distance() -> None:
    targets = [Target(point=(20.0, 20.0))]
    near = np.array([[21, 21, 23, 23]])  # centre (22, 22): 2.83 px away
    far = np.array([[23, 23, 25, 25]])  # centre (24, 24): 5.66 px away
    assert match_detections(near, [0.5], targets)[0].tolist() == [True]
    assert match_detections(far, [0.5], targets)[0].tolist() == [False]
    assert match_detections(far, [0.5], targets, MatchRule(center_dist=6.0))[0].tolist() == [True]


def test_inspect_image_lists_the_false_alarm_and_the_miss(scene) -> None:
    img, sky, targets = scene
    boxes = np.array([BOX_A, BOX_FA, (0, 0, 2, 2)])
    scores = np.array([0.9, 0.8, 0.1])  # the third is below the threshold
    res = inspect_image(7, img.astype(float), sky, targets, boxes, scores, 0.5, name="scene")
    assert (res.n_targets, res.n_detections, res.n_true) == (2, 2, 1)
    fa, miss = res.items
    assert (fa.kind, fa.image_id, fa.box, fa.score, fa.background) == (FA, 7, BOX_FA, 0.8, NON_SKY)
    assert fa.contrast == pytest.approx(10.0)
    assert fa.center == (15.0, 15.0)
    assert (miss.kind, miss.box, miss.score, miss.background) == (MISS, BOX_B, None, NON_SKY)
    assert miss.contrast == pytest.approx(25.0)
    # at a threshold above every score, nothing is a false alarm and both targets are missed
    res_hi = inspect_image(7, img.astype(float), sky, targets, boxes, scores, 0.95)
    assert [i.kind for i in res_hi.items] == [MISS, MISS]


def test_summary_counts_and_json_round_trip(scene) -> None:
    img, sky, targets = scene
    boxes, scores = np.array([BOX_A, BOX_FA, (4, 1, 6, 3)]), np.array([0.9, 0.8, 0.7])
    res = inspect_image(7, img.astype(float), sky, targets, boxes, scores, 0.5, name="scene")
    s = summarize([res], "v1", 0.5)
    assert (s.fa_sky, s.fa_non_sky, s.fa_unknown, s.misses) == (1, 1, 0, 1)
    assert (s.false_alarms, s.n_true, s.n_targets, s.n_images) == (2, 1, 2, 1)
    assert s.pd == pytest.approx(0.5) and s.fa_per_image == pytest.approx(2.0)
    assert s.per_image["scene"] == {
        "image_id": 7, "fa": 2, "fa_sky": 1, "fa_non_sky": 1, "miss": 1,
    }  # fmt: skip
    back = InspectionSummary.from_json(s.to_json())
    assert back == s


def test_dataset_stats_by_hand(scene) -> None:
    img, sky, targets = scene
    ann = ImageAnnotation(
        targets=[*targets, Target(box=(0, 0, 1, 1), state=TargetState.PROPOSAL)], sky=sky
    )
    empty = ImageAnnotation(targets=[], sky=None)
    stats = collect_stats([(img, ann), (np.zeros((4, 4), np.uint8), empty)])
    assert (stats.n_images, stats.n_targets, stats.n_without_sky) == (2, 2, 1)
    assert stats.targets_per_image == [2, 0]  # the proposal is not counted
    assert stats.width == [2.0, 2.0] and stats.area == [4.0, 4.0]
    assert stats.contrast == pytest.approx([20.0, 25.0])
    assert stats.rank == pytest.approx([1.0, 0.0])
    assert stats.sky_fraction == [0.5]
    arrays = stats.arrays()
    assert arrays["targets_per_image"].tolist() == [2.0, 0.0]


def test_collect_stats_stops_when_cancelled(scene) -> None:
    img, sky, targets = scene
    seen: list[int] = []
    samples = [(img, ImageAnnotation(targets=targets, sky=sky))] * 5
    stats = collect_stats(samples, progress=seen.append, cancelled=lambda: len(seen) >= 2)
    assert stats.n_images == 2 and seen == [1, 2]


def test_rgb_images_are_measured_on_luminance() -> None:
    rgb = np.zeros((12, 12, 3), np.uint8)
    rgb[5:7, 5:7] = 100
    stats = collect_stats([(rgb, ImageAnnotation([Target(box=(5, 5, 7, 7))]))])
    assert stats.contrast == pytest.approx([100.0])


def test_crop_is_centred_and_padded_at_the_border(scene) -> None:
    img, _, _ = scene
    crop, x0, y0 = crop_around(img.astype(float), (15.0, 15.0), size=48)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert (x0, y0) == (-9, -9)
    assert crop[14 - y0, 4 - x0] == 255  # B is the brightest pixel of the crop
    assert 0 < crop[15 - y0, 15 - x0] < 255  # the false alarm, stretched between
    flat, _, _ = crop_around(np.full((5, 5), 3.0), (2, 2), size=8)
    assert not flat.any()


def test_crop_matches_an_edge_padded_image_anywhere() -> None:
    rng = np.random.default_rng(5)
    g = rng.uniform(0, 100, size=(30, 41))
    padded = np.pad(g, 100, mode="edge")
    for cx, cy in [(0, 0), (40.9, 29.9), (20, 15), (-30, 5), (80, 70), (3.2, 28)]:
        crop, x0, y0 = crop_around(g, (cx, cy), size=16)
        ref = padded[y0 + 100 : y0 + 116, x0 + 100 : x0 + 116]
        lo, hi = np.percentile(ref, 1.0), ref.max()
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        expect = np.clip((ref - lo) * scale, 0, 255).astype(np.uint8)
        assert np.array_equal(crop, expect), (cx, cy)


def test_many_peaks_rank_by_sorting_equals_counting() -> None:
    rng = np.random.default_rng(2)
    g = rng.integers(0, 50, size=(20, 30)).astype(float)
    peaks = rng.integers(0, 50, size=40).astype(float)  # > FEW_PEAKS: the sorting path
    expect = [100.0 * np.count_nonzero(g > p) / g.size for p in peaks]
    assert brightness_ranks(g, peaks).tolist() == pytest.approx(expect)


def test_matching_agrees_with_the_evaluation_metric() -> None:
    from core.metrics import match_image

    rng = np.random.default_rng(9)
    for _ in range(20):
        gt_xy = rng.uniform(0, 30, size=(6, 2))
        gt = np.concatenate([gt_xy, gt_xy + rng.integers(2, 6, size=(6, 2))], axis=1)
        det = gt[rng.integers(0, 6, size=8)] + rng.integers(-2, 3, size=(8, 4))
        det[:, 2:] = np.maximum(det[:, 2:], det[:, :2] + 1)
        scores = rng.uniform(size=8)
        targets = [Target(box=tuple(b)) for b in gt]
        det_ok, _ = match_detections(det, scores, targets)
        assert det_ok.tolist() == match_image(gt, det, scores).tolist()
