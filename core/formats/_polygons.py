"""Masks <-> COCO segmentations (pixel-edge polygons, RLE), exact for hole-free masks.

Polygons run along pixel edges (integer vertices), so rasterising them back by "pixel centre
inside" gives exactly the original pixels. Touching-at-a-corner parts become separate polygons.
Holes cannot be expressed by COCO polygons (pycocotools unions the parts), so only outer rings
are written; the annotation's ``area`` still counts the true pixels.
"""

from __future__ import annotations

import numpy as np

from core.domain import TargetMask

# Side of a pixel -> directed edge (start, end) relative to the pixel's top-left corner (x, y).
# Directions go clockwise on screen (y down), so the pixel lies right of the direction of travel.
_SIDES = {
    "top": ((0, 0), (1, 0)),
    "right": ((1, 0), (1, 1)),
    "bottom": ((1, 1), (0, 1)),
    "left": ((0, 1), (0, 0)),
}


def _boundary_edges(mask: np.ndarray) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    padded = np.pad(mask, 1)
    inner = padded[1:-1, 1:-1]
    outside = {
        "top": ~padded[:-2, 1:-1],
        "bottom": ~padded[2:, 1:-1],
        "left": ~padded[1:-1, :-2],
        "right": ~padded[1:-1, 2:],
    }
    edges = []
    for side, free in outside.items():
        (sx, sy), (ex, ey) = _SIDES[side]
        rows, cols = np.nonzero(inner & free)
        edges += [
            ((c + sx, r + sy), (c + ex, r + ey))
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
        ]
    return edges


def _loops(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """Closed vertex loops along pixel edges (outer rings clockwise on screen, holes the other way)."""
    outgoing: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for start, end in _boundary_edges(mask):
        outgoing.setdefault(start, []).append(end)
    loops = []
    while outgoing:
        start = next(iter(outgoing))
        loop, prev, cur = [start], None, start
        while True:
            nxt = _pick(outgoing, prev, cur)
            if nxt == start:
                break
            loop.append(nxt)
            prev, cur = cur, nxt
        loops.append(_drop_collinear(loop))
    return loops


def _pick(outgoing: dict, prev: tuple[int, int] | None, cur: tuple[int, int]) -> tuple[int, int]:
    """Next vertex; at a pinch (two ways out) turn right, towards the pixels, which keeps parts
    that touch only at a corner in separate simple loops."""
    ends = outgoing[cur]
    if len(ends) == 1 or prev is None:
        end = ends.pop(0)
    else:
        dx, dy = cur[0] - prev[0], cur[1] - prev[1]
        right = (cur[0] - dy, cur[1] + dx)
        end = right if right in ends else ends[0]
        ends.remove(end)
    if not ends:
        del outgoing[cur]
    return end


def _drop_collinear(loop: list[tuple[int, int]]) -> list[tuple[int, int]]:
    n = len(loop)
    keep = []
    for i in range(n):
        (ax, ay), (bx, by), (cx, cy) = loop[i - 1], loop[i], loop[(i + 1) % n]
        if (bx - ax) * (cy - by) - (by - ay) * (cx - bx) != 0:
            keep.append(loop[i])
    return keep


def _signed_area(loop: list[tuple[int, int]]) -> float:
    pts = np.asarray(loop, float)
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def mask_to_polygons(mask: TargetMask) -> list[list[float]]:
    """COCO polygons ``[[x1, y1, x2, y2, ...], ...]`` (outer rings) in image coordinates."""
    out = []
    for loop in _loops(mask.pixels):
        if _signed_area(loop) > 0:  # outer ring (clockwise on screen); holes are negative
            flat = []
            for x, y in loop:
                flat += [float(x + mask.x0), float(y + mask.y0)]
            out.append(flat)
    return out


def polygons_to_mask(polygons: list[list[float]], height: int, width: int) -> TargetMask | None:
    """Pixels whose centre lies inside any polygon (even-odd per polygon), as a cropped mask.
    Scanline fill: cost grows with the number of (edge, pixel row) crossings plus the crop's
    area, so a 200k-vertex outline costs milliseconds, not one pass over the crop per edge."""
    if any(len(p) % 2 for p in polygons):
        raise ValueError("a polygon must hold x, y pairs (an even count of numbers)")
    rings = [np.asarray(p, float).reshape(-1, 2) for p in polygons if len(p) >= 6]
    if not rings:
        return None
    allpts = np.vstack(rings)
    if not np.isfinite(allpts).all():
        raise ValueError("polygon coordinates must be finite numbers")
    x0 = max(int(np.floor(max(allpts[:, 0].min(), -1.0))), 0)
    y0 = max(int(np.floor(max(allpts[:, 1].min(), -1.0))), 0)
    x1 = min(int(np.ceil(min(allpts[:, 0].max(), width + 1.0))), width)
    y1 = min(int(np.ceil(min(allpts[:, 1].max(), height + 1.0))), height)
    if x1 <= x0 or y1 <= y0:
        return None
    crop = np.zeros((y1 - y0, x1 - x0), bool)
    for ring in rings:
        crop |= _scanline_fill(ring, x0, y0, x1, y1)
    return TargetMask(x0, y0, crop) if crop.any() else None


def _scanline_fill(ring: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """Even-odd fill of one ring on the pixel centres of the crop [x0, x1) x [y0, y1).

    Pixel (i, j) is inside when the ray from its centre towards +x crosses the outline an odd
    number of times; an edge from ya to yb crosses the row j when ya > j + .5 differs from
    yb > j + .5 (the same half-open rule as the plain per-edge test, so results are identical).
    """
    xa, ya = ring[:, 0], ring[:, 1]
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    keep = ya != yb
    xa, ya, xb, yb = xa[keep], ya[keep], xb[keep], yb[keep]
    lo, hi = np.minimum(ya, yb), np.maximum(ya, yb)
    # rows whose centre c = j + 0.5 satisfies lo <= c < hi, clipped to the crop
    first = np.clip(np.ceil(lo - 0.5), y0, y1).astype(np.int64)
    stop = np.clip(np.ceil(hi - 0.5), y0, y1).astype(np.int64)
    counts = np.maximum(stop - first, 0)
    rows_out = y1 - y0
    cols_out = x1 - x0
    tally = np.zeros((rows_out, cols_out + 1), np.int32)
    if counts.sum():
        edge = np.repeat(np.arange(len(counts)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        row = first[edge] + offsets
        cy = row + 0.5
        x_at = xa[edge] + (cy - ya[edge]) * (xb[edge] - xa[edge]) / (yb[edge] - ya[edge])
        # the crossing toggles every pixel whose centre i + 0.5 < x_at, i.e. columns < k
        k = np.clip(np.ceil(x_at - 0.5), x0, x1).astype(np.int64) - x0
        np.add.at(tally, (row - y0, k), 1)
    # pixel i is inside when the crossings with k > i are odd: a right-to-left running sum
    right = np.cumsum(tally[:, ::-1], axis=1)[:, ::-1]
    return (right[:, 1:] % 2).astype(bool)


def rle_to_mask(rle: dict, height: int, width: int) -> np.ndarray:
    """Full-image bool mask of a COCO RLE (uncompressed ``counts`` list or compressed string)."""
    counts = rle.get("counts")
    size = rle.get("size") or [height, width]
    if isinstance(counts, str):
        counts = _counts_from_string(counts)
    if not isinstance(counts, list) or list(size) != [height, width]:
        raise ValueError(f"RLE of size {size} does not fit a {width}x{height} image")
    if sum(int(n) for n in counts) != height * width:
        raise ValueError(f"RLE counts do not add up to the {width}x{height} image")
    flat = np.zeros(height * width, bool)
    pos, value = 0, False
    for n in counts:
        n = int(n)
        if n < 0 or pos + n > flat.size:
            raise ValueError("RLE counts run past the end of the image")
        flat[pos : pos + n] = value
        pos, value = pos + n, not value
    return flat.reshape(width, height).T  # COCO RLE is column-major


def _counts_from_string(s: str) -> list[int]:
    """pycocotools' compressed counts: 5-bit groups, continuation bit 0x20, delta from counts[-2]."""
    counts: list[int] = []
    pos = 0
    while pos < len(s):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(s):
                raise ValueError("compressed RLE string ends inside a number")
            c = ord(s[pos]) - 48
            if not 0 <= c < 64:  # pycocotools writes characters '0' .. 'o' only
                raise ValueError("compressed RLE string holds characters outside '0'..'o'")
            value |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            pos += 1
            shift += 5
            if not more and (c & 0x10):
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts
