"""Detection inspection and dataset statistics (numpy / OpenCV only, no Qt, no torch).

Matching rule (kept consistent with the VOC-style evaluation of DenseSIRST, see
docs/DENSESIRST.md "Metrics"): detections are taken in decreasing score order; each one is
compared with the ground-truth target it overlaps most, using IoU with *legacy* widths
(``x2 - x1 + 1``, as the VOC devkit does, which matters a lot for 3x3 boxes). It is a true
positive when that IoU is >= 0.5 and the target is not yet taken, else a false alarm. Targets
that carry only a point (no box) are matched when the detection's centre lies within
``center_dist`` (3 px) of the point. Targets left unmatched are misses.

Measures, per item:
- background class: "sky" when more than half of the box pixels are sky in the accepted sky
  mask, "non-sky" otherwise, "unknown" when the image has no sky mask;
- local contrast: (mean of the box - mean of a surrounding ring) / std of the ring, the std
  floored at one grey level so that flat synthetic backgrounds stay finite;
- brightness rank (paper Fig. 3): the percentage of the image's pixels strictly brighter than
  the target's peak (0 = the target is the brightest thing in the image).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.domain import Box, ImageAnnotation, Target, TargetState
from core.fileio import atomic_write_text
from core.metrics import box_iou  # the evaluation's own IoU: one matching rule everywhere

log = logging.getLogger(__name__)

FA = "fa"
MISS = "miss"
SKY = "sky"
NON_SKY = "non-sky"
UNKNOWN = "unknown"
RING_WIDTH = 3  # px around the box used as local background
CACHE_DIR = ".cache"  # <project>/.cache/inspection_<version>.json
STD_FLOOR = 1.0  # one grey level: the quantisation step of 8- and 16-bit images
FEW_PEAKS = 32  # up to this many peaks, counting beats sorting the image


@dataclass(frozen=True)
class MatchRule:
    """How a detection is matched to a target (see the module docstring)."""

    iou_thr: float = 0.5
    legacy: bool = True
    center_dist: float = 3.0


@dataclass
class InspectionItem:
    """One false alarm (``kind == FA``, with a score) or one miss (``kind == MISS``)."""

    kind: str
    image_id: int
    box: Box
    score: float | None
    background: str
    contrast: float

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return ((x0 + x1) / 2.0, (y0 + y1) / 2.0)


@dataclass
class ImageInspection:
    """Matching outcome of one image at one threshold."""

    image_id: int
    name: str
    n_targets: int
    n_detections: int
    n_true: int
    items: list[InspectionItem] = field(default_factory=list)

    def count(self, kind: str, background: str | None = None) -> int:
        return sum(
            1
            for i in self.items
            if i.kind == kind and (background is None or i.background == background)
        )


# ---------------------------------------------------------------------------- geometry
def as_gray(image: np.ndarray) -> np.ndarray:
    """Float64 [H, W] luminance of a gray / RGB / RGBA image (alpha ignored), raw value scale."""
    img = np.asarray(image)
    if img.ndim == 2:
        return img.astype(np.float64)
    if img.ndim == 3 and img.shape[2] >= 3:
        rgb = img[..., :3].astype(np.float64)
        return rgb @ np.array([0.299, 0.587, 0.114])
    if img.ndim == 3 and img.shape[2] == 1:
        return img[..., 0].astype(np.float64)
    raise ValueError(f"expected an image [H, W] or [H, W, C], got shape {img.shape}")


def box_pixels(box: Box, height: int, width: int) -> tuple[int, int, int, int]:
    """Integer pixel range (c0, r0, c1, r1), half-open and clipped, covered by a float box."""
    x0, y0, x1, y1 = box
    c0, r0 = max(int(math.floor(x0)), 0), max(int(math.floor(y0)), 0)
    c1, r1 = min(int(math.ceil(x1)), width), min(int(math.ceil(y1)), height)
    return c0, r0, max(c1, c0), max(r1, r0)


def target_box(t: Target) -> Box | None:
    """The target's box, else its mask's bounding box, else None (point only)."""
    if t.box is not None:
        return t.box
    if t.mask is not None and t.mask.pixels.any():
        rows, cols = np.nonzero(t.mask.pixels)
        x0, y0 = t.mask.x0 + cols.min(), t.mask.y0 + rows.min()
        return (
            float(x0),
            float(y0),
            float(t.mask.x0 + cols.max() + 1),
            float(t.mask.y0 + rows.max() + 1),
        )
    return None


def _spot_box(t: Target) -> Box:
    """A box for measuring: the target's box, or the 3x3 pixels around its point."""
    box = target_box(t)
    if box is not None:
        return box
    x, y = t.point
    cx, cy = math.floor(x), math.floor(y)
    return (float(cx - 1), float(cy - 1), float(cx + 2), float(cy + 2))


# ---------------------------------------------------------------------------- matching
def match_detections(
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    targets: Sequence[Target],
    rule: MatchRule = MatchRule(),
) -> tuple[np.ndarray, np.ndarray]:
    """VOC-style greedy matching. Returns (detection is true [N] bool, target found [M] bool)."""
    det_boxes = np.asarray(det_boxes, dtype=np.float64).reshape(-1, 4)
    det_scores = np.asarray(det_scores, dtype=np.float64).reshape(-1)
    n, m = len(det_boxes), len(targets)
    det_ok, gt_ok = np.zeros(n, dtype=bool), np.zeros(m, dtype=bool)
    if n == 0 or m == 0:
        return det_ok, gt_ok
    quality = _match_quality(det_boxes, targets, rule)  # [N, M], >= 1 means acceptable
    for d in np.argsort(-det_scores, kind="stable"):
        g = int(np.argmax(quality[d]))
        if quality[d, g] >= 1.0 and not gt_ok[g]:
            det_ok[d] = gt_ok[g] = True
    return det_ok, gt_ok


def _match_quality(det_boxes: np.ndarray, targets: Sequence[Target], rule: MatchRule) -> np.ndarray:
    """[N, M] scores normalised so that >= 1 passes the rule (IoU / thr, or distance test)."""
    q = np.zeros((len(det_boxes), len(targets)))
    boxed = [j for j, t in enumerate(targets) if target_box(t) is not None]
    if boxed:
        gt = np.array([target_box(targets[j]) for j in boxed])
        q[:, boxed] = box_iou(det_boxes, gt, rule.legacy) / max(rule.iou_thr, 1e-9)
    centers = (det_boxes[:, :2] + det_boxes[:, 2:]) / 2.0
    for j, t in enumerate(targets):
        if j in boxed or t.point is None:
            continue
        dist = np.hypot(centers[:, 0] - t.point[0], centers[:, 1] - t.point[1])
        # closer is better, and anything within center_dist scores >= 1
        q[:, j] = np.where(dist <= rule.center_dist, 1.0 + 1.0 / (1.0 + dist), 0.0)
    return q


# ---------------------------------------------------------------------------- measures
def background_class(sky: np.ndarray | None, box: Box) -> str:
    """SKY when more than half of the box pixels are sky, NON_SKY otherwise (UNKNOWN: no mask)."""
    if sky is None:
        return UNKNOWN
    h, w = sky.shape[:2]
    c0, r0, c1, r1 = box_pixels(box, h, w)
    patch = sky[r0:r1, c0:c1]
    if patch.size == 0:
        return UNKNOWN
    return SKY if 2 * int(np.count_nonzero(patch)) > patch.size else NON_SKY


def local_contrast(gray: np.ndarray, box: Box, ring: int = RING_WIDTH) -> float:
    """(mean(box) - mean(ring)) / max(std(ring), STD_FLOOR); NaN when box or ring is empty."""
    h, w = gray.shape[:2]
    c0, r0, c1, r1 = box_pixels(box, h, w)
    if c1 <= c0 or r1 <= r0:
        return float("nan")
    o0, p0 = max(c0 - ring, 0), max(r0 - ring, 0)
    o1, p1 = min(c1 + ring, w), min(r1 + ring, h)
    outer = gray[p0:p1, o0:o1]
    inside = np.zeros(outer.shape, dtype=bool)
    inside[r0 - p0 : r1 - p0, c0 - o0 : c1 - o0] = True
    ring_px = outer[~inside]
    if ring_px.size == 0:
        return float("nan")
    diff = float(outer[inside].mean()) - float(ring_px.mean())
    return diff / max(float(ring_px.std()), STD_FLOOR)


def brightness_ranks(gray: np.ndarray, peaks: Sequence[float]) -> np.ndarray:
    """Percent of the image's pixels strictly brighter than each peak value."""
    flat = np.asarray(gray, dtype=np.float64).ravel()
    peaks = np.asarray(peaks, dtype=np.float64).reshape(-1)
    if peaks.size <= FEW_PEAKS:  # one pass per peak beats sorting a megapixel image
        brighter = np.array([np.count_nonzero(flat > p) for p in peaks], dtype=np.float64)
    else:
        srt = np.sort(flat)
        brighter = srt.size - np.searchsorted(srt, peaks, side="right")
    return 100.0 * brighter / max(flat.size, 1)


def target_peak(gray: np.ndarray, t: Target) -> float:
    """Brightest value of the target: over its mask, else its box, else its point's pixel."""
    h, w = gray.shape[:2]
    if t.mask is not None and t.mask.pixels.any():
        full = np.zeros((h, w), dtype=bool)
        t.mask.paste_into(full)
        if full.any():
            return float(gray[full].max())
    c0, r0, c1, r1 = box_pixels(_spot_box(t), h, w)
    patch = gray[r0:r1, c0:c1]
    return float(patch.max()) if patch.size else float("nan")


# ---------------------------------------------------------------------------- one image
def inspect_image(
    image_id: int,
    gray: np.ndarray,
    sky: np.ndarray | None,
    targets: Sequence[Target],
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    threshold: float,
    rule: MatchRule = MatchRule(),
    name: str = "",
) -> ImageInspection:
    """False alarms and misses of one image's detections at ``threshold``."""
    det_boxes = np.asarray(det_boxes, dtype=np.float64).reshape(-1, 4)
    det_scores = np.asarray(det_scores, dtype=np.float64).reshape(-1)
    keep = det_scores >= threshold
    det_boxes, det_scores = det_boxes[keep], det_scores[keep]
    det_ok, gt_ok = match_detections(det_boxes, det_scores, targets, rule)
    items: list[InspectionItem] = []
    for box, score in zip(det_boxes[~det_ok], det_scores[~det_ok], strict=True):
        b: Box = tuple(float(v) for v in box)  # type: ignore[assignment]
        items.append(
            InspectionItem(
                FA, image_id, b, float(score), background_class(sky, b), local_contrast(gray, b)
            )
        )
    for t, found in zip(targets, gt_ok, strict=True):
        if not found:
            b = _spot_box(t)
            items.append(
                InspectionItem(
                    MISS, image_id, b, None, background_class(sky, b), local_contrast(gray, b)
                )
            )
    return ImageInspection(
        image_id=image_id, name=name, n_targets=len(targets), n_detections=int(len(det_boxes)),
        n_true=int(det_ok.sum()), items=items,
    )  # fmt: skip


# ---------------------------------------------------------------------------- summary
@dataclass
class InspectionSummary:
    """Totals of one inspection run (one model version at one threshold), JSON-friendly."""

    version: str
    threshold: float
    n_images: int = 0
    n_targets: int = 0
    n_detections: int = 0
    n_true: int = 0
    fa_sky: int = 0
    fa_non_sky: int = 0
    fa_unknown: int = 0
    misses: int = 0
    per_image: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> counts
    rule: dict = field(default_factory=lambda: asdict(MatchRule()))

    @property
    def false_alarms(self) -> int:
        return self.fa_sky + self.fa_non_sky + self.fa_unknown

    @property
    def pd(self) -> float:
        """Probability of detection: found targets / targets."""
        return self.n_true / self.n_targets if self.n_targets else float("nan")

    @property
    def fa_per_image(self) -> float:
        return self.false_alarms / self.n_images if self.n_images else float("nan")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> InspectionSummary:
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def summarize(
    results: Iterable[ImageInspection],
    version: str,
    threshold: float,
    rule: MatchRule = MatchRule(),
) -> InspectionSummary:
    """Add up per-image results; false alarms split by background class."""
    s = InspectionSummary(version=version, threshold=float(threshold), rule=asdict(rule))
    for r in results:
        s.n_images += 1
        s.n_targets += r.n_targets
        s.n_detections += r.n_detections
        s.n_true += r.n_true
        s.fa_sky += r.count(FA, SKY)
        s.fa_non_sky += r.count(FA, NON_SKY)
        s.fa_unknown += r.count(FA, UNKNOWN)
        s.misses += r.count(MISS)
        s.per_image[r.name or str(r.image_id)] = {
            "image_id": r.image_id, "fa": r.count(FA), "fa_sky": r.count(FA, SKY),
            "fa_non_sky": r.count(FA, NON_SKY), "miss": r.count(MISS),
        }  # fmt: skip
    return s


def cache_path(root: Path, version: str) -> Path:
    """Where a version's inspection summary is stored inside a project folder."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", version).strip("_")[:60] or "model"
    # the hash keeps names that sanitise alike ("v1 (a)" / "v1_a") in separate files
    digest = hashlib.sha1(version.encode("utf-8")).hexdigest()[:8]
    return Path(root) / CACHE_DIR / f"inspection_{safe}_{digest}.json"


def save_summary(root: Path, summary: InspectionSummary) -> Path:
    """Write the summary atomically (temp file in the same folder, then os.replace)."""
    path = cache_path(root, summary.version)
    atomic_write_text(path, summary.to_json())
    return path


def load_summaries(root: Path) -> dict[str, InspectionSummary]:
    """Every stored summary of the project; unreadable files are skipped (they are a cache)."""
    found = {}
    for path in sorted((Path(root) / CACHE_DIR).glob("inspection_*.json")):
        try:
            s = InspectionSummary.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable inspection cache %s: %s", path, exc)
            continue
        found[s.version] = s
    return found


# ---------------------------------------------------------------------------- crops
def crop_around(
    gray: np.ndarray, center: tuple[float, float], size: int = 48
) -> tuple[np.ndarray, int, int]:
    """A ``size`` x ``size`` uint8 crop centred on ``center`` (edge-padded, stretched to the
    crop's own range so that faint targets stay visible) and its origin (x0, y0) in the image."""
    h, w = gray.shape[:2]
    x0 = int(math.floor(center[0])) - size // 2
    y0 = int(math.floor(center[1])) - size // 2
    # slice what lies inside the image, then edge-pad only the crop (not the whole image)
    cx0, cy0 = min(max(x0, 0), w - 1), min(max(y0, 0), h - 1)
    cx1, cy1 = max(min(x0 + size, w), cx0 + 1), max(min(y0 + size, h), cy0 + 1)
    inner = np.asarray(gray[cy0:cy1, cx0:cx1], dtype=np.float64)
    left = min(max(cx0 - x0, 0), size - inner.shape[1])
    top = min(max(cy0 - y0, 0), size - inner.shape[0])
    pads = ((top, size - top - inner.shape[0]), (left, size - left - inner.shape[1]))
    crop = np.pad(inner, pads, mode="edge")
    lo, hi = np.percentile(crop, 1.0), crop.max()
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    out = np.clip((crop - lo) * scale, 0, 255).astype(np.uint8)
    return out, x0, y0


# ---------------------------------------------------------------------------- statistics
STAT_KEYS = ("width", "height", "area", "contrast", "rank")


@dataclass
class DatasetStats:
    """Per-target and per-image measures of a set of images (paper Fig. 3 and more)."""

    width: list[float] = field(default_factory=list)
    height: list[float] = field(default_factory=list)
    area: list[float] = field(default_factory=list)  # box area in px
    contrast: list[float] = field(default_factory=list)
    rank: list[float] = field(default_factory=list)  # % of image pixels brighter than the peak
    targets_per_image: list[int] = field(default_factory=list)
    sky_fraction: list[float] = field(default_factory=list)  # images with a sky mask only
    n_images: int = 0
    n_without_sky: int = 0

    @property
    def n_targets(self) -> int:
        return int(sum(self.targets_per_image))

    def add_image(self, gray: np.ndarray, ann: ImageAnnotation) -> None:
        """Measure every accepted target of one image and the image itself."""
        targets = [t for t in ann.targets if t.state == TargetState.ACCEPTED]
        self.n_images += 1
        self.targets_per_image.append(len(targets))
        if ann.sky is None:
            self.n_without_sky += 1
        else:
            self.sky_fraction.append(float(np.count_nonzero(ann.sky)) / max(ann.sky.size, 1))
        for t in targets:
            box = _spot_box(t)
            self.width.append(box[2] - box[0])
            self.height.append(box[3] - box[1])
            self.area.append((box[2] - box[0]) * (box[3] - box[1]))
            self.contrast.append(local_contrast(gray, box))
        self.rank.extend(brightness_ranks(gray, [target_peak(gray, t) for t in targets]).tolist())

    def arrays(self) -> dict[str, np.ndarray]:
        """Every per-target and per-image series as float arrays (NaNs dropped)."""
        out = {}
        for key in (*STAT_KEYS, "targets_per_image", "sky_fraction"):
            a = np.asarray(getattr(self, key), dtype=np.float64)
            out[key] = a[np.isfinite(a)]
        return out


def collect_stats(
    samples: Iterable[tuple[np.ndarray, ImageAnnotation]],
    progress: Callable[[int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> DatasetStats:
    """Statistics over (image, annotation) pairs; stops early (partial result) when cancelled."""
    stats = DatasetStats()
    for n, (image, ann) in enumerate(samples, start=1):
        if cancelled is not None and cancelled():
            break
        stats.add_image(as_gray(image), ann)
        if progress is not None:
            progress(n)
    return stats
