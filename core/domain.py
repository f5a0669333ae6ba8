"""Plain domain dataclasses that cross every layer boundary (core <-> app <-> widgets <-> model).

Coordinates are continuous pixel coordinates: pixel (col i, row j) covers [i, i+1) x [j, j+1).
Boxes use the DenseSIRST convention: (xmin, ymin, xmax, ymax) = (first column, first row,
last column + 1, last row + 1), i.e. the half-open box [xmin, xmax) x [ymin, ymax). Floats allowed.
Points are (x, y) = (column, row) as stored by DenseSIRST (integers there, floats here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class Split(StrEnum):
    TRAIN = "train"
    VAL = "val"
    TEST = "test"
    UNASSIGNED = "unassigned"


class ReviewStatus(StrEnum):
    NEW = "new"
    PRE_ANNOTATED = "pre-annotated"
    REVIEWED = "reviewed"


class Source(StrEnum):
    MANUAL = "manual"
    MODEL = "model"
    SYNTHETIC = "synthetic"


class TargetState(StrEnum):
    PROPOSAL = "proposal"
    ACCEPTED = "accepted"


class CanvasMode(StrEnum):
    """What a press on the canvas does: edit targets, draw a sky polygon, edit sky vertices,
    paint sky with a brush."""

    EDIT = "edit"
    DRAW_SKY = "draw_sky"
    EDIT_SKY = "edit_sky"
    PAINT_SKY = "paint_sky"


class PasteMode(StrEnum):
    """Copy-paste augmentation of the training crops (``train --paste``, the Training dock).

    BAGCP is the paper's BAG-CP (clusters in the sky, Gaussian blend); PLAIN is Table III's plain
    copy-paste (targets scattered anywhere, their pixels copied as they are), the ablation baseline.
    """

    BAGCP = "bagcp"
    PLAIN = "plain"
    OFF = "off"


class SkyOp(StrEnum):
    """How a drawn sky polygon combines with the sky mask."""

    ADD = "add"
    SUBTRACT = "subtract"


Box = tuple[float, float, float, float]  # (xmin, ymin, xmax, ymax), DenseSIRST convention
Point = tuple[float, float]  # (x, y) = (column, row)


@dataclass
class TargetMask:
    """A target's pixel mask as a crop: ``pixels[r, c]`` is image pixel (x0 + c, y0 + r)."""

    x0: int
    y0: int
    pixels: np.ndarray  # bool [h, w]

    def __post_init__(self) -> None:
        self.pixels = np.asarray(self.pixels, dtype=bool)
        if self.pixels.ndim != 2:
            raise ValueError("TargetMask.pixels must be a 2-D array")

    def paste_into(self, canvas: np.ndarray) -> None:
        """OR this mask into a full-image bool array (clipped to the canvas)."""
        h, w = canvas.shape[:2]
        ph, pw = self.pixels.shape
        x0, y0 = max(self.x0, 0), max(self.y0, 0)
        x1, y1 = min(self.x0 + pw, w), min(self.y0 + ph, h)
        if x1 <= x0 or y1 <= y0:
            return
        canvas[y0:y1, x0:x1] |= self.pixels[y0 - self.y0 : y1 - self.y0, x0 - self.x0 : x1 - self.x0]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TargetMask):
            return NotImplemented
        return (
            self.x0 == other.x0
            and self.y0 == other.y0
            and np.array_equal(self.pixels, other.pixels)
        )


@dataclass
class Target:
    """One small target. At least one of ``point`` / ``box`` is set."""

    point: Point | None = None
    box: Box | None = None
    mask: TargetMask | None = None
    source: Source = Source.MANUAL
    score: float | None = None
    state: TargetState = TargetState.ACCEPTED
    id: int | None = None  # database id; None until stored

    def __post_init__(self) -> None:
        if self.point is None and self.box is None:
            raise ValueError("a Target needs a point or a box")
        if self.box is not None:
            x0, y0, x1, y1 = (float(v) for v in self.box)
            if not (x1 > x0 and y1 > y0):
                raise ValueError(f"box {self.box} is empty or inverted (need xmax > xmin, ymax > ymin)")
            self.box = (x0, y0, x1, y1)
        if self.point is not None:
            self.point = (float(self.point[0]), float(self.point[1]))
        self.source = Source(self.source)
        self.state = TargetState(self.state)


@dataclass
class ImageInfo:
    """One image of a project, as listed in the GUI. ``path`` is absolute when resolved."""

    id: int | None
    name: str  # the image id, e.g. "Misc_1" (file stem); unique within a project
    path: str  # as stored: relative to the project root when inside it, else absolute
    width: int
    height: int
    bit_depth: int  # 8 or 16 (bits per sample in the file)
    channels: int  # 1, 3 or 4
    sha256: str
    split: Split = Split.UNASSIGNED
    status: ReviewStatus = ReviewStatus.NEW
    note: str = ""
    n_targets: int = 0  # accepted targets (filled by listing queries)
    n_proposals: int = 0
    # Sensor pixels the latest pre-annotation repaired (core.badpixels); None: none recorded.
    n_bad_pixels: int | None = None
    missing: bool = False  # file not found at the resolved path (filled by listing queries)
    # Teams (ADR 0008): bumped by every committed change (optimistic concurrency, live refresh);
    # who holds the image (claimed / assigned), who changed it last, who reviewed it.
    version: int = 0
    assignee: str | None = None
    edited_by: str | None = None
    reviewed_by: str | None = None


@dataclass
class ImageAnnotation:
    """Everything labelled on one image; what import produces and export consumes.

    ``sky`` is a full-image bool mask (True = sky) or None when the image has no sky label.
    ``target_mask_extra`` holds target-mask pixels that belong to no target's mask (kept so that an
    imported DenseSIRST target mask exports pixel-exact); None when empty.
    """

    targets: list[Target] = field(default_factory=list)
    sky: np.ndarray | None = None
    target_mask_extra: np.ndarray | None = None

    def target_mask(self, height: int, width: int, accepted_only: bool = True) -> np.ndarray:
        """Full-image bool target mask: union of target masks (box fill for mask-less targets)."""
        out = np.zeros((height, width), dtype=bool)
        if self.target_mask_extra is not None:
            out |= self.target_mask_extra
        for t in self.targets:
            if accepted_only and t.state != TargetState.ACCEPTED:
                continue
            if t.mask is not None:
                t.mask.paste_into(out)
            elif t.box is not None:
                x0, y0, x1, y1 = t.box
                xa, ya = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
                xb, yb = min(int(np.ceil(x1)), width), min(int(np.ceil(y1)), height)
                out[ya:yb, xa:xb] = True
        return out


@dataclass
class ModelVersion:
    id: int | None
    name: str
    path: str  # weights file (safetensors), relative to the project root when inside it
    created: str  # ISO 8601
    metrics: dict = field(default_factory=dict)
    preset: str = "default"
    active: bool = False
