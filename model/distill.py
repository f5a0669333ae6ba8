"""A lighter detector taught by a full one (MODEL.md "A lighter detector").

The teacher (the weights a fine-tune starts from, frozen) sees the same crops as the student; its
per-level head outputs are soft targets next to the labels' losses:

- classification: the focal loss of the student's logit against the teacher's probability (a soft
  target; torchvision's focal loss takes one), normalised like the labels' focal loss, by the
  teacher's expected positives (the sum of its probabilities, at least 1);
- centerness and box: where the teacher sees a target (its probability as the weight), the
  student's centerness follows the teacher's probability and its box deltas the teacher's (L1).

Only the detector's outputs are matched: the sky head keeps its labels' loss alone (its logit is
not what ``predict`` shows; the sky network is), and the student's backbone may differ from the
teacher's (fewer blocks), so no features are compared.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import sigmoid_focal_loss

from model.assign import flatten_levels


def distill_loss(student: dict[str, list[Tensor]], teacher: dict[str, list[Tensor]]) -> Tensor:
    """Soft-target loss of the student's cls / ctr / box maps against the teacher's (same shapes)."""
    s_cls = flatten_levels(student["cls"])[..., 0]
    t_prob = torch.sigmoid(flatten_levels(teacher["cls"])[..., 0].detach())
    mass = t_prob.sum().clamp(min=1.0)
    loss = sigmoid_focal_loss(s_cls, t_prob, alpha=0.25, gamma=2.0, reduction="sum") / mass
    s_ctr = flatten_levels(student["ctr"])[..., 0]
    t_ctr = torch.sigmoid(flatten_levels(teacher["ctr"])[..., 0].detach())
    loss = loss + (F.binary_cross_entropy_with_logits(s_ctr, t_ctr, reduction="none") * t_prob).sum() / mass
    box_l1 = (flatten_levels(student["box"]) - flatten_levels(teacher["box"]).detach()).abs().sum(-1)
    return loss + (box_l1 * t_prob).sum() / mass
