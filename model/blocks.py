"""Blocks the networks are built from: the 1-channel ResNet backbone and conv towers.

Shared by the detector (model/net.py) and the whole-frame sky network (model/skynet.py), so
neither network module imports the other.
"""

from __future__ import annotations

import torchvision
from torch import Tensor, nn

_STAGE_CHANNELS = {
    "resnet18": {2: 64, 3: 128, 4: 256, 5: 512},
    "resnet34": {2: 64, 3: 128, 4: 256, 5: 512},
    "resnet50": {2: 256, 3: 512, 4: 1024, 5: 2048},
}


class Backbone(nn.Module):
    """ResNet (weights=None, 1-channel stem) truncated after the deepest stage the FPN needs;
    ``blocks``: the residual blocks kept in each of those layers (the first ones; empty: all)."""

    def __init__(self, name: str, stages: tuple[int, ...], blocks: tuple[int, ...] = ()) -> None:
        super().__init__()
        net = getattr(torchvision.models, name)(weights=None)
        net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.stages = stages
        layers = [net.layer1, net.layer2, net.layer3, net.layer4][: max(stages) - 1]
        for i, keep in enumerate(blocks):
            if keep > len(layers[i]):
                raise ValueError(f"{name} layer{i + 1} has {len(layers[i])} blocks, not {keep}")
            layers[i] = layers[i][:keep]
        self.layers = nn.ModuleList(layers)
        self.out_channels = [_STAGE_CHANNELS[name][s] for s in stages]

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 2 in self.stages:
                outs.append(x)
        return outs


def conv_tower(channels: int, n: int, groups: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for _ in range(n):
        mods += [nn.Conv2d(channels, channels, 3, padding=1), nn.GroupNorm(groups, channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*mods)
