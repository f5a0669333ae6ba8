"""The sky task's epoch selection, against hand-computed values (its weight average is the
loop's: tests/unit/test_loop.py)."""

from __future__ import annotations

import pytest

from model.sky_train import selection_score


def test_selection_score_is_the_mean_of_the_bar_figures() -> None:
    assert selection_score({"sky_iou": 0.92, "sky_median": 0.97, "sky_large": 0.90, "rings": 3.0}) == pytest.approx(0.93)
    assert selection_score({"sky_iou": 0.8, "sky_median": 0.9}) == pytest.approx(0.85)  # no large frames
    assert selection_score({}) == 0.0
    # an epoch with the better pooled IoU but a worse typical frame loses
    a = {"sky_iou": 0.936, "sky_median": 0.968, "sky_large": 0.924}
    b = {"sky_iou": 0.933, "sky_median": 0.973, "sky_large": 0.923}
    assert selection_score(b) > selection_score(a)
