"""What is under the cursor on the IR canvas: Qt-free hit-testing on numpy arrays.

The canvas tools (widgets/canvas_tools*.py) ask these functions which target, box handle, sky
vertex, sky edge or sky ring a press lands on. They take image coordinates and a tolerance in
image pixels (``pick_tolerance``: a fixed number of screen pixels at the current zoom), and
plain arrays, so they are tested against hand-derived values without a window (as labelme keeps
its shape hit-tests apart from the view). No Qt import here: tests/unit/test_canvas_hit.py checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

MIN_ZOOM, MAX_ZOOM = 0.02, 96.0  # screen pixels per image pixel
PICK_PX = 6.0  # hit-test tolerance in screen pixels, whatever the zoom
HANDLE_SHARE = 0.8  # box edges / corners are picked within this share of the tolerance


def pick_tolerance(zoom: float, pick_px: float = PICK_PX) -> float:
    """The tolerance in image pixels of ``pick_px`` screen pixels at ``zoom`` (screen px per
    image px): 6 px on screen is 1 image pixel at 6x, 12 image pixels at 0.5x."""
    return float(pick_px) / float(zoom)


@dataclass(frozen=True, eq=False)
class TargetArrays:
    """The targets of an image as the canvas draws them: one row per target.

    ``boxes`` [N, 4] (x0, y0, x1, y1), NaN rows for point-only targets; ``centres`` [N, 2] the
    pixel centre of each point (NaN: no point); ``visible`` / ``selected`` [N] bool."""

    ids: np.ndarray
    boxes: np.ndarray
    centres: np.ndarray
    visible: np.ndarray
    selected: np.ndarray


def _box_centres(t: TargetArrays) -> tuple[np.ndarray, np.ndarray]:
    b = t.boxes
    cx = np.where(np.isfinite(b[:, 0]), (b[:, 0] + b[:, 2]) / 2, t.centres[:, 0])
    cy = np.where(np.isfinite(b[:, 1]), (b[:, 1] + b[:, 3]) / 2, t.centres[:, 1])
    return cx, cy


def target_at(t: TargetArrays, x: float, y: float, tol: float) -> int | None:
    """Id of the visible target under (x, y): inside its box grown by ``tol`` or within
    1.5 ``tol`` of its point. Among several, the smallest box wins (then the nearest centre),
    so a 3-px target inside a big one stays clickable."""
    if not len(t.ids):
        return None
    b = t.boxes
    with np.errstate(invalid="ignore"):
        in_box = (x >= b[:, 0] - tol) & (x <= b[:, 2] + tol) & (y >= b[:, 1] - tol) & (y <= b[:, 3] + tol)
        near = np.hypot(t.centres[:, 0] - x, t.centres[:, 1] - y) <= 1.5 * tol
    hit = (in_box | near) & t.visible
    if not hit.any():
        return None
    area = np.nan_to_num((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), nan=0.0)
    cx, cy = _box_centres(t)
    dist = np.hypot(cx - x, cy - y)
    order = np.lexsort((dist[hit], area[hit]))
    return int(t.ids[hit][order[0]])


def handle_at(
    t: TargetArrays, x: float, y: float, tol: float
) -> tuple[int, tuple[bool, bool, bool, bool]] | None:
    """(id, (left, top, right, bottom)) when (x, y) is within ``tol`` of an edge or corner of a
    selected box. Boxes smaller than 4 tolerances are moved, not resized: at that size the edges
    would swallow the whole body."""
    for k in np.flatnonzero(t.selected):
        x0, y0, x1, y1 = t.boxes[k]
        if not np.isfinite(x0) or (x1 - x0) < 4 * tol or (y1 - y0) < 4 * tol:
            continue
        if not (x0 - tol <= x <= x1 + tol and y0 - tol <= y <= y1 + tol):
            continue
        edges = (abs(x - x0) <= tol, abs(y - y0) <= tol, abs(x - x1) <= tol, abs(y - y1) <= tol)
        if any(edges):
            return int(t.ids[k]), tuple(bool(e) for e in edges)
    return None


def ids_in_rect(t: TargetArrays, x0: float, y0: float, x1: float, y1: float) -> list[int]:
    """Visible targets whose box centre (or point) lies in the rectangle (any corner order)."""
    cx, cy = _box_centres(t)
    with np.errstate(invalid="ignore"):
        inside = (
            (cx >= min(x0, x1)) & (cx <= max(x0, x1)) & (cy >= min(y0, y1)) & (cy <= max(y0, y1))
        )
    return [int(i) for i in t.ids[inside & t.visible]]


def _shoelace(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


@dataclass(frozen=True, eq=False)
class RingIndex:
    """Sky rings flattened for hit-testing: every vertex with its ring and position in it, the
    end of the segment that starts there, and each ring's bounding box and area."""

    rings: list[np.ndarray] = field(default_factory=list)
    vertices: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    ring_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    vertex_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    seg_end: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    bboxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    areas: np.ndarray = field(default_factory=lambda: np.zeros(0))


def ring_index(rings: list[np.ndarray]) -> RingIndex:
    """The ``RingIndex`` of closed rings given as [N, 2] (x, y) vertex arrays."""
    rings = [np.asarray(r, dtype=np.float64).reshape(-1, 2) for r in rings]
    counts = [len(r) for r in rings]
    return RingIndex(
        rings=rings,
        vertices=np.vstack(rings) if rings else np.zeros((0, 2)),
        ring_of=np.repeat(np.arange(len(rings)), counts),
        vertex_of=np.concatenate([np.arange(c) for c in counts]) if counts else np.zeros(0, np.intp),
        seg_end=np.vstack([np.roll(r, -1, axis=0) for r in rings]) if rings else np.zeros((0, 2)),
        bboxes=np.array([[*r.min(axis=0), *r.max(axis=0)] for r in rings]).reshape(-1, 4),
        areas=np.array([abs(_shoelace(r)) for r in rings]),
    )


def vertex_at(index: RingIndex, x: float, y: float, tol: float) -> tuple[int, int] | None:
    """(ring, vertex) of the nearest vertex within ``tol`` of (x, y)."""
    if not len(index.vertices):
        return None
    d = np.hypot(index.vertices[:, 0] - x, index.vertices[:, 1] - y)
    k = int(np.argmin(d))
    return (int(index.ring_of[k]), int(index.vertex_of[k])) if d[k] <= tol else None


def edge_at(
    index: RingIndex, x: float, y: float, tol: float
) -> tuple[int, int, tuple[float, float]] | None:
    """(ring, index of the segment's first vertex, closest point) of the nearest edge within
    ``tol`` of (x, y)."""
    if not len(index.vertices):
        return None
    a, b = index.vertices, index.seg_end
    ab = b - a
    denom = np.maximum((ab**2).sum(axis=1), 1e-12)
    t = np.clip(((x - a[:, 0]) * ab[:, 0] + (y - a[:, 1]) * ab[:, 1]) / denom, 0.0, 1.0)
    proj = a + t[:, None] * ab
    d = np.hypot(proj[:, 0] - x, proj[:, 1] - y)
    k = int(np.argmin(d))
    if d[k] > tol:
        return None
    return int(index.ring_of[k]), int(index.vertex_of[k]), (float(proj[k, 0]), float(proj[k, 1]))


def ring_at(index: RingIndex, x: float, y: float) -> int | None:
    """The smallest ring containing (x, y), its outline included (a hole inside a sky region
    wins over the region)."""
    if not len(index.rings):
        return None
    bb = index.bboxes
    cand = np.flatnonzero((x >= bb[:, 0]) & (x <= bb[:, 2]) & (y >= bb[:, 1]) & (y <= bb[:, 3]))
    inside = [
        int(k)
        for k in cand
        if cv2.pointPolygonTest(index.rings[k].astype(np.float32), (float(x), float(y)), False) >= 0
    ]
    return min(inside, key=lambda k: index.areas[k]) if inside else None
