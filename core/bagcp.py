"""BAG-CP: background-aware Gaussian copy-paste (paper section IV-C, Eq. 1-3), numpy / OpenCV.

Pastes clusters of real small targets (from a ``TargetLibrary``) into the sky of an image and
returns the new image with labels for every pasted target. Used as training augmentation and, by
``main.py synth``, as a DenseSIRST-style dataset synthesiser.

Placement. 1-3 regions of 20x20 px are drawn uniformly among the windows that lie entirely in sky
(sky mask eroded by the window) and touch no existing target (boxes / masks dilated by 1 px); the
regions keep >= 1 px from each other. Each region holds 8-12 targets, each shrunk (aspect kept,
never enlarged) to fit 5x5 px, laid out in rows with 1-2 px gaps (targets shrink by 1 px at a time
until the rows fit the region). When the sky holds fewer regions, fewer are placed and
``BagcpResult.message`` says so.

Blend (what is implemented exactly). For a target of h x w px pasted at (x0, y0), pixel (c, r) of
its box has normalised coordinates x = (c + 1/2)/w - 1/2, y = (r + 1/2)/h - 1/2 (the box spans
[-1/2, 1/2]^2), the Gaussian centre is mu = (rho_x, rho_y), i.e. rho_x*w, rho_y*h px from the box
centre, and Eq. 3 rotates the grid about mu::

    [x'; y'] = [[cos t, -sin t], [sin t, cos t]] [x - rho_x; y - rho_y]              (Eq. 3)
    G(c, r)  = exp(-x'^2 / (2 sigma_x^2) - y'^2 / (2 sigma_y^2))                      (Eq. 2)
    T_new    = T_back + B_box * lambda * G     on the target's mask pixels             (Eq. 1)

lambda ~ U(0.5, 1), rho ~ U(0, 0.2), sigma ~ U(0.3, 0.6), t ~ U(-90, 90) deg, one draw per target.
T_back has weight 1 (unlike mixup). B_box is the target's appearance as contrast over its source's
local background, rescaled from the source image's robust value range to the destination's
(``core.target_library.value_range``), so the same library serves 8-bit, 16-bit and float images.
Colour images get the same contrast on R, G and B (alpha untouched). Integer results are rounded
and clipped to the dtype's range; float images lying in [0, 1] are clipped to [0, 1].

With ``gaussian`` off the paste is plain copy-paste: the mask pixels are replaced by the source
target's own values (background + contrast, mapped into the destination's range), no lambda, no G.

Table III strategies (paper, mAP07) as ``BagcpConfig`` switches (``BagcpConfig.strategy(letter)``):

    (a) no augmentation          copy_paste=False
    (b) copy-paste               copy_paste=True,  cluster=False, gaussian=False, background_aware=False
    (c) + cluster                copy_paste=True,  cluster=True,  gaussian=False, background_aware=False
    (d) + gaussian               copy_paste=True,  cluster=False, gaussian=True,  background_aware=False
    (e) + cluster + gaussian     copy_paste=True,  cluster=True,  gaussian=True,  background_aware=False
    (f) BAG-CP (all four)        copy_paste=True,  cluster=True,  gaussian=True,  background_aware=True

``cluster`` off scatters the same targets one by one (no regions); ``background_aware`` off lets
regions / targets land anywhere in the image (existing targets are still avoided). Every random
number comes from the ``np.random.Generator`` passed in, and the count, library picks and blend
parameters are drawn before placement, so each switch changes only what it names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from core.domain import Box, Source, Target, TargetMask, TargetState
from core.errors import SirstError
from core.target_library import FittedPatch, TargetLibrary, resize_patch, value_range

_TRIES = 64  # random probes before an exact (slower) search for a free position


class BagcpError(SirstError, ValueError):
    """BAG-CP inputs cannot be used (empty library, mask of the wrong size, bad config...)."""


@dataclass(frozen=True)
class BagcpConfig:
    """BAG-CP parameters (paper defaults); ranges are inclusive (lo, hi)."""

    n_regions: tuple[int, int] = (1, 3)
    region_size: int = 20
    per_region: tuple[int, int] = (8, 12)
    max_size: int = 5
    spacing: tuple[int, int] = (1, 2)
    lam: tuple[float, float] = (0.5, 1.0)
    rho: tuple[float, float] = (0.0, 0.2)
    sigma: tuple[float, float] = (0.3, 0.6)
    theta: tuple[float, float] = (-90.0, 90.0)
    copy_paste: bool = True
    cluster: bool = True
    gaussian: bool = True
    background_aware: bool = True

    def __post_init__(self) -> None:
        for name in ("n_regions", "per_region", "spacing", "lam", "rho", "sigma", "theta"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise BagcpError(f"BagcpConfig.{name}={(lo, hi)}: low end above high end")
        if self.n_regions[0] < 0 or self.per_region[0] < 1 or self.spacing[0] < 1:
            raise BagcpError(
                "BagcpConfig: n_regions >= 0, per_region >= 1, spacing >= 1 px "
                "(targets must never touch)"
            )
        if self.max_size < 1 or self.region_size < self.max_size:
            raise BagcpError(
                f"BagcpConfig: need 1 <= max_size ({self.max_size}) <= region_size "
                f"({self.region_size})"
            )
        if self.sigma[0] <= 0:
            raise BagcpError("BagcpConfig.sigma must be > 0 (Gaussian spread)")

    @classmethod
    def strategy(cls, letter: str, **overrides: object) -> BagcpConfig:
        """The switch combination of Table III row (a)-(f) (see the module docstring)."""
        table = {
            "a": (False, False, False, False),
            "b": (True, False, False, False),
            "c": (True, True, False, False),
            "d": (True, False, True, False),
            "e": (True, True, True, False),
            "f": (True, True, True, True),
        }
        if letter.lower() not in table:
            raise BagcpError(f"unknown Table III strategy {letter!r}; use one of a, b, c, d, e, f")
        cp, cl, ga, bg = table[letter.lower()]
        return cls(copy_paste=cp, cluster=cl, gaussian=ga, background_aware=bg, **overrides)


@dataclass(frozen=True)
class PasteRecord:
    """How one target was pasted: library patch, top-left, size and its Eq. 1-3 parameters."""

    library_index: int
    x0: int
    y0: int
    height: int
    width: int
    lam: float
    rho: tuple[float, float]
    sigma: tuple[float, float]
    theta: float  # degrees
    scale: float  # destination value span: B_box = patch contrast (in source spans) * scale
    offset: float  # destination value low end (hard copy-paste maps source levels from it)


@dataclass
class BagcpResult:
    """New image (same dtype / shape), the pasted targets, the 20x20 regions, and a note."""

    image: np.ndarray
    targets: list[Target] = field(default_factory=list)
    regions: list[Box] = field(default_factory=list)
    message: str | None = None
    pastes: list[PasteRecord] = field(default_factory=list)  # parallel to ``targets``


def gaussian_weights(
    h: int, w: int, rho: tuple[float, float], sigma: tuple[float, float], theta_deg: float
) -> np.ndarray:
    """G of Eq. 2-3 over an h x w box in normalised coordinates (float32 [h, w])."""
    x = (np.arange(w, dtype=np.float64) + 0.5) / w - 0.5 - rho[0]
    y = (np.arange(h, dtype=np.float64) + 0.5) / h - 0.5 - rho[1]
    t = np.deg2rad(theta_deg)
    xr = np.cos(t) * x[None, :] - np.sin(t) * y[:, None]
    yr = np.sin(t) * x[None, :] + np.cos(t) * y[:, None]
    return np.exp(-(xr**2) / (2 * sigma[0] ** 2) - yr**2 / (2 * sigma[1] ** 2)).astype(np.float32)


@dataclass
class _Draws:
    """Every placement-independent random choice, drawn up front in a fixed order."""

    per_region: list[int]
    picks: np.ndarray
    lam: np.ndarray
    rho: np.ndarray
    sigma: np.ndarray
    theta: np.ndarray


def _draw(cfg: BagcpConfig, n_lib: int, rng: np.random.Generator) -> _Draws:
    n_regions = int(rng.integers(cfg.n_regions[0], cfg.n_regions[1] + 1))
    per_region = rng.integers(cfg.per_region[0], cfg.per_region[1] + 1, size=n_regions)
    total = int(per_region.sum())
    return _Draws(
        per_region=[int(n) for n in per_region],
        picks=rng.integers(0, n_lib, size=total),
        lam=rng.uniform(*cfg.lam, size=total),
        rho=rng.uniform(*cfg.rho, size=(total, 2)),
        sigma=rng.uniform(*cfg.sigma, size=(total, 2)),
        theta=rng.uniform(*cfg.theta, size=total),
    )


def synthesize(
    image: np.ndarray,
    sky: np.ndarray | None,
    existing: list[Target],
    library: TargetLibrary,
    cfg: BagcpConfig | None = None,
    rng: np.random.Generator | None = None,
) -> BagcpResult:
    """Paste BAG-CP target clusters into ``image``; the input arrays are never modified.

    ``sky``: bool [H, W] (True = sky) or None (no sky label: nothing can be pasted while
    ``background_aware`` is on). ``existing``: the image's targets, which pasted ones never touch.
    """
    cfg = cfg or BagcpConfig()
    rng = rng if rng is not None else np.random.default_rng()
    sky = _check_inputs(image, sky)
    if not cfg.copy_paste:
        return BagcpResult(image.copy(), message="copy_paste is off: nothing pasted")
    if len(library) == 0:
        raise BagcpError("the target library is empty; build it from labelled targets first")
    draws = _draw(cfg, len(library), rng)
    h, w = image.shape[:2]
    if cfg.background_aware and (sky is None or not sky.any()):
        why = "has no sky mask" if sky is None else "has no sky"
        return BagcpResult(
            image.copy(),
            message=f"nothing pasted: the image {why} (label the sky, "
            "or turn background_aware off)",
        )
    free = sky if cfg.background_aware else np.ones((h, w), dtype=bool)
    occupied = _existing_occupancy(existing, h, w)
    fitted = library.fitted(cfg.max_size)
    patches = [fitted[int(i)] for i in draws.picks]
    if cfg.cluster:
        regions, spots, message = _place_clusters(
            free & ~occupied, draws.per_region, patches, cfg, rng
        )
    else:
        regions, (spots, message) = [], _place_scattered(free, occupied, patches, cfg, rng)
    return _paste_all(image, spots, draws, cfg, regions, message)


def _check_inputs(image: np.ndarray, sky: np.ndarray | None) -> np.ndarray | None:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise BagcpError("image must be a numpy array [H, W] or [H, W, C]")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise BagcpError(f"image has {image.shape[2]} channels; BAG-CP takes 1, 3 or 4")
    if sky is None:
        return None
    sky = np.asarray(sky)
    if sky.shape != image.shape[:2]:
        raise BagcpError(
            f"sky mask is {sky.shape[1]}x{sky.shape[0]} px but the image is "
            f"{image.shape[1]}x{image.shape[0]}; pass the mask of this image"
        )
    return sky.astype(bool, copy=False)


def _existing_occupancy(existing: list[Target], h: int, w: int) -> np.ndarray:
    """Pixels a pasted target must not cover: every existing box / mask / point, grown by 1 px."""
    occ = np.zeros((h, w), dtype=bool)
    for t in existing:
        spans = []
        if t.box is not None:
            x0, y0, x1, y1 = t.box
            spans.append((math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)))
        if t.mask is not None:
            mh, mw = t.mask.pixels.shape
            spans.append((t.mask.x0, t.mask.y0, t.mask.x0 + mw, t.mask.y0 + mh))
        if t.point is not None and not spans:
            # A bare point hides a target of unknown extent: assume the typical 3x3.
            px, py = math.floor(t.point[0]), math.floor(t.point[1])
            spans.append((px - 1, py - 1, px + 2, py + 2))
        for x0, y0, x1, y1 in spans:
            occ[max(y0 - 1, 0) : max(y1 + 1, 0), max(x0 - 1, 0) : max(x1 + 1, 0)] = True
    return occ


def _window_starts(free: np.ndarray, wh: int, ww: int) -> np.ndarray:
    """Bool [H-wh+1, W-ww+1]: top-left corners whose wh x ww window lies entirely in ``free``."""
    h, w = free.shape
    if h < wh or w < ww:
        return np.zeros((0, 0), dtype=bool)
    src = np.ascontiguousarray(free, dtype=np.uint8)
    eroded = cv2.erode(
        src,
        np.ones((wh, ww), np.uint8),
        anchor=(0, 0),
        borderType=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return eroded[: h - wh + 1, : w - ww + 1].astype(bool)


def _pick(
    valid: np.ndarray, rng: np.random.Generator, accept: Callable[[int, int], bool] | None = None
) -> tuple[int, int] | None:
    """Uniform random (y, x) with ``valid[y, x]`` (and ``accept(y, x)``), or None.

    Random probes first (O(1) when much of the image is free), then an exact scan of the rest.
    """
    if valid.size == 0:
        return None
    h, w = valid.shape
    for _ in range(_TRIES):
        y, x = int(rng.integers(h)), int(rng.integers(w))
        if valid[y, x] and (accept is None or accept(y, x)):
            return y, x
    ys, xs = np.nonzero(valid)
    order = rng.permutation(len(ys))
    for k in order:
        y, x = int(ys[k]), int(xs[k])
        if accept is None or accept(y, x):
            return y, x
    return None


def _layout(
    sizes: list[tuple[int, int]], side: int, gaps: np.ndarray, rng: np.random.Generator
) -> list[tuple[int, int]] | None:
    """Row layout of sizes (h, w) in a side x side square with the given gaps; None if too big."""
    rows: list[list[int]] = [[]]
    xs: list[int] = []
    x = 0
    for i, (_, pw) in enumerate(sizes):
        if rows[-1] and x + pw > side:
            rows.append([])
            x = 0
        rows[-1].append(i)
        xs.append(x)
        x += pw + int(gaps[i, 0])
    heights = [max(sizes[i][0] for i in row) for row in rows]
    widths = [xs[row[-1]] + sizes[row[-1]][1] for row in rows]
    total_h = sum(heights) + sum(int(gaps[row[0], 1]) for row in rows[1:])
    if total_h > side or max(widths) > side:
        return None
    spots: list[tuple[int, int]] = [(0, 0)] * len(sizes)
    y = int(rng.integers(0, side - total_h + 1))
    for r, row in enumerate(rows):
        shift = int(rng.integers(0, side - widths[r] + 1))
        for i in row:
            spots[i] = (y + int(rng.integers(0, heights[r] - sizes[i][0] + 1)), xs[i] + shift)
        if r + 1 < len(rows):
            y += heights[r] + int(gaps[rows[r + 1][0], 1])
    return spots


def _shrink_to_fit(
    patches: list[FittedPatch], side: int, cfg: BagcpConfig, rng: np.random.Generator
) -> tuple[list[FittedPatch], list[tuple[int, int]]]:
    """Lay a region's patches out, shrinking the largest by 1 px until the rows fit."""
    gaps = rng.integers(cfg.spacing[0], cfg.spacing[1] + 1, size=(len(patches), 2))
    sizes = [p.mask.shape for p in patches]
    while (spots := _layout(sizes, side, gaps, rng)) is None:
        i = max(range(len(sizes)), key=lambda k: (max(sizes[k]), sizes[k][0] * sizes[k][1]))
        ph, pw = sizes[i]
        if ph == pw == 1:
            raise BagcpError(
                f"{len(sizes)} targets with {cfg.spacing} px gaps cannot fit a "
                f"{side}x{side} region; lower per_region or the spacing"
            )
        sizes[i] = (ph - 1, pw) if ph >= pw else (ph, pw - 1)
    out = []
    for p, (sh, sw) in zip(patches, sizes, strict=True):
        if (sh, sw) != p.mask.shape:
            contrast, mask = resize_patch(p.contrast, p.mask, sh, sw)
            p = FittedPatch(contrast, mask, p.level)
        out.append(p)
    return out, spots


_Spot = tuple[int, int, int, FittedPatch]  # (draw index, y0, x0, patch)


def _place_clusters(
    free: np.ndarray,
    per_region: list[int],
    patches: list[FittedPatch],
    cfg: BagcpConfig,
    rng: np.random.Generator,
) -> tuple[list[Box], list[_Spot], str | None]:
    """Choose non-touching regions in ``free`` and lay each region's targets out inside it."""
    side = cfg.region_size
    valid = _window_starts(free, side, side)
    regions: list[Box] = []
    spots: list[_Spot] = []
    start = 0
    for count in per_region:
        at = _pick(valid, rng)
        if at is None:
            break
        ry, rx = at
        # Regions keep >= 1 px apart: drop every start whose window would touch this one.
        valid[max(ry - side, 0) : ry + side + 1, max(rx - side, 0) : rx + side + 1] = False
        fitted, layout = _shrink_to_fit(patches[start : start + count], side, cfg, rng)
        for k, (p, (dy, dx)) in enumerate(zip(fitted, layout, strict=True)):
            spots.append((start + k, ry + dy, rx + dx, p))
        regions.append((float(rx), float(ry), float(rx + side), float(ry + side)))
        start += count
    message = None
    if len(regions) < len(per_region):
        message = (
            f"placed {len(regions)} of {len(per_region)} clusters: the "
            f"{'sky' if cfg.background_aware else 'image'} has no more {side}x{side} px "
            "windows clear of targets"
        )
    return regions, spots, message


def _place_scattered(
    free: np.ndarray,
    occupied: np.ndarray,
    patches: list[FittedPatch],
    cfg: BagcpConfig,
    rng: np.random.Generator,
) -> tuple[list[_Spot], str | None]:
    """Place the targets one by one anywhere in ``free`` (no clusters), none touching another."""
    m = cfg.max_size
    valid = _window_starts(free & ~occupied, m, m)
    occ = occupied.copy()
    spots: list[_Spot] = []
    for k, p in enumerate(patches):
        ph, pw = p.mask.shape

        def clear(y: int, x: int, ph: int = ph, pw: int = pw) -> bool:
            return not occ[max(y - 1, 0) : y + ph + 1, max(x - 1, 0) : x + pw + 1].any()

        at = _pick(valid, rng, clear)
        if at is None:
            break
        y, x = at
        occ[y : y + ph, x : x + pw] = True
        spots.append((k, y, x, p))
    message = None
    if len(spots) < len(patches):
        message = (
            f"placed {len(spots)} of {len(patches)} targets: no more room clear of "
            f"targets in the {'sky' if cfg.background_aware else 'image'}"
        )
    return spots, message


def _value_limits(image: np.ndarray) -> tuple[float, float]:
    """The range results are clipped to: the integer dtype's, [0, 1] for such float images."""
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        return float(info.min), float(info.max)
    if image.size and image.min() >= 0 and image.max() <= 1:
        return 0.0, 1.0
    return -np.inf, np.inf


def _paste_all(
    image: np.ndarray,
    spots: list[_Spot],
    draws: _Draws,
    cfg: BagcpConfig,
    regions: list[Box],
    message: str | None,
) -> BagcpResult:
    """Blend every placed patch into a copy of the image and label it."""
    out = image.copy()
    planes = out if out.ndim == 2 else out[..., : min(3, out.shape[2])]
    sample = planes[::4, ::4]  # the range needs no more pixels than this (and it is per call)
    lo, span = value_range(sample if sample.ndim == 2 else sample.mean(axis=2))
    limits = _value_limits(image)
    result = BagcpResult(out, regions=regions, message=message)
    for k, y0, x0, p in spots:
        ph, pw = p.mask.shape
        rec = PasteRecord(
            int(draws.picks[k]),
            x0,
            y0,
            ph,
            pw,
            float(draws.lam[k]),
            (float(draws.rho[k, 0]), float(draws.rho[k, 1])),
            (float(draws.sigma[k, 0]), float(draws.sigma[k, 1])),
            float(draws.theta[k]),
            span,
            lo,
        )
        _blend_one(planes, rec, p, limits, cfg.gaussian)
        result.targets.append(_label(planes, rec, p.mask))
        result.pastes.append(rec)
    return result


def _blend_one(
    planes: np.ndarray,
    rec: PasteRecord,
    p: FittedPatch,
    limits: tuple[float, float],
    gaussian: bool,
) -> None:
    """Eq. 1 (or a hard copy with ``gaussian`` off) on one target's box, in place."""
    box = planes[rec.y0 : rec.y0 + rec.height, rec.x0 : rec.x0 + rec.width]
    back = box.astype(np.float32)
    if gaussian:
        g = gaussian_weights(rec.height, rec.width, rec.rho, rec.sigma, rec.theta)
        add = p.contrast * np.float32(rec.scale * rec.lam) * g
        new = back + (add if back.ndim == 2 else add[..., None])
    else:
        value = np.float32(rec.offset) + (np.float32(p.level) + p.contrast) * np.float32(rec.scale)
        new = np.broadcast_to(value if back.ndim == 2 else value[..., None], back.shape)
    mask = p.mask if back.ndim == 2 else np.broadcast_to(p.mask[..., None], back.shape)
    new = np.where(mask, np.clip(new, *limits), back)
    if np.issubdtype(planes.dtype, np.integer):
        new = np.rint(new)
    box[...] = new.astype(planes.dtype)


def _label(planes: np.ndarray, rec: PasteRecord, mask: np.ndarray) -> Target:
    """A SYNTHETIC, ACCEPTED target: tight box over the mask, point at its brightest pixel."""
    box = planes[rec.y0 : rec.y0 + rec.height, rec.x0 : rec.x0 + rec.width]
    level = box.astype(np.float32) if box.ndim == 2 else box.astype(np.float32).mean(axis=2)
    r, c = np.unravel_index(int(np.argmax(np.where(mask, level, -np.inf))), mask.shape)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    bx0, by0 = rec.x0 + int(cols[0]), rec.y0 + int(rows[0])
    tight = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy()
    return Target(
        point=(float(rec.x0 + c), float(rec.y0 + r)),
        box=(bx0, by0, bx0 + tight.shape[1], by0 + tight.shape[0]),
        mask=TargetMask(bx0, by0, tight),
        source=Source.SYNTHETIC,
        state=TargetState.ACCEPTED,
    )
