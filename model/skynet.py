"""The whole-frame sky network: a dedicated sky segmenter run on the frame shrunk to a long side of
``cfg.sky_pass_long_side`` (docs/adr/0010).

The sky/ground boundary is a whole-frame decision. The detector's own sky head sees 256 px crops in
training and, on a 1280x1024 frame, breaks the sky into islands. This network sees whole shrunk
frames in training and at inference, and gives every location the frame's global context:

- its own ResNet stem..C4 and FPN (same shapes as the detector's, so they start from its weights);
- a global context vector (average pool of the stride-16 level, PSPNet's "image pooling") added to
  that level, then a top-down path stride 16 -> 8 -> 4 (FPN-like, each step zero-initialised so the
  network starts as the detector's level-0 sky head);
- a sky logit at stride 4 of its input;
- with ``cfg.sky_flip`` (inference only, so it is part of the ONNX graph too), the mean of the logit
  of the frame and the mirrored logit of the mirrored frame: a second look that costs one more sky
  pass and lifts the per-image median sky IoU on val_v2 (MODEL.md); the Predictor takes it only on
  frames whose sky is near the threshold (model/sky_look.py, ADR 0036).

It lives inside BafeNet as ``sky_net`` (one weights file), but detection never runs it, so training
it cannot move a single detection.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import FeaturePyramidNetwork

from model.blocks import Backbone, conv_tower
from model.config import BafeConfig

SKY_NET_PREFIX = "sky_net."
SKY_NET_STRIDE = 4  # input pixels per output logit cell


def _conv(c: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.GroupNorm(groups, c), nn.ReLU(inplace=True))


class SkyNet(nn.Module):
    """Image [B, 1, H, W] in [0, 1] (H, W multiples of 32) -> sky logit [B, 1, H/4, W/4]."""

    def __init__(self, cfg: BafeConfig) -> None:
        super().__init__()
        c, g = cfg.fpn_channels, cfg.gn_groups
        self.mean, self.std = cfg.mean, cfg.std
        self.flip = cfg.sky_flip
        self.backbone = Backbone(cfg.backbone, (2, 3, 4))
        self.fpn = FeaturePyramidNetwork(self.backbone.out_channels, c)
        self.context = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c, 1), nn.ReLU(inplace=True))
        self.coarse = nn.Sequential(_conv(c, g), _conv(c, g))
        self.mid = _conv(c, g)
        self.lift16 = nn.Conv2d(c, c, 1)  # zero-init: the coarse path starts silent
        self.lift8 = nn.Conv2d(c, c, 1)
        self.seg_tower = conv_tower(c, cfg.tower_convs, g)  # same names/shapes as the detector's head
        self.sky_logits = nn.Conv2d(c, 1, 3, padding=1)
        for m in (self.lift16, self.lift8):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.flip and not self.training:  # training sees plain frames (and flips as augmentation)
            n = x.shape[0]
            both = self.single(torch.cat([x, x.flip(-1)]))
            return 0.5 * (both[:n] + both[n:].flip(-1))
        return self.single(x)

    def single(self, x: Tensor) -> Tensor:
        f4, f8, f16 = self.backbone((x - self.mean) / self.std)
        p4, p8, p16 = self.fpn({"0": f4, "1": f8, "2": f16}).values()
        t = self.coarse(p16 + self.context(p16))
        t = self.mid(p8 + self.lift16(F.interpolate(t, size=p8.shape[-2:], mode="bilinear", align_corners=False)))
        t = p4 + self.lift8(F.interpolate(t, size=p4.shape[-2:], mode="bilinear", align_corners=False))
        return self.sky_logits(self.seg_tower(t))


def init_from_detector(sky_net: SkyNet, detector_state: dict[str, Tensor]) -> int:
    """Copy the detector's backbone, FPN, seg tower and sky logits into ``sky_net`` where names and
    shapes fit (the network then starts as the detector's level-0 sky head); the count copied."""
    own = sky_net.state_dict()
    rename = {"head.seg_tower.": "seg_tower.", "head.sky_logits.": "sky_logits."}
    fit = {}
    for name, tensor in detector_state.items():
        if name.startswith(SKY_NET_PREFIX):
            continue
        key = name
        for src, dst in rename.items():
            if name.startswith(src):
                key = dst + name[len(src):]
        if key in own and own[key].shape == tensor.shape:
            fit[key] = tensor
    sky_net.load_state_dict(fit, strict=False)
    return len(fit)
