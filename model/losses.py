"""BAFE-Net losses (all weight 1): sigmoid focal loss (alpha 0.25, gamma 2), GIoU box loss weighted
by centerness targets, centerness BCE on positives, sky BCE at every level (nearest-resized mask,
padded/unlabelled pixels ignored)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

from model.assign import all_locations, assign_batch, flatten_levels
from model.boxes import decode
from model.config import BafeConfig

SKY_IGNORE = 255  # sky-mask value of padded or unlabelled pixels


def sky_loss(sky_logits: list[Tensor], sky: Tensor) -> Tensor:
    """Mean over levels of the BCE on valid pixels. sky (Tensor[B, H, W] uint8): 0, 1 or SKY_IGNORE."""
    # zero, but on the graph: a batch without sky labels still gives the sky head a (zero) gradient,
    # which DistributedDataParallel needs from every rank for every trained parameter
    total = sum(logits.sum() for logits in sky_logits) * 0.0
    target = sky[:, None].float()
    for logits in sky_logits:
        t = F.interpolate(target, size=logits.shape[-2:], mode="nearest")
        valid = t != SKY_IGNORE
        if valid.any():
            total = total + F.binary_cross_entropy_with_logits(logits[valid], t[valid])
    return total / max(len(sky_logits), 1)


def compute_losses(
    out: dict[str, list[Tensor]], boxes: list[Tensor], sky: Tensor | None, cfg: BafeConfig
) -> dict[str, Tensor]:
    """Loss terms and their sum. boxes: per image Tensor[N, 4] in input-pixel coordinates."""
    shapes = [tuple(m.shape[-2:]) for m in out["cls"]]
    positive, matched, ctr_t = assign_batch(boxes, shapes, cfg.strides, cfg.size_ranges, cfg.center_radius)
    cls = flatten_levels(out["cls"])[..., 0]  # [B, L]
    ctr = flatten_levels(out["ctr"])[..., 0]
    deltas = flatten_levels(out["box"])  # [B, L, 4]
    num_pos = max(float(positive.sum()), 1.0)
    loss_cls = sigmoid_focal_loss(cls, positive.float(), alpha=0.25, gamma=2.0, reduction="sum") / num_pos
    if positive.any():
        locs, strides, _ = all_locations(shapes, cfg.strides, cls.device)
        pred = decode(deltas, locs, strides)[positive]
        w = ctr_t[positive]
        giou = generalized_box_iou_loss(pred, matched[positive], reduction="none")
        loss_box = (giou * w).sum() / w.sum().clamp(min=1e-6)
        loss_ctr = F.binary_cross_entropy_with_logits(ctr[positive], ctr_t[positive])
    else:  # no targets: box and centerness terms are exactly zero (but keep the graph)
        loss_box = deltas.sum() * 0.0
        loss_ctr = ctr.sum() * 0.0
    loss_sky = sky_loss(out["sky"], sky) if (out["sky"] and sky is not None) else cls.new_zeros(())
    total = loss_cls + loss_box + loss_ctr + loss_sky
    return {"cls": loss_cls, "box": loss_box, "ctr": loss_ctr, "sky": loss_sky, "total": total}
