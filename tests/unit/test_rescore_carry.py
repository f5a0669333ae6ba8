"""model.rescore_choice.choose and rescore.fit's prior (ADR 0042): what a fine-tune does with its
parent's rescorer, on frames whose right answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from model import rescore
from model.rescore import FEATURES
from model.rescore_choice import Carry, Frame, choose

CONTRAST = FEATURES.index("local_contrast")


def frames(n: int, target_score: float, clutter_score: float, target_contrast: float, clutter_contrast: float,
           seed: int = 0) -> list[Frame]:
    """n frames, each with two true targets (both found, 3x3 boxes exactly on the labels) and two
    clutter candidates far from them; the detector scores and one contrast feature as given."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x0, y0 = rng.integers(10, 200, 2).astype(float)
        gt = np.array([[x0, y0, x0 + 3, y0 + 3], [x0 + 40, y0, x0 + 43, y0 + 3]])
        clutter = np.array([[x0, y0 + 60, x0 + 3, y0 + 63], [x0 + 40, y0 + 60, x0 + 43, y0 + 63]])
        boxes = np.vstack([gt, clutter])
        scores = np.array([target_score, target_score, clutter_score, clutter_score]) + rng.uniform(-0.01, 0.01, 4)
        feats = rng.normal(0, 0.1, (4, len(FEATURES)))
        feats[:, 0] = np.log(scores / (1 - scores))
        feats[:, CONTRAST] = [target_contrast, target_contrast, clutter_contrast, clutter_contrast]
        out.append(Frame(f"frame{i}", gt, boxes, scores, feats, np.array([True, True, False, False])))
    return out


def contrast_rescorer(sign: float) -> tuple[float, ...]:
    coef = [0.0] * (len(FEATURES) + 1)
    coef[CONTRAST] = 6.0 * sign
    coef[-1] = -3.0 * sign
    return tuple(coef)


def test_the_parents_rescorer_is_kept_where_it_separates_what_the_scores_do_not() -> None:
    # Clutter outscores the targets (0.7 against 0.4): any threshold on the detector's scores
    # leaves 2 corrections a frame (2 deletes, or 2 adds). The parent's rescorer reads the contrast
    # (targets 1, clutter 0): every frame right.
    fr = frames(12, 0.4, 0.7, 1.0, 0.0)
    got = choose(fr, contrast_rescorer(+1))
    assert got.kind == Carry.PARENT and got.rescore == pytest.approx(contrast_rescorer(+1))
    assert got.two_fold["parent"] == 0.0 and got.two_fold["none"] >= 2.0  # no threshold does better than 2
    rescored = np.concatenate([rescore.apply(got.rescore, f.feats) for f in fr])
    assert rescored[0::4].min() >= got.threshold > rescored[2::4].max()


def test_a_parents_rescorer_that_does_harm_here_is_dropped() -> None:
    # The scores separate (0.9 against 0.1); the parent's rescorer ranks by a contrast that is now
    # higher on clutter: kept, it would cost 2 corrections a frame.
    fr = frames(12, 0.9, 0.1, 0.0, 1.0)
    got = choose(fr, contrast_rescorer(+1))
    assert got.kind == Carry.NONE and got.rescore == ()
    assert got.two_fold["none"] == 0.0 and got.two_fold["parent"] >= 2.0
    assert 0.1 < got.threshold <= 0.89


def test_without_a_parent_or_with_too_few_frames() -> None:
    fr = frames(12, 0.4, 0.7, 1.0, 0.0)
    assert choose(fr, ()).kind == Carry.NONE and choose(fr, ()).rescore == ()
    few = choose(fr[:3], contrast_rescorer(-1))  # 3 frames: no two-fold check, the parent's as it is
    assert few.kind == Carry.PARENT and few.rescore == pytest.approx(contrast_rescorer(-1)) and few.two_fold == {
        "parent": 0.0, "none": 0.0, "refit": 0.0}


def test_a_prior_pulls_a_small_fit_towards_it() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (60, len(FEATURES)))
    y = rng.random(60) < 1 / (1 + np.exp(-(2.0 * x[:, 0] - 0.5)))  # only the first feature matters
    prior = np.zeros(len(FEATURES) + 1)
    prior[1] = 3.0  # the parent weighed the second feature instead
    free = np.asarray(rescore.fit(x, y))
    pulled = np.asarray(rescore.fit(x, y, ridge=1.0, prior=tuple(prior)))
    strong = np.asarray(rescore.fit(x, y, ridge=1e4, prior=tuple(prior)))
    assert abs(free[1]) < 1.0 < pulled[1] < 3.0 and strong[1] == pytest.approx(3.0, abs=0.01)
    with pytest.raises(ValueError, match="prior has 3 coefficients"):
        rescore.fit(x, y, prior=(1.0, 2.0, 3.0))
