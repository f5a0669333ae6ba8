"""Dynamic channel selection (paper Eq. 4-5) and hard channel exchange (Eq. 6-9).

The classification and segmentation towers each pick K = p * C channels; each branch then
receives the other branch's selected channels (through a per-pixel MLP adapter K -> hidden -> K)
in its own selected positions. Top-k indices carry no gradient, as in the reference code.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ChannelSelector(nn.Module):
    """LSK-style channel score m = mean_HW sigmoid(X * (F(X) * sigmoid(S([mean_c X, max_c X]))))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.local = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)  # F
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)  # S

    def forward(self, x: Tensor) -> Tensor:
        """x [B, C, H, W] -> per-channel score [B, C]."""
        desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        attn = torch.sigmoid(self.spatial(desc))  # [B, 1, H, W]
        return torch.sigmoid(x * (self.local(x) * attn)).mean(dim=(2, 3))


def make_adapter(k: int, hidden: int) -> nn.Module:
    """Per-pixel MLP K -> hidden -> K (1x1 convs)."""
    return nn.Sequential(nn.Conv2d(k, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, k, 1))


def gather_channels(x: Tensor, idx: Tensor) -> Tensor:
    """x [B, C, H, W], idx [B, K] -> x[b, idx[b]] as [B, K, H, W]."""
    b, _, h, w = x.shape
    return torch.gather(x, 1, idx[:, :, None, None].expand(b, idx.shape[1], h, w))


def scatter_channels(x: Tensor, idx: Tensor, values: Tensor) -> Tensor:
    """Copy of x with channels idx[b] replaced by values [B, K, H, W]."""
    b, k, h, w = values.shape
    return torch.scatter(x, 1, idx[:, :, None, None].expand(b, k, h, w), values)


class HardExchange(nn.Module):
    """Swap K selected channels between the detection feature x1 and the segmentation feature x2."""

    def __init__(
        self, channels: int, k: int, mode: str, adapter: bool, hidden: int, trainable: bool = True
    ) -> None:
        super().__init__()
        self.trainable = trainable
        if mode not in ("fixed", "random", "dynamic"):
            raise ValueError(f"exchange mode {mode!r} must be fixed, random or dynamic")
        self.channels, self.k, self.mode = channels, k, mode
        if mode == "dynamic":
            self.sel1, self.sel2 = ChannelSelector(channels), ChannelSelector(channels)
        self.ad12 = make_adapter(k, hidden) if adapter else nn.Identity()  # x1's channels -> branch 2
        self.ad21 = make_adapter(k, hidden) if adapter else nn.Identity()  # x2's channels -> branch 1

    def _random_idx(self, b: int, dev: torch.device) -> Tensor:
        return torch.stack([torch.randperm(self.channels, device=dev)[: self.k] for _ in range(b)])

    def select(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Indices [B, K] each branch gives away (and receives into), plus dynamic scores [B, C]."""
        b, dev = x1.shape[0], x1.device
        if self.mode == "fixed":
            idx = torch.arange(self.k, device=dev).expand(b, self.k)
            return idx, idx, None, None
        if self.mode == "random":
            return self._random_idx(b, dev), self._random_idx(b, dev), None, None
        s1, s2 = self.sel1(x1), self.sel2(x2)
        i1 = s1.detach().topk(self.k, dim=1).indices
        i2 = s2.detach().topk(self.k, dim=1).indices
        return i1, i2, s1, s2

    @staticmethod
    def _gate(x: Tensor, idx: Tensor, score: Tensor | None) -> Tensor:
        """Selected channels; with a score, times a straight-through gate (value 1, gradient to the score)."""
        out = gather_channels(x, idx)
        if score is None:
            return out
        s = torch.gather(score, 1, idx)
        return out * (1.0 + (s - s.detach()))[:, :, None, None]

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        i1, i2, s1, s2 = self.select(x1, x2)
        if not self.trainable:
            s1 = s2 = None  # reference behaviour: the scores never reach the loss
        give1, give2 = self._gate(x1, i1, s1), self._gate(x2, i2, s2)
        y1 = scatter_channels(x1, i1, self.ad21(give2))
        y2 = scatter_channels(x2, i2, self.ad12(give1))
        return y1, y2
