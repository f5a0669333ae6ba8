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
    pd, fa = metrics.pd_fa(gts, [b for b, _ in dets], legacy=False)
    assert pd == pytest.approx(2 / 3) and fa == pytest.approx(0.5)
    # F1 at 0.9: 2*1/(1+3)=.5; at 0.8: 2*2/(2+3)=.8; at 0.7: 2*2/(3+3)=.67 -> 0.8
    assert metrics.best_f1_threshold(gts, dets, legacy=False) == pytest.approx(0.8)


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
