"""BAFE-Net: FCOS host (torchvision ResNet + FPN) with classification, regression and sky towers.

The head is shared across levels. Classification and segmentation towers hard-exchange channels
(model.exchange); class logits, centerness and sky logits are computed from the exchanged features.
Forward returns plain per-level tensors; assignment, losses and decoding live in their own modules.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.ops import FeaturePyramidNetwork

from core.errors import CheckpointError
from model.blocks import Backbone, conv_tower
from model.checkpoint import load_weights
from model.config import BafeConfig
from model.exchange import HardExchange
from model.skynet import SkyNet


class Scale(nn.Module):
    """Learnable per-level scalar (FCOS)."""

    def __init__(self, value: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(value)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


class BafeHead(nn.Module):
    """Shared head: per level, cls logit [B,1,h,w], box [B,4,h,w], centerness [B,1,h,w], sky [B,1,h,w]."""

    def __init__(self, cfg: BafeConfig) -> None:
        super().__init__()
        c = cfg.fpn_channels
        self.cfg = cfg
        self.cls_tower = conv_tower(c, cfg.tower_convs, cfg.gn_groups)
        self.reg_tower = conv_tower(c, cfg.tower_convs, cfg.gn_groups)
        self.cls_logits = nn.Conv2d(c, 1, 3, padding=1)
        self.centerness = nn.Conv2d(c, 1, 3, padding=1)
        self.bbox = nn.Conv2d(c, 4, 3, padding=1)
        self.scales = nn.ModuleList(Scale() for _ in cfg.stages)
        self.seg_tower = conv_tower(c, cfg.tower_convs, cfg.gn_groups) if cfg.seg_head else None
        self.sky_logits = nn.Conv2d(c, 1, 3, padding=1) if cfg.seg_head else None
        self.exchange = None
        if cfg.seg_head and cfg.exchange != "off":
            self.exchange = HardExchange(
                c, cfg.k_exchange, cfg.exchange, cfg.adapter, cfg.adapter_hidden, cfg.trainable_selection
            )
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) and m.groups == 1:
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        prior = 0.01  # focal-loss prior: start with few positives so the loss does not explode
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - prior) / prior))

    def forward(self, feats: list[Tensor]) -> dict[str, list[Tensor]]:
        out: dict[str, list[Tensor]] = {"cls": [], "box": [], "ctr": [], "sky": []}
        for level, f in enumerate(feats):
            fc = self.cls_tower(f)
            fr = self.reg_tower(f)
            if self.seg_tower is not None:
                fs = self.seg_tower(f)
                if self.exchange is not None:
                    fc, fs = self.exchange(fc, fs)
                out["sky"].append(self.sky_logits(fs))
            out["cls"].append(self.cls_logits(fc))
            out["ctr"].append(self.centerness(fc))
            out["box"].append(self.scales[level](self.bbox(fr)))
        return out


class BafeNet(nn.Module):
    """Image [B, 1, H, W] in [0, 1] (H and W multiples of 32) -> per-level head outputs."""

    def __init__(self, cfg: BafeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg.backbone, cfg.stages, cfg.detector_blocks)
        self.fpn = FeaturePyramidNetwork(self.backbone.out_channels, cfg.fpn_channels)
        self.head = BafeHead(cfg)
        # The whole-frame sky network (model.skynet): run by the sky pass only, never by forward().
        self.sky_net = SkyNet(cfg) if cfg.sky_net else None

    def forward(self, x: Tensor) -> dict[str, list[Tensor]]:
        feats = self.backbone((x - self.cfg.mean) / self.cfg.std)
        pyramid = self.fpn({str(i): f for i, f in enumerate(feats)})
        return self.head(list(pyramid.values()))


def pad_multiple(h: int, w: int, m: int = 32) -> tuple[int, int]:
    """Padded size: the next multiples of m."""
    return int(math.ceil(h / m) * m), int(math.ceil(w / m) * m)


def build_from_weights(path: Path) -> tuple[torch.nn.Module, BafeConfig, dict[str, str]]:
    """A BafeNet in eval mode with the weights of path."""
    tensors, cfg, meta = load_weights(path)
    try:
        net = BafeNet(cfg)
        net.load_state_dict(tensors)
    except (RuntimeError, ValueError) as exc:
        raise CheckpointError(f"weights {path} do not fit the network in their config: {exc}") from exc
    return net.eval(), cfg, meta
