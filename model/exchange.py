"""Dynamic channel selection (paper Eq. 4-5) and hard channel exchange (Eq. 6-9).

The classification and segmentation towers each pick K = p * C channels; each branch then
receives the other branch's selected channels (through a per-pixel MLP adapter K -> hidden -> K)
in its own selected positions. Top-k indices carry no gradient, as in the reference code.

The ONNX export writes the channel reductions and the scatter with other, cheaper operators
(``channel_tree``, ``scatter_by_onehot``; docs/adr/0039): the same values for about 7 % less int8 detector time.
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
        if torch.onnx.is_in_onnx_export():  # ONNX Runtime's ReduceMean / Max over axis 1 are slow (ADR 0039)
            desc = torch.cat([channel_tree(x, torch.add) / x.shape[1], channel_tree(x, torch.maximum)], dim=1)
        else:
            desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        attn = torch.sigmoid(self.spatial(desc))  # [B, 1, H, W]
        return torch.sigmoid(x * (self.local(x) * attn)).mean(dim=(2, 3))


def channel_tree(x: Tensor, op) -> Tensor:
    """``op`` (torch.add, torch.maximum) folded over the channels of x [B, C, H, W] -> [B, 1, H, W],
    pairwise: halves of the channels combined elementwise until one is left. The max is exact; the
    sum differs from a sequential one only in rounding order."""
    while x.shape[1] > 1:
        c = x.shape[1]
        if c % 2:
            x = torch.cat([op(x[:, :1], x[:, c - 1:]), x[:, 1:c - 1]], dim=1)
            c -= 1
        x = op(x[:, : c // 2], x[:, c // 2:])
    return x


def make_adapter(k: int, hidden: int) -> nn.Module:
    """Per-pixel MLP K -> hidden -> K (1x1 convs)."""
    return nn.Sequential(nn.Conv2d(k, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, k, 1))


def gather_channels(x: Tensor, idx: Tensor) -> Tensor:
    """x [B, C, H, W], idx [B, K] -> x[b, idx[b]] as [B, K, H, W]."""
    b, _, h, w = x.shape
    return torch.gather(x, 1, idx[:, :, None, None].expand(b, idx.shape[1], h, w))


def scatter_channels(x: Tensor, idx: Tensor, values: Tensor) -> Tensor:
    """Copy of x with channels idx[b] replaced by values [B, K, H, W]."""
    if torch.onnx.is_in_onnx_export():  # ONNX Runtime's ScatterElements is a slow element loop (ADR 0039)
        return scatter_by_onehot(x, idx, values)
    b, k, h, w = values.shape
    return torch.scatter(x, 1, idx[:, :, None, None].expand(b, k, h, w), values)


def scatter_by_onehot(x: Tensor, idx: Tensor, values: Tensor) -> Tensor:
    """scatter_channels as a one-hot blend (a MatMul and two elementwise ops in ONNX): every output
    channel is x's or exactly one value channel, the other terms adding exact zeros, so for finite
    inputs the result equals torch.scatter's bit for bit."""
    b, k, h, w = values.shape
    onehot = (idx[:, :, None] == torch.arange(x.shape[1], device=x.device)).to(x.dtype)  # [B, K, C]
    keep = 1.0 - onehot.sum(dim=1)  # [B, C]: 0 where a value lands
    placed = torch.matmul(onehot.transpose(1, 2), values.reshape(b, k, h * w))  # [B, C, H*W]
    return x * keep[:, :, None, None] + placed.reshape(b, x.shape[1], h, w)


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
