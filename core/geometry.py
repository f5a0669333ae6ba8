"""Mask <-> polygon geometry for sky editing, and one-click target fitting (numpy / OpenCV / shapely).

Coordinates are continuous image coordinates: pixel (col i, row j) covers [i, i+1) x [j, j+1), so the
centre of pixel (i, j) is (i + 0.5, j + 0.5). Ring vertices produced here sit on pixel centres.

Rasterisation rule (shared by every function): a ring covers the pixels whose centres lie inside it
plus the pixels its outline passes through (OpenCV ``fillPoly`` on centre coordinates). A *hole*
ring, as traced by ``cv2.findContours``, runs through the foreground pixels that surround the hole,
so the region it removes is its raster minus its outline.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.domain import SkyOp, Target, TargetMask
from core.errors import SirstError

# Fixed-point bits for cv2.fillPoly: sub-pixel vertices keep 1/256 px precision.
_SHIFT = 8
_SCALE = 1 << _SHIFT
MODES = tuple(SkyOp)  # "add", "subtract"


class GeometryError(SirstError, ValueError):
    """A polygon, mask or click position cannot be used (too few vertices, wrong shape...)."""


@dataclass
class Ring:
    """One closed polygon: ``points`` float64 [N, 2] image coords (x, y); ``is_hole`` marks a hole."""

    points: np.ndarray
    is_hole: bool = False

    def __post_init__(self) -> None:
        self.points = _as_points(self.points)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        # Lets code written against plain [N, 2] arrays (np.asarray(ring)) use a Ring unchanged.
        return self.points if dtype is None else self.points.astype(dtype)

    def __len__(self) -> int:
        return len(self.points)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ring):
            return NotImplemented
        return self.is_hole == other.is_hole and np.array_equal(self.points, other.points)


def _as_points(points: object) -> np.ndarray:
    """Validate and convert ring vertices to float64 [N, 2]."""
    if isinstance(points, Ring):
        return points.points
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise GeometryError(
            f"a ring must be an [N, 2] array of (x, y) vertices, got shape {arr.shape}; "
            "pass one polygon's vertices in image coordinates"
        )
    if not np.all(np.isfinite(arr)):
        raise GeometryError("ring vertices contain NaN or infinity; pass finite image coordinates")
    return arr


def _check_mask(mask: np.ndarray) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise GeometryError(f"a mask must be a 2-D [H, W] array, got shape {arr.shape}")
    return arr.astype(bool, copy=False)


def mask_to_rings(mask: np.ndarray) -> list[Ring]:
    """Outer boundaries and holes of every connected component (8-connected foreground).

    Vertices are the centres (i + 0.5, j + 0.5) of the boundary pixels, compressed with
    CHAIN_APPROX_SIMPLE so straight runs keep only their end points.
    """
    m = _check_mask(mask)
    if not m.any():
        return []
    contours, hierarchy = cv2.findContours(
        m.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE
    )
    rings = []
    for contour, info in zip(contours, hierarchy[0], strict=True):
        pts = contour.reshape(-1, 2).astype(np.float64) + 0.5
        rings.append(Ring(pts, is_hole=bool(info[3] >= 0)))
    return rings


def _fill(points: np.ndarray, h: int, w: int, outline_only: bool = False) -> np.ndarray:
    """Raster of a polygon on pixel centres (fillPoly / polylines with sub-pixel vertices)."""
    out = np.zeros((h, w), dtype=np.uint8)
    if len(points) == 0 or h <= 0 or w <= 0:
        return out.astype(bool)
    fixed = _fixed_point(points)
    if outline_only:
        cv2.polylines(out, [fixed], True, 1, lineType=cv2.LINE_8, shift=_SHIFT)
    else:
        cv2.fillPoly(out, [fixed], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return out.astype(bool)


def _fixed_point(points: np.ndarray) -> np.ndarray:
    """Image points as OpenCV's drawing functions take them with ``shift=_SHIFT``: int32 [N, 1, 2]
    on pixel centres (pixel i's centre is i), clamped so that huge coordinates cannot overflow."""
    fixed = np.round((np.asarray(points, np.float64) - 0.5) * _SCALE).astype(np.int64)
    lim = (1 << 30) // _SCALE * _SCALE
    return np.clip(fixed, -lim, lim).astype(np.int32).reshape(-1, 1, 2)


def rasterize_ring(points: np.ndarray | Ring, h: int, w: int) -> np.ndarray:
    """Bool [h, w]: the pixels whose centres lie inside the ring, plus the boundary pixels."""
    return _fill(_as_points(points), int(h), int(w))


def ring_region(ring: Ring | np.ndarray, h: int, w: int) -> np.ndarray:
    """The pixels a ring stands for: its raster for an outer ring, raster minus outline for a hole."""
    pts = _as_points(ring)
    region = _fill(pts, h, w)
    if isinstance(ring, Ring) and ring.is_hole:
        region &= ~_fill(pts, h, w, outline_only=True)
    return region


def rings_to_mask(rings: list[Ring], h: int, w: int) -> np.ndarray:
    """Rebuild a mask from ``mask_to_rings`` output (XOR of ring regions = nesting parity)."""
    out = np.zeros((h, w), dtype=bool)
    for ring in rings:
        out ^= ring_region(ring, h, w)
    return out


def apply_ring_edit(
    mask: np.ndarray, old_ring: Ring | np.ndarray, new_ring: Ring | np.ndarray
) -> np.ndarray:
    """``mask XOR region(old) XOR region(new)``: toggles only where the two rings differ.

    Plain arrays are treated as outer rings; pass ``Ring`` objects to edit holes exactly.
    """
    m = _check_mask(mask)
    h, w = m.shape
    return m ^ ring_region(old_ring, h, w) ^ ring_region(new_ring, h, w)


def apply_ring_delete(mask: np.ndarray, ring: Ring | np.ndarray) -> np.ndarray:
    """Remove an outer ring's component (with anything nested inside) or fill a hole ring."""
    m = _check_mask(mask)
    h, w = m.shape
    region = ring_region(ring, h, w)
    if isinstance(ring, Ring) and ring.is_hole:
        return m | region
    return m & ~region


def _valid_polygons(points: np.ndarray) -> list:
    """Shapely polygons of a user-drawn ring, repaired when it crosses itself."""
    from shapely import make_valid
    from shapely.geometry import Polygon

    poly = Polygon(points)
    if not poly.is_valid:
        poly = make_valid(poly)
    parts = getattr(poly, "geoms", [poly])
    found = []
    for part in parts:
        if part.geom_type == "Polygon" and not part.is_empty:
            found.append(part)
        elif part.geom_type == "MultiPolygon":
            found.extend(p for p in part.geoms if not p.is_empty)
    return found


def polygon_mask(ring: Ring | np.ndarray, h: int, w: int) -> np.ndarray:
    """Raster of a (possibly self-intersecting) user polygon after shapely ``make_valid``."""
    pts = _as_points(ring)
    if len(pts) < 3:
        raise GeometryError(
            f"a polygon needs at least 3 vertices, got {len(pts)}; click more points before closing"
        )
    out = np.zeros((h, w), dtype=bool)
    for poly in _valid_polygons(pts):
        out |= _fill(np.asarray(poly.exterior.coords)[:-1], h, w)
        for interior in poly.interiors:
            hole = np.asarray(interior.coords)[:-1]
            out &= ~(_fill(hole, h, w) & ~_fill(hole, h, w, outline_only=True))
    return out


def apply_polygon(
    mask: np.ndarray | None, ring: Ring | np.ndarray, mode: SkyOp | str, h: int, w: int
) -> np.ndarray:
    """Add the polygon to the mask (OR) or subtract it (AND NOT); None counts as an empty mask."""
    base = _edit_base(mask, mode, h, w, "polygon")
    region = polygon_mask(ring, h, w)
    return base | region if mode == SkyOp.ADD else base & ~region


def _edit_base(mask: np.ndarray | None, mode: SkyOp | str, h: int, w: int, what: str) -> np.ndarray:
    """The mask an add / subtract edit starts from (None: an empty one), with the mode checked."""
    if mode not in MODES:
        raise GeometryError(f"unknown {what} mode {mode!r}; use 'add' or 'subtract'")
    if mask is None:
        return np.zeros((h, w), dtype=bool)
    base = _check_mask(mask)
    if base.shape != (h, w):
        raise GeometryError(
            f"mask shape {base.shape} does not match the image size ({h}, {w}); pass the mask of this image"
        )
    return base


# ---------------------------------------------------------------------------- sky brush
BRUSH_MAX_POINTS = 20_000  # a stroke of more points is thinned (a drag across a 4k frame is ~4k)
BRUSH_WIDE = 16.0  # from this radius on a distance transform paints (``_wide_brush``): edge within 1 px


def brush_mask(points: np.ndarray, radius: float, h: int, w: int) -> np.ndarray:
    """Bool [h, w]: the pixels a round brush of ``radius`` covers when dragged along ``points``
    (the stroke's centre path, [N, 2] image coordinates; one point is a single dab).

    A pixel is covered when its centre lies within ``radius`` of the path, or when the path
    crosses the pixel (sampled every quarter pixel), so a brush thinner than a pixel still paints
    what it touches. From BRUSH_WIDE px on, the edge follows that rule within 1 px
    (``_wide_brush``: the exact rule's cost grows with segments x radius^2).
    """
    pts = _as_points(points)
    if len(pts) == 0:
        raise GeometryError("a brush stroke needs at least one point; press on the image")
    if not (np.isfinite(radius) and radius >= 0):
        raise GeometryError(f"a brush radius must be a finite number >= 0, got {radius!r}")
    if len(pts) > BRUSH_MAX_POINTS:
        pts = pts[np.linspace(0, len(pts) - 1, BRUSH_MAX_POINTS).round().astype(int)]
    h, w, r = int(h), int(w), float(radius)
    if r >= BRUSH_WIDE:
        return _wide_brush(pts, r, h, w)
    out = np.zeros((h, w), dtype=bool)
    segments = np.concatenate([pts[:-1], pts[1:]], axis=1) if len(pts) > 1 else np.tile(pts, 2)
    for x0, y0, x1, y1 in segments:
        c0 = max(int(np.floor(min(x0, x1) - r)), 0)
        c1 = min(int(np.ceil(max(x0, x1) + r)) + 1, w)
        r0 = max(int(np.floor(min(y0, y1) - r)), 0)
        r1 = min(int(np.ceil(max(y0, y1) + r)) + 1, h)
        if c0 >= c1 or r0 >= r1:
            continue  # the segment and its brush lie outside the image
        cx = np.arange(c0, c1, dtype=np.float64)[None, :] + 0.5
        cy = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else np.clip(((cx - x0) * dx + (cy - y0) * dy) / length2, 0, 1)
        dist2 = (cx - (x0 + t * dx)) ** 2 + (cy - (y0 + t * dy)) ** 2
        out[r0:r1, c0:c1] |= dist2 <= r * r
    # The pixels the path crosses: its points and a walk along each segment.
    steps = np.maximum(np.ceil(np.abs(segments[:, 2:] - segments[:, :2]).max(axis=1) * 4), 1)
    walk = np.concatenate([
        seg[:2] + (seg[2:] - seg[:2]) * (np.arange(n + 1)[:, None] / n) for seg, n in zip(segments, steps.astype(int), strict=True)
    ])  # fmt: skip
    cols, rows = np.floor(walk[:, 0]).astype(np.int64), np.floor(walk[:, 1]).astype(np.int64)
    inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    out[rows[inside], cols[inside]] = True
    return out


def _wide_brush(pts: np.ndarray, r: float, h: int, w: int) -> np.ndarray:
    """A wide brush (r >= BRUSH_WIDE): the distance of each pixel centre to the stroke's path
    drawn as a 1-px line (OpenCV's exact Euclidean distance transform), within r. The drawn line's
    pixels lie within about 0.7 px of the path, so the edge is within 1 px of ``brush_mask``'s rule, at
    a cost in the pixels of the stroke's box, not in segments x radius^2 (a 300-point stroke of
    radius 256 took over a second the exact way: benchmarks/bench_sky_brush.py)."""
    out = np.zeros((h, w), dtype=bool)
    x0 = max(int(np.floor(pts[:, 0].min() - r)) - 1, 0)
    y0 = max(int(np.floor(pts[:, 1].min() - r)) - 1, 0)
    x1 = min(int(np.ceil(pts[:, 0].max() + r)) + 2, w)
    y1 = min(int(np.ceil(pts[:, 1].max() + r)) + 2, h)
    if x0 >= x1 or y0 >= y1:
        return out
    # The path in the box's pixel grid (pixel (i, j) is the point (i + 0.5, j + 0.5)), drawn where
    # it runs, even outside the box (OpenCV clips the drawing, not the distances that follow).
    pad = int(np.ceil(r)) + 2
    line = np.full((y1 - y0 + 2 * pad, x1 - x0 + 2 * pad), 255, np.uint8)
    grid = _fixed_point(pts - (x0 - pad, y0 - pad))
    cv2.polylines(line, [grid], False, 0, lineType=cv2.LINE_8, shift=_SHIFT)
    cx, cy = (int(grid[0, 0, 0]) + _SCALE // 2) >> _SHIFT, (int(grid[0, 0, 1]) + _SCALE // 2) >> _SHIFT
    if 0 <= cy < line.shape[0] and 0 <= cx < line.shape[1]:
        line[cy, cx] = 0  # the first point's pixel: a one-point stroke (a dab) draws no line
    dist = cv2.distanceTransform(line, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    out[y0:y1, x0:x1] = dist[pad:pad + y1 - y0, pad:pad + x1 - x0] <= r
    return out


def apply_brush(
    mask: np.ndarray | None, points: np.ndarray, radius: float, mode: SkyOp | str, h: int, w: int
) -> np.ndarray:
    """Paint the stroke into the mask (``add``) or erase it (``subtract``); None: an empty mask."""
    base = _edit_base(mask, mode, h, w, "brush")
    region = brush_mask(points, radius, h, w)
    return base | region if mode == SkyOp.ADD else base & ~region


def to_gray_float(image: np.ndarray) -> np.ndarray:
    """[H, W] float64 luminance of a gray / RGB / RGBA image (alpha ignored)."""
    img = np.asarray(image)
    if img.ndim == 2:
        return img.astype(np.float64)
    if img.ndim == 3 and img.shape[2] in (1, 3, 4):
        if img.shape[2] == 1:
            return img[:, :, 0].astype(np.float64)
        rgb = img[:, :, :3].astype(np.float64)
        return rgb @ np.array([0.299, 0.587, 0.114])
    raise GeometryError(f"expected an [H, W] or [H, W, C] image, got shape {img.shape}")


def _fallback_target(x: int, y: int, h: int, w: int) -> Target:
    """3x3 box centred on the clicked pixel (clipped to the image) when there is nothing to fit."""
    x0, y0 = max(x - 1, 0), max(y - 1, 0)
    x1, y1 = min(x + 2, w), min(y + 2, h)
    return Target(point=(float(x), float(y)), box=(float(x0), float(y0), float(x1), float(y1)))


def _annulus_stats(
    gray: np.ndarray, px: int, py: int, r_in: int, r_out: int
) -> tuple[float, float]:
    """Median and robust sigma (1.4826 MAD) of the square annulus r_in < d <= r_out around a pixel."""
    h, w = gray.shape
    ya, yb = max(py - r_out, 0), min(py + r_out + 1, h)
    xa, xb = max(px - r_out, 0), min(px + r_out + 1, w)
    patch = gray[ya:yb, xa:xb]
    yy, xx = np.mgrid[ya:yb, xa:xb]
    ring = np.maximum(np.abs(yy - py), np.abs(xx - px)) > r_in
    values = patch[ring] if ring.any() else patch.ravel()
    med = float(np.median(values))
    return med, 1.4826 * float(np.median(np.abs(values - med)))


def fit_target(
    image: np.ndarray, x: float, y: float, search_radius: int = 3, max_size: int = 15
) -> Target:
    """Snap a click to the local peak and fit point + box + mask of the bright blob around it.

    The blob is the 8-connected component containing the peak of the pixels above
    ``background + 0.5 * (peak - background)``, background = median of an annulus around the peak,
    cropped to a ``max_size`` square. Without contrast, a 3x3 box centred on the click is returned.
    """
    gray = to_gray_float(image)
    h, w = gray.shape
    cx, cy = int(np.floor(x)), int(np.floor(y))
    if not (0 <= cx < w and 0 <= cy < h):
        raise GeometryError(f"click ({x:.1f}, {y:.1f}) is outside the {w}x{h} image")
    r = max(int(search_radius), 0)
    ya, yb, xa, xb = max(cy - r, 0), min(cy + r + 1, h), max(cx - r, 0), min(cx + r + 1, w)
    win = gray[ya:yb, xa:xb]
    iy, ix = np.unravel_index(int(np.argmax(win)), win.shape)
    py, px = ya + int(iy), xa + int(ix)
    peak = float(gray[py, px])
    half = max_size // 2
    bg, sigma = _annulus_stats(gray, px, py, half, half + 4)
    contrast = peak - bg
    # "No contrast": flat area, or a peak no higher than the background noise allows.
    if contrast <= max(3.0 * sigma, 1e-9 * max(abs(peak), 1.0)):
        return _fallback_target(cx, cy, h, w)
    thr = bg + 0.5 * contrast
    wy0, wy1, wx0, wx1 = (
        max(py - half, 0),
        min(py + half + 1, h),
        max(px - half, 0),
        min(px + half + 1, w),
    )
    above = (gray[wy0:wy1, wx0:wx1] >= thr).astype(np.uint8)
    _, labels = cv2.connectedComponents(above, connectivity=8)
    comp = labels == labels[py - wy0, px - wx0]
    rows, cols = np.nonzero(comp)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    box = (float(wx0 + c0), float(wy0 + r0), float(wx0 + c1), float(wy0 + r1))
    mask = TargetMask(int(wx0 + c0), int(wy0 + r0), comp[r0:r1, c0:c1])
    return Target(point=(float(px), float(py)), box=box, mask=mask)


def ring_move_vertex(ring: Ring, index: int, xy: tuple[float, float]) -> Ring:
    """A copy of ``ring`` with vertex ``index`` at ``xy``."""
    pts = ring.points.copy()
    pts[index] = xy
    return Ring(pts, ring.is_hole)


def ring_insert_vertex(ring: Ring, after: int, xy: tuple[float, float]) -> Ring:
    """A copy of ``ring`` with a new vertex ``xy`` between vertex ``after`` and the next one."""
    return Ring(np.insert(ring.points, after + 1, xy, axis=0), ring.is_hole)


def ring_delete_vertex(ring: Ring, index: int) -> Ring | None:
    """A copy of ``ring`` without vertex ``index``; None when fewer than 3 vertices would remain."""
    if len(ring.points) <= 3:
        return None
    return Ring(np.delete(ring.points, index, axis=0), ring.is_hole)


# ---------------------------------------------------------------------------- sky proposal clean-up
def _drop_small_components(mask: np.ndarray, min_area: int, connectivity: int) -> np.ndarray:
    """mask without its connected components smaller than min_area pixels."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=connectivity)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False  # label 0 is the background of this mask
    return keep[labels]


def clean_sky_mask(mask: np.ndarray, smooth: float = 0.0, min_area: int = 0) -> np.ndarray:
    """A sky proposal an annotator can edit: outline smoothed, specks and pin-holes removed.

    ``smooth``: sigma in pixels of a Gaussian applied to the mask before re-thresholding at 0.5 (a soft
    majority vote: straightens ragged outlines, closes gaps narrower than about the sigma). ``min_area``:
    sky islands (8-connected, as ``mask_to_rings`` traces them) and holes (4-connected ground, the
    complement) smaller than this many pixels are removed / filled. 0 turns either step off.
    """
    m = _check_mask(mask)
    if smooth > 0 and m.any():
        blurred = cv2.GaussianBlur(m.astype(np.float32), (0, 0), float(smooth), borderType=cv2.BORDER_REPLICATE)
        m = blurred >= 0.5
    if min_area > 1:
        m = _drop_small_components(m, int(min_area), 8)
        m = ~_drop_small_components(~m, int(min_area), 4)
    return m


def ring_stats(mask: np.ndarray) -> tuple[int, int]:
    """(rings, vertices) of the mask as the sky editor shows it (``mask_to_rings``)."""
    rings = mask_to_rings(mask)
    return len(rings), sum(len(r) for r in rings)
