"""model.distill: the soft-target loss a lighter detector learns from, against hand-derived values."""

import math

import torch

from model.distill import distill_loss


def _maps(cls: float, ctr: float, box: float, hw: tuple[int, int] = (1, 1)) -> dict[str, list[torch.Tensor]]:
    h, w = hw
    return {"cls": [torch.full((1, 1, h, w), cls)], "ctr": [torch.full((1, 1, h, w), ctr)],
            "box": [torch.full((1, 4, h, w), box)], "sky": [torch.zeros(1, 1, h, w)]}


def test_one_location_by_hand():
    # teacher logit 0: probability 0.5, the expected positives 0.5 -> normalised by 1 (at least one)
    # focal of logit 0 against 0.5: BCE ln 2, p_t 0.5, (1 - p_t)^2 0.25, alpha_t 0.25 * 0.5 + 0.75 * 0.5
    focal = math.log(2) * 0.25 * 0.5
    ctr = math.log(2) * 0.5  # BCE(logit 0, target 0.5) weighted by the teacher's probability
    box = 4 * 1.0 * 0.5  # four sides one unit off, weighted by 0.5
    got = distill_loss(_maps(0.0, 0.0, 1.0), _maps(0.0, 0.0, 0.0))
    assert abs(float(got) - (focal + ctr + box)) < 1e-6


def test_background_where_the_teacher_sees_nothing_costs_no_box():
    # the teacher is sure there is nothing (logit -30): the box and centerness terms vanish, and a
    # student that agrees costs (almost) nothing, one that fires costs the focal loss of its logit
    quiet = distill_loss(_maps(-30.0, 5.0, 7.0, (4, 4)), _maps(-30.0, -5.0, 0.0, (4, 4)))
    assert float(quiet) < 1e-6
    fires = distill_loss(_maps(2.0, 0.0, 0.0, (4, 4)), _maps(-30.0, 0.0, 0.0, (4, 4)))
    p = 1 / (1 + math.exp(-2.0))
    by_hand = 16 * (-math.log(1 - p)) * p**2 * 0.75  # 16 locations, target 0: alpha_t 0.75, (1-p_t)^2 = p^2
    assert abs(float(fires) - by_hand) < 1e-4


def test_gradient_moves_the_student_toward_the_teacher():
    student = _maps(-1.0, 0.0, 0.0)
    for maps in student.values():
        maps[0].requires_grad_(True)
    teacher = _maps(2.0, 1.0, 0.5)
    distill_loss(student, teacher).backward()
    assert float(student["cls"][0].grad) < 0  # the logit rises toward the teacher's
    assert float(student["ctr"][0].grad) < 0
    assert float(student["box"][0].grad.sum()) < 0  # the deltas rise toward 0.5
