"""core.attention: the attention score, its reason and the disputes, against hand-derived values."""

from __future__ import annotations

import numpy as np
import pytest

from core import attention as att
from core.domain import Source, Target, TargetState


def label(x0: float, y0: float, tid: int) -> Target:
    return Target(box=(x0, y0, x0 + 4, y0 + 4), state=TargetState.ACCEPTED, id=tid)


def proposal(x0: float, y0: float, score: float, tid: int) -> Target:
    return Target(box=(x0, y0, x0 + 4, y0 + 4), source=Source.MODEL, score=score,
                  state=TargetState.PROPOSAL, id=tid)  # fmt: skip


LABELS = [label(10, 10, 1), label(30, 30, 2), label(50, 50, 3)]
PROPOSALS = [
    proposal(11, 10, 0.9, 11),  # centre 1 px from label 1: confirms it
    proposal(30, 32, 0.08, 12),  # centre 2 px from label 2, but scores below 0.10: label 2 doubtful
    proposal(78, 78, 0.7, 13),  # >= operating 0.5, no label within 3 px: unlabelled
    proposal(88, 88, 0.45, 14),  # below the operating threshold, 0.05 from it: near threshold only
]


def test_target_disputes_by_hand() -> None:
    found = att.target_disputes(LABELS, PROPOSALS, operating=0.5)
    got = {(d.kind, d.target_id): round(d.strength, 6) for d in found}
    assert got == {
        (att.DisputeKind.DOUBTFUL, 2): 0.92,  # 1 - 0.08
        (att.DisputeKind.DOUBTFUL, 3): 1.0,  # nothing proposed near it
        (att.DisputeKind.UNLABELLED, 13): 0.7,  # its own score
    }
    keys = {d.target_id: d.key for d in found}
    assert keys == {2: "doubtful:32:32", 3: "doubtful:52:52", 13: "unlabelled:80:80"}


def test_no_disputes_without_labels() -> None:
    assert att.target_disputes([], PROPOSALS, operating=0.5) == []


def test_sky_dispute_is_the_contradicted_band() -> None:
    accepted = np.zeros((100, 100), bool)
    accepted[:40] = True
    proposed = np.zeros((100, 100), bool)
    proposed[:50] = True  # the model says rows 40-49 are sky too: 1,000 px = 10 % of the frame
    (d,) = att.sky_disputes(accepted, proposed)
    assert d.kind is att.DisputeKind.SKY and d.model_says_sky
    assert d.box == (0.0, 40.0, 100.0, 50.0)
    assert d.region.shape == (10, 100) and d.region.all()  # cropped to its box
    assert d.strength == 1.0  # 10 % / 5 %, capped at 1
    # a 15 px difference is below the 16 px floor; no accepted sky: nothing to dispute
    small = accepted.copy()
    small[60, :15] = True
    assert att.sky_disputes(small, accepted) == []
    assert att.sky_disputes(None, proposed) == []


def test_attention_score_and_reason_by_hand() -> None:
    accepted = np.zeros((100, 100), bool)
    accepted[:40] = True
    proposed = np.zeros((100, 100), bool)
    proposed[:50] = True
    disputes = att.target_disputes(LABELS, PROPOSALS, 0.5) + att.sky_disputes(accepted, proposed)
    a = att.attention([p.score for p in PROPOSALS], 0.5, disputes, sky_uncertain=0.12, frame_px=10_000)
    # near: only 0.45 is within 0.15 of 0.5 (1); disputed labels 3; one sky region (1) covering
    # 10 % (2 points); uncertain sky 12 % (2.4 points): 1 + 3 + 1 + 2 + 2.4
    assert a.score == pytest.approx(9.4)
    assert (a.near, a.disputes, a.sky_regions) == (1, 3, 1)
    assert a.reason == ("model disputes 3 labels, sky disputed 10 %, sky uncertain 12 %, "
                        "1 proposal near threshold")  # fmt: skip


def test_attention_of_a_quiet_image_is_zero() -> None:
    a = att.attention([0.95, 0.05], 0.5, [], sky_uncertain=0.001)
    assert a.score == pytest.approx(0.02) and a.reason == ""


@pytest.mark.parametrize("threshold, expected", [(0.5, 5 / 8), (0.3, 4 / 8)])
def test_sky_uncertain_share_by_hand(threshold: float, expected: float) -> None:
    # threshold 0.5: band [0.269, 0.731] holds 0.3, 0.5, 0.7, 0.27, 0.54;
    # threshold 0.3: band [0.136, 0.538] holds 0.3, 0.5, 0.14, 0.27
    prob = np.array([[0.1, 0.3, 0.5, 0.7], [0.75, 0.14, 0.27, 0.54]], np.float32)
    assert att.sky_uncertain_share(prob, threshold) == pytest.approx(expected)


def test_image_priority_orders_by_strongest_then_sum() -> None:
    d = lambda s: att.Dispute(att.DisputeKind.UNLABELLED, s, (0, 0, 1, 1))  # noqa: E731
    images = {"a": [d(0.7)], "b": [d(0.9), d(0.1)], "c": [d(0.9), d(0.5)], "d": []}
    assert sorted(images, key=lambda k: att.image_priority(images[k])) == ["c", "b", "a", "d"]


@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_uncertain_share_on_the_logit_is_the_same(threshold: float) -> None:
    prob = np.array([[0.1, 0.3, 0.5, 0.7], [0.75, 0.14, 0.27, 0.54]], np.float64)
    logit = np.log(prob / (1 - prob))
    assert att.sky_uncertain_share_logit(logit, threshold) == att.sky_uncertain_share(prob, threshold)
