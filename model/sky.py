"""Whole-frame sky: the sky head run on the downscaled full frame, fused with the full-resolution map.

The sky/ground boundary is a whole-frame decision, but the network is trained on 256 px crops and
its receptive field at stride 4 covers a few hundred pixels: on a 1280x1024 frame the full-resolution
sky map breaks into islands. Running the same network on the frame shrunk to a long side of
``cfg.sky_pass_long_side`` pixels lets every location see most of the frame; the result is
upsampled back. ``cfg.sky_pass_weight`` blends its logit with the full-resolution logit
(1.0: whole-frame pass only). A long side of 0 (the default) keeps the full-resolution map alone.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from model.config import BafeConfig
from model.frames import downscale, pad_image


def sky_logit_map(out: dict[str, list[Tensor]], image_size: tuple[int, int], padded: tuple[int, int]) -> Tensor:
    """Finest-level sky logit [h, w] upsampled to the padded input and cropped to image_size."""
    up = F.interpolate(out["sky"][0][:1], size=padded, mode="bilinear", align_corners=False)
    return up[0, 0, : image_size[0], : image_size[1]]


@torch.inference_mode()
def whole_frame_sky_logit(net: torch.nn.Module, image: np.ndarray, long_side: int) -> Tensor | None:
    """Sky logit [H, W] at the image's size from one pass on the frame shrunk to long_side."""
    small = downscale(image, long_side)
    x, padded = pad_image(small)
    out = net(x)
    if not out["sky"]:
        return None
    logit = sky_logit_map(out, small.shape, padded)
    if small.shape == image.shape:
        return logit
    return F.interpolate(logit[None, None], size=image.shape, mode="bilinear", align_corners=False)[0, 0]


@torch.inference_mode()
def sky_net_logit(sky_net: torch.nn.Module, image: np.ndarray, long_side: int) -> np.ndarray:
    """float32 [H, W] sky logit of the whole-frame sky network (model.skynet) on the frame shrunk
    to long_side (or as it is, when no larger), upsampled as the Predictor does it."""

    from model.postprocess import upsample_logit
    from model.skynet import SKY_NET_STRIDE

    small = downscale(image, long_side)
    x, _ = pad_image(small)
    logit = upsample_logit(sky_net(x)[0, 0].numpy(), SKY_NET_STRIDE, small.shape)
    if small.shape != image.shape:
        logit = cv2.resize(logit, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    return logit


def fuse_sky(full_logit: Tensor | None, whole_logit: Tensor | None, weight: float) -> Tensor | None:
    """Blend of the two logits: weight on the whole-frame pass, 1 - weight on the full-res map."""
    if whole_logit is None:
        return full_logit
    if full_logit is None or weight >= 1.0:
        return whole_logit
    return weight * whole_logit + (1.0 - weight) * full_logit


def sky_pass_enabled(cfg: BafeConfig) -> bool:
    return bool((cfg.sky_net or cfg.seg_head) and cfg.sky_pass_long_side > 0)


def sky_prob_for_image(
    net: torch.nn.Module, cfg: BafeConfig, image: np.ndarray, out: dict[str, list[Tensor]], padded: tuple[int, int]
) -> np.ndarray:
    """float32 [H, W] sky probability of one image from its full-resolution head outputs ``out``,
    fused with the whole-frame pass when the config enables it (zeros without a sky head)."""
    h, w = image.shape
    sky_net = getattr(net, "sky_net", None)
    if sky_net is not None:
        logit = sky_net_logit(sky_net, image, cfg.sky_pass_long_side)
        return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    if not out["sky"]:
        return np.zeros((h, w), np.float32)
    full = sky_logit_map(out, (h, w), padded)
    if sky_pass_enabled(cfg):
        full = fuse_sky(full, whole_frame_sky_logit(net, image, cfg.sky_pass_long_side), cfg.sky_pass_weight)
    return torch.sigmoid(full).numpy().astype(np.float32)


def clean_proposal(mask: np.ndarray, smooth: float, min_area: float) -> np.ndarray:
    """The sky clean-up of a thresholded mask (core.geometry.clean_sky_mask) with the smoothing
    scaled to the image (``smooth`` sigma per 1000 px of long side) and the smallest kept island /
    hole as a fraction ``min_area`` of its area; the mask itself when both are 0."""
    from core.geometry import clean_sky_mask

    if smooth <= 0 and min_area <= 0:
        return mask
    h, w = mask.shape
    return clean_sky_mask(mask, smooth * max(h, w) / 1000.0, int(round(min_area * h * w)))


def sky_proposal(prob: np.ndarray, threshold: float, cfg: BafeConfig) -> np.ndarray:
    """Bool [H, W] sky mask: prob >= threshold, then the config's clean-up (clean_proposal), as
    model.inference.Prediction.sky_mask() gives it."""
    return clean_proposal(prob >= threshold, cfg.sky_smooth, cfg.sky_min_area)
