"""Pair DenseSIRST points with boxes: each point and each box used at most once.

The point file and the box XML list the same targets in different orders, so pairing is an
assignment problem: maximise the number of (point inside box) pairs first, then prefer the
points nearest the box centres. Points up to ``tolerance`` px outside a box may still pair with
it (a handful of upstream points sit on the box border), but only when nothing better exists.

The exact assignment (Hungarian, cubic) runs per cluster of targets that could pair; real
clusters hold a few dozen. A cluster larger than ``EXACT_LIMIT`` (a crafted file with 2,000
overlapping boxes) is paired greedily, cheapest pair first (O(E log E) for E candidate
pairs): the result may then pair a point with its second-nearest box, never with a box it is not in or near.
"""

from __future__ import annotations

import numpy as np

from core.domain import Box, Point

_FORBIDDEN = 1e9  # never pair
_OUTSIDE = 1e4  # pair only when no inside pairing achieves the same count
EXACT_LIMIT = 128  # points (or boxes) per cluster solved exactly


def pair_points_boxes(
    points: list[Point], boxes: list[Box], tolerance: float = 1.0
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Return (pairs [(point index, box index)], unpaired point indices, unpaired box indices)."""
    if not points or not boxes:
        return [], list(range(len(points))), list(range(len(boxes)))
    cost = _cost_matrix(np.asarray(points, float), np.asarray(boxes, float), tolerance)
    pairs: list[tuple[int, int]] = []
    # Solve each connected component of the "could pair" graph alone: they are tiny (a cluster
    # of targets), so the cubic assignment stays cheap even on images with hundreds of targets.
    for rows, cols in _components(cost < _FORBIDDEN):
        sub = cost[np.ix_(rows, cols)]
        solve = _assign if min(len(rows), len(cols)) <= EXACT_LIMIT else _greedy
        for r, c in solve(sub):
            if sub[r, c] < _FORBIDDEN:
                pairs.append((rows[r], cols[c]))
    paired_p = {p for p, _ in pairs}
    paired_b = {b for _, b in pairs}
    pairs.sort(key=lambda pb: pb[1])
    return (
        pairs,
        [i for i in range(len(points)) if i not in paired_p],
        [j for j in range(len(boxes)) if j not in paired_b],
    )


def _cost_matrix(pts: np.ndarray, boxes: np.ndarray, tol: float) -> np.ndarray:
    x, y = pts[:, 0:1], pts[:, 1:2]  # [P, 1]
    x0, y0, x1, y1 = (boxes[:, k][None, :] for k in range(4))  # [1, B]
    # A point (x, y) names pixel (floor x, floor y); pixel i lies in [xmin, xmax) when
    # xmin <= i < xmax.
    inside = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
    near = (x >= x0 - tol) & (x < x1 + tol) & (y >= y0 - tol) & (y < y1 + tol)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    dist = np.hypot(x + 0.5 - cx, y + 0.5 - cy)  # pixel centre to box centre
    cost = np.where(inside, dist, np.where(near, _OUTSIDE + dist, _FORBIDDEN))
    return cost


def _components(adj: np.ndarray) -> list[tuple[list[int], list[int]]]:
    """Connected components (row indices, column indices) of a bipartite adjacency matrix."""
    n_rows, n_cols = adj.shape
    seen_r = np.zeros(n_rows, bool)
    seen_c = np.zeros(n_cols, bool)
    out = []
    for start in range(n_rows):
        if seen_r[start] or not adj[start].any():
            continue
        rows, cols, stack = [], [], [start]
        seen_r[start] = True
        while stack:
            r = stack.pop()
            rows.append(r)
            for c in np.flatnonzero(adj[r] & ~seen_c):
                seen_c[c] = True
                cols.append(int(c))
                for r2 in np.flatnonzero(adj[:, c] & ~seen_r):
                    seen_r[r2] = True
                    stack.append(int(r2))
        out.append((sorted(rows), sorted(cols)))
    return out


def _greedy(cost: np.ndarray) -> list[tuple[int, int]]:
    """Cheapest allowed pair first, each row and column used once (large clusters only).
    The sorted pairs are walked in blocks and the walk stops once no row or column is left,
    which on crowded clusters is long before the end of the list."""
    rows, cols = np.nonzero(cost < _FORBIDDEN)
    order = np.argsort(cost[rows, cols], kind="stable")
    used_r = np.zeros(cost.shape[0], bool)
    used_c = np.zeros(cost.shape[1], bool)
    need = min(cost.shape)
    out: list[tuple[int, int]] = []
    for start in range(0, order.size, 1 << 14):
        block = order[start : start + (1 << 14)]
        for r, c in zip(rows[block].tolist(), cols[block].tolist(), strict=True):
            if not used_r[r] and not used_c[c]:
                used_r[r] = used_c[c] = True
                out.append((r, c))
        if len(out) == need:
            break
    return out


def _assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost assignment (Hungarian method with potentials) of a rectangular matrix."""
    transposed = cost.shape[0] > cost.shape[1]
    a = cost.T if transposed else cost
    n, m = a.shape  # n <= m
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    match = np.zeros(m + 1, dtype=int)  # match[j] = row (1-based) assigned to column j
    way = np.zeros(m + 1, dtype=int)
    for i in range(1, n + 1):
        match[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, bool)
        while True:
            used[j0] = True
            i0 = match[j0]
            free = ~used[1:]
            reduced = a[i0 - 1] - u[i0] - v[1:]
            better = free & (reduced < minv[1:])
            minv[1:][better] = reduced[better]
            way[1:][better] = j0
            cand = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(cand)) + 1
            delta = cand[j1 - 1]
            u[match[used]] += delta
            v[used] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if match[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            match[j0] = match[j1]
            j0 = j1
    pairs = [(int(match[j]) - 1, j - 1) for j in range(1, m + 1) if match[j]]
    return [(c, r) for r, c in pairs] if transposed else pairs
