"""Feature-map locations and FCOS-style target assignment adapted to tiny targets.

A location (x, y) of a level with stride s is the centre of its cell: (j*s + s/2, i*s + s/2) in
continuous pixel coordinates. A target goes to the level whose size range holds max(w, h). The
positives of a target are the locations of that level within its *sampling box*: the box centre
+- max(half box size, radius * stride) per axis. With radius >= 0.5 the cell containing the centre
is always inside, so a 3x3 target gets positives on the stride-4 level (plain FCOS, which needs the
location strictly inside the box, misses about half of them). Ambiguities go to the target whose
centre is nearest (normalised by its sampling box), which keeps dense clusters apart.
The centerness target is the FCOS formula measured on the sampling box.
"""

from __future__ import annotations

import torch
from torch import Tensor


def level_locations(h: int, w: int, stride: int, device: torch.device | None = None) -> Tensor:
    """Locations [h*w, 2] (x, y) of a feature map, row-major."""
    ys = torch.arange(h, dtype=torch.float32, device=device) * stride + stride / 2
    xs = torch.arange(w, dtype=torch.float32, device=device) * stride + stride / 2
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def all_locations(
    shapes: list[tuple[int, int]], strides: tuple[int, ...], device: torch.device | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Concatenated locations [L, 2], their strides [L] and level indices [L]."""
    locs, strs, lvls = [], [], []
    for level, ((h, w), s) in enumerate(zip(shapes, strides, strict=True)):
        loc = level_locations(h, w, s, device)
        locs.append(loc)
        strs.append(torch.full((loc.shape[0],), float(s), device=device))
        lvls.append(torch.full((loc.shape[0],), level, dtype=torch.long, device=device))
    return torch.cat(locs), torch.cat(strs), torch.cat(lvls)


def assign_image(
    boxes: Tensor,
    locations: Tensor,
    strides: Tensor,
    levels: Tensor,
    size_ranges: tuple[tuple[float, float], ...],
    radius: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """Targets of one image.

    Args:
        boxes (Tensor[N, 4]): ground truth (x1, y1, x2, y2), DenseSIRST convention.
        locations (Tensor[L, 2]), strides (Tensor[L]), levels (Tensor[L]): from all_locations.
    Returns:
        positive (Tensor[L] bool), matched boxes (Tensor[L, 4], zeros at negatives),
        centerness targets (Tensor[L], zeros at negatives).
    """
    n_loc = locations.shape[0]
    if boxes.numel() == 0:
        z = torch.zeros(n_loc, device=locations.device)
        return z.bool(), torch.zeros(n_loc, 4, device=locations.device), z
    wh = boxes[:, 2:] - boxes[:, :2]  # [N, 2]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    size = wh.max(dim=1).values  # [N]
    ranges = torch.tensor(size_ranges, dtype=torch.float32, device=boxes.device)[levels]  # [L, 2]
    in_level = (size[None, :] >= ranges[:, :1]) & (size[None, :] < ranges[:, 1:])  # [L, N]
    half = torch.maximum(wh[None, :, :] / 2, radius * strides[:, None, None])  # [L, N, 2]
    d = locations[:, None, :] - centre[None, :, :]  # [L, N, 2]
    inside = (d.abs() <= half).all(dim=2) & in_level
    dist = ((d / half) ** 2).sum(dim=2).masked_fill(~inside, float("inf"))
    best_dist, best = dist.min(dim=1)
    positive = torch.isfinite(best_dist)
    matched = boxes[best] * positive[:, None]
    h_best = half[torch.arange(n_loc, device=boxes.device), best]  # [L, 2]
    d_best = d[torch.arange(n_loc, device=boxes.device), best]
    lo, hi = h_best + d_best, h_best - d_best  # distances to the sampling box's left/top, right/bottom
    ratio = torch.minimum(lo, hi).clamp(min=0) / torch.maximum(lo, hi).clamp(min=1e-6)
    ctr = torch.sqrt(ratio[:, 0] * ratio[:, 1]) * positive
    return positive, matched, ctr


def assign_batch(
    boxes: list[Tensor],
    shapes: list[tuple[int, int]],
    strides: tuple[int, ...],
    size_ranges: tuple[tuple[float, float], ...],
    radius: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """Stacked assign_image over a batch: [B, L] bool, [B, L, 4], [B, L]."""
    device = boxes[0].device if boxes else None
    locs, strs, lvls = all_locations(shapes, strides, device)
    out = [assign_image(b, locs, strs, lvls, size_ranges, radius) for b in boxes]
    return tuple(torch.stack(t) for t in zip(*out, strict=True))  # type: ignore[return-value]


def flatten_levels(maps: list[Tensor]) -> Tensor:
    """[B, C, h, w] per level -> [B, sum(h*w), C]."""
    return torch.cat([m.flatten(2).transpose(1, 2) for m in maps], dim=1)
