"""Detections from head outputs: score = sqrt(sigmoid(cls) * sigmoid(centerness)), threshold,
top-k, decode, clip, NMS (IoU 0.5), cap per image; and the sky probability map."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import nms

from model.assign import all_locations, flatten_levels
from model.boxes import decode


def detect(
    out: dict[str, list[Tensor]],
    strides: tuple[int, ...],
    image_size: tuple[int, int],
    score_thr: float = 0.05,
    nms_iou: float = 0.5,
    max_per_image: int = 100,
    pre_nms_top_k: int = 1000,
    index: int = 0,
) -> tuple[Tensor, Tensor]:
    """Boxes [N, 4] (x1, y1, x2, y2) clipped to image_size (h, w) and scores [N], best first."""
    shapes = [tuple(m.shape[-2:]) for m in out["cls"]]
    locs, strs, _ = all_locations(shapes, strides, out["cls"][0].device)
    cls = flatten_levels([m[index : index + 1] for m in out["cls"]])[0, :, 0]
    ctr = flatten_levels([m[index : index + 1] for m in out["ctr"]])[0, :, 0]
    scores = torch.sqrt(torch.sigmoid(cls) * torch.sigmoid(ctr))
    keep = torch.nonzero(scores >= score_thr).flatten()
    if keep.numel() > pre_nms_top_k:
        keep = keep[scores[keep].topk(pre_nms_top_k).indices]
    deltas = flatten_levels([m[index : index + 1] for m in out["box"]])[0]
    boxes = decode(deltas[keep], locs[keep], strs[keep])
    return filter_boxes(boxes, scores[keep], image_size, nms_iou, max_per_image)


def filter_boxes(
    boxes: Tensor, scores: Tensor, image_size: tuple[int, int], nms_iou: float, max_per_image: int
) -> tuple[Tensor, Tensor]:
    """Clip to the image, drop empty boxes, NMS, keep the best max_per_image."""
    h, w = image_size
    boxes = torch.stack(
        [boxes[:, 0].clamp(0, w), boxes[:, 1].clamp(0, h), boxes[:, 2].clamp(0, w), boxes[:, 3].clamp(0, h)],
        dim=1,
    )
    ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores = boxes[ok], scores[ok]
    keep = nms(boxes, scores, nms_iou)[:max_per_image]
    return boxes[keep], scores[keep]


def sky_probability(
    out: dict[str, list[Tensor]], padded_size: tuple[int, int], image_size: tuple[int, int], index: int = 0
) -> Tensor | None:
    """Sky probability [H, W] in [0, 1]: the finest level's logit upsampled to the padded input, cropped."""
    if not out["sky"]:
        return None
    logits = out["sky"][0][index : index + 1]
    up = F.interpolate(logits, size=padded_size, mode="bilinear", align_corners=False)
    h, w = image_size
    return torch.sigmoid(up[0, 0, :h, :w])


def upsample_logit(logit: np.ndarray, stride: int, image_size: tuple[int, int]) -> np.ndarray:
    """float32 [h, w] map of the padded input at ``stride`` -> [H, W] of the image: bilinear,
    half-pixel centres (what F.interpolate(align_corners=False) does), by OpenCV, which is several
    times faster than torch here and needs no full-size intermediate beyond the output."""
    import cv2

    h, w = image_size
    src = np.ascontiguousarray(logit, np.float32)
    up = cv2.resize(src, (src.shape[1] * stride, src.shape[0] * stride), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(up[:h, :w])
