"""core.metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from core import metrics


def test_box_iou_legacy_and_plain_widths():
    a = np.array([[0, 0, 3, 3]])
    b = np.array([[1, 0, 4, 3]])
    # plain: overlap 2x3 = 6, union 9 + 9 - 6 = 12
    assert metrics.box_iou(a, b, legacy=False)[0, 0] == pytest.approx(0.5)
    # legacy: widths +1 -> 4x4 boxes, overlap 3x4 = 12, union 16 + 16 - 12 = 20
    assert metrics.box_iou(a, b, legacy=True)[0, 0] == pytest.approx(0.6)
    assert metrics.box_iou(a, np.array([[10, 10, 12, 12]]), legacy=False)[0, 0] == 0.0


def test_match_image_greedy_by_score_each_gt_once():
    gt = np.array([[0, 0, 4, 4], [10, 10, 14, 14]])
    boxes = np.array([[0, 0, 4, 4], [0, 0, 4, 4], [20, 20, 24, 24], [10, 10, 14, 14]])
    scores = np.array([0.5, 0.9, 0.8, 0.1])
    tp = metrics.match_image(gt, boxes, scores, 0.5, legacy=False)
    assert tp.tolist() == [False, True, False, True]  # the duplicate of lower score is a false positive


def _case():
    # image 1: two targets; image 2: one target.
    gts = [np.array([[0, 0, 4, 4], [10, 10, 14, 14]]), np.array([[5, 5, 9, 9]])]
    dets = [
        (np.array([[0, 0, 4, 4], [30, 30, 34, 34]]), np.array([0.9, 0.7])),
        (np.array([[5, 5, 9, 9]]), np.array([0.8])),
    ]
    return gts, dets


def test_ap_by_hand():
    gts, dets = _case()
    # ranked: 0.9 TP, 0.8 TP, 0.7 FP -> recall 1/3, 2/3, 2/3; precision 1, 1, 2/3
    m = metrics.evaluate_detections(gts, dets, legacy=False)
    assert m.recall == pytest.approx(2 / 3)
    # area: precision envelope 1 up to recall 2/3, then 0 -> 2/3
    assert m.mAP12 == pytest.approx(2 / 3)
    # 11-point: recalls 0, .1 ... .6 reach precision 1 (7 points), .7 ... 1.0 none -> 7/11
    assert m.mAP07 == pytest.approx(7 / 11)
    assert (m.n_gt, m.n_det) == (3, 3)


def test_voc_ap_perfect_and_empty():
    assert metrics.voc_ap(np.array([0.5, 1.0]), np.array([1.0, 1.0]), True) == pytest.approx(1.0)
    assert metrics.voc_ap(np.array([0.5, 1.0]), np.array([1.0, 1.0]), False) == pytest.approx(1.0)
    empty = metrics.evaluate_detections([np.zeros((0, 4))], [(np.zeros((0, 4)), np.zeros(0))])
    assert empty.mAP07 == 0.0 and empty.recall == 0.0


def test_pd_fa_and_best_threshold():
    gts, dets = _case()
    pd, fa = metrics.pd_fa_iou(gts, [b for b, _ in dets], legacy=False)
    assert pd == pytest.approx(2 / 3) and fa == pytest.approx(0.5)
    assert metrics.pd_fa(gts, [b for b, _ in dets]) == pytest.approx((2 / 3, 0.5))
    # F1 at 0.9: 2*1/(1+3)=.5; at 0.8: 2*2/(2+3)=.8; at 0.7: 2*2/(3+3)=.67 -> 0.8
    assert metrics.best_f1_threshold(gts, dets, legacy=False) == pytest.approx(0.8)


def test_pd_by_centre_distance_differs_from_iou_on_small_boxes():
    gt = np.array([[10, 10, 13, 13]])  # a 3x3 target, centre (11.5, 11.5)
    shifted = np.array([[12, 10, 15, 13]])  # 2 px to the right: centre distance 2, IoU plain 3/15
    assert metrics.pd_fa([gt], [shifted]) == (1.0, 0.0)
    assert metrics.pd_fa_iou([gt], [shifted], legacy=False) == (0.0, 1.0)
    # exactly 3 px away counts, 3.05 px does not
    assert metrics.pd_fa([gt], [gt + [0, 3, 0, 3]]) == (1.0, 0.0)
    assert metrics.pd_fa([gt], [gt + [2, 2, 2, 2]]) == (1.0, 0.0)  # 2.83 px diagonally
    assert metrics.pd_fa([gt], [gt + [3.05, 0, 3.05, 0]]) == (0.0, 1.0)
    # a large box centred on the target but 10x bigger: a hit by centre, not by IoU
    big = np.array([[1.5, 1.5, 21.5, 21.5]])
    assert metrics.pd_fa([gt], [big]) == (1.0, 0.0)
    assert metrics.pd_fa_iou([gt], [big])[0] == 0.0


def test_centre_matching_is_one_to_one_closest_target_first():
    # targets with centres (0, 0) and (2.5, 0); detections with centres (1.5, 0) and (-2, 0).
    gt = np.array([[-1, -1, 1, 1], [1.5, -1, 3.5, 1]])
    det = np.array([[0.5, -1, 2.5, 1], [-3, -1, -1, 1]])
    # target 1 is closest to a detection (1.0 to det 0) and takes it; target 0 then takes det 1 (2.0).
    # Serving target 0 first would have taken det 0 (1.5) and left target 1 nothing within 3 px.
    assert metrics.centre_matches(gt, det).tolist() == [1, 0]
    # one detection between two targets finds only one of them; the other is missed
    assert metrics.pd_fa([gt], [det[:1]]) == (0.5, 0.0)
    # two detections on one target: one hit, one false alarm
    assert metrics.pd_fa([gt[:1]], [np.array([[-1, -1, 1, 1], [-1, -0.5, 1, 1.5]])]) == (1.0, 1.0)
    assert metrics.centre_matches(np.zeros((0, 4)), det).tolist() == []
    assert metrics.centre_matches(gt, np.zeros((0, 4))).tolist() == [-1, -1]


def test_sky_iou_pooled_and_skips_unlabelled():
    p1 = np.zeros((2, 2), bool)
    p1[0] = True
    g1 = np.ones((2, 2), bool)
    p2 = np.ones((1, 2), bool)
    # inter 2 + 2 = 4, union 4 + 2 = 6
    assert metrics.sky_iou([p1, p2, p1], [g1, p2.copy(), None]) == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="shape"):
        metrics.sky_iou([p1], [p2])


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="ground-truth"):
        metrics.evaluate_detections([np.zeros((0, 4))], [])
