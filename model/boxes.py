"""Box coding: each location predicts (dx, dy, log w, log h) in units of its stride.

Centre-size coding (rather than FCOS's l, t, r, b distances) because positives of tiny targets may
sit just outside the box, where l/t/r/b would be negative; any prediction decodes to a valid box.
"""

from __future__ import annotations

import torch
from torch import Tensor

_MAX_LOG = 6.0  # exp(6) * stride covers boxes far beyond any target size


def decode(deltas: Tensor, locations: Tensor, strides: Tensor) -> Tensor:
    """deltas [..., L, 4], locations [L, 2], strides [L] -> boxes [..., L, 4] (x1, y1, x2, y2)."""
    s = strides[:, None]
    centre = locations + deltas[..., :2] * s
    wh = torch.exp(deltas[..., 2:].clamp(max=_MAX_LOG)) * s
    return torch.cat([centre - wh / 2, centre + wh / 2], dim=-1)


def encode(boxes: Tensor, locations: Tensor, strides: Tensor) -> Tensor:
    """Inverse of decode: boxes [..., L, 4] -> deltas [..., L, 4]."""
    s = strides[:, None]
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2
    wh = (boxes[..., 2:] - boxes[..., :2]).clamp(min=1e-3)
    return torch.cat([(centre - locations) / s, torch.log(wh / s)], dim=-1)
