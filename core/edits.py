"""Edits of one image's labels as plain values: what changed, before and after.

An ``AnnotationEdit`` is the unit of write-through and of undo: ``Project.apply_edit`` commits it
in one transaction, and its ``inverse()`` undoes it. Every change names its image, and targets are
named by ids that are never reused (ADR 0004), so an edit can only ever touch its own image.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np

from core.domain import ReviewStatus, Source, Split, Target, TargetState
from core.errors import DamagedMask, ProjectError
from core.maskcodec import decode_png, encode_png


class ImageField(StrEnum):
    """Per-image fields an edit may change (values: ReviewStatus, Split, str)."""

    STATUS = "status"
    SPLIT = "split"
    NOTE = "note"


FIELD_TYPES = {ImageField.STATUS: ReviewStatus, ImageField.SPLIT: Split, ImageField.NOTE: str}


@dataclass(frozen=True)
class TargetChange:
    """``before`` None: an insertion; ``after`` None: a deletion; both: an update (same id)."""

    before: Target | None
    after: Target | None

    def __post_init__(self) -> None:
        if self.before is None and self.after is None:
            raise ValueError("a TargetChange needs a before or an after target")
        if self.before is not None and self.before.id is None:
            raise ValueError("the target before a change must be a stored one (it has no id)")
        if self.before is not None and self.after is not None and self.before.id != self.after.id:
            raise ValueError(f"an update keeps its id ({self.before.id} -> {self.after.id})")

    @property
    def id(self) -> int | None:
        return self.before.id if self.before is not None else self.after.id

    def inverse(self) -> TargetChange:
        return TargetChange(self.after, self.before)


@dataclass(frozen=True)
class Region:
    """A stored region (the sky): its mask as the PNG bytes kept in the database, plus where it
    came from. PNG, not the array, so that a long undo history stays small; the decoded array is
    cached so that the document never decodes what it has just encoded."""

    png: bytes
    source: Source = Source.MANUAL
    model_version_id: int | None = None
    _mask: np.ndarray | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_mask(
        cls, mask: np.ndarray, source: Source = Source.MANUAL, model_version_id: int | None = None
    ) -> Region:
        arr = np.array(mask, dtype=bool)  # a copy: the caller may go on modifying its array
        arr.flags.writeable = False
        try:
            png = encode_png(arr)
        except ValueError as exc:  # not a 2-D mask: the store could not keep it
            raise ProjectError(str(exc)) from None
        return cls(png, Source(source), model_version_id, arr)

    def view(self) -> np.ndarray:
        """The decoded mask, shared and read-only (decoded on first use)."""
        if self._mask is None:
            arr = decode_png(self.png)
            if arr is None:
                raise DamagedMask()
            arr.flags.writeable = False
            object.__setattr__(self, "_mask", arr)
        return self._mask

    def mask(self) -> np.ndarray:
        """A fresh bool array (callers may modify it)."""
        return self.view().copy()


@dataclass(frozen=True)
class RegionChange:
    """The sky of one state (accepted or proposed) replaced; None = no such region."""

    state: TargetState
    before: Region | None
    after: Region | None

    def inverse(self) -> RegionChange:
        return RegionChange(self.state, self.after, self.before)


def _bare(region: Region | None) -> Region | None:
    if region is None or region._mask is None:
        return region
    return Region(region.png, region.source, region.model_version_id)


@dataclass(frozen=True)
class BadPixels:
    """The sensor pixels the bad-pixel filter (core.badpixels) repaired before the model saw the
    image, as the project stores them: int32 little-endian (x, y) pairs. Bytes, not an array, so
    that the value compares and hashes like the rest of an edit; an empty value means the filter
    ran and found none."""

    blob: bytes = b""

    @classmethod
    def from_coords(cls, coords: np.ndarray) -> BadPixels:
        arr = np.asarray(coords)
        if arr.size and (arr.ndim != 2 or arr.shape[1] != 2):
            raise ValueError(f"bad pixels are (x, y) rows, got an array of shape {arr.shape}")
        return cls(arr.reshape(-1, 2).astype("<i4").tobytes())

    def coords(self) -> np.ndarray:
        """int32 [K, 2] (x, y), a fresh array."""
        if len(self.blob) % 8:
            raise ValueError(f"a stored bad-pixel list is damaged ({len(self.blob)} bytes)")
        return np.frombuffer(self.blob, "<i4").reshape(-1, 2).astype(np.int32)

    def __len__(self) -> int:
        return len(self.blob) // 8


@dataclass(frozen=True)
class BadPixelChange:
    """The repaired pixels recorded with the image replaced; None = none recorded (never
    pre-annotated with the filter on)."""

    before: BadPixels | None
    after: BadPixels | None

    def inverse(self) -> BadPixelChange:
        return BadPixelChange(self.after, self.before)


@dataclass(frozen=True)
class FieldChange:
    name: ImageField
    before: object
    after: object

    def inverse(self) -> FieldChange:
        return FieldChange(self.name, self.after, self.before)


@dataclass(frozen=True)
class AnnotationEdit:
    """Everything one user action (or one pre-annotation result) changed on one image."""

    image_id: int
    text: str
    targets: tuple[TargetChange, ...] = ()
    regions: tuple[RegionChange, ...] = ()
    fields: tuple[FieldChange, ...] = ()
    # The sensor pixels a pre-annotation repaired (None: this edit leaves them as they are).
    bad_pixels: BadPixelChange | None = None
    # The image's version once this edit was committed (ADR 0008); None: not committed / unknown.
    version: int | None = None

    def inverse(self) -> AnnotationEdit:
        return AnnotationEdit(
            self.image_id,
            self.text,
            tuple(c.inverse() for c in self.targets),
            tuple(c.inverse() for c in self.regions),
            tuple(c.inverse() for c in self.fields),
            self.bad_pixels.inverse() if self.bad_pixels is not None else None,
        )

    def compact(self) -> AnnotationEdit:
        """The same edit without decoded mask arrays (what an undo history should keep: a
        1280x1024 sky is 1.3 MB decoded, a few kB as PNG)."""
        regions = tuple(
            RegionChange(r.state, _bare(r.before), _bare(r.after)) for r in self.regions
        )
        return replace(self, regions=regions)

    @property
    def is_empty(self) -> bool:
        return not (self.targets or self.regions or self.fields or self.bad_pixels)

    def merged_with(self, later: AnnotationEdit) -> AnnotationEdit:
        """This edit followed by ``later`` as one (consecutive nudges of the same targets)."""
        if later.image_id != self.image_id:
            raise ValueError("only edits of the same image merge")
        first = {c.id: c for c in self.targets}
        merged = dict(first)
        for c in later.targets:
            before = first[c.id].before if c.id in first else c.before
            merged[c.id] = TargetChange(before, c.after)
        fields = {f.name: f for f in self.fields}
        for f in later.fields:
            fields[f.name] = FieldChange(f.name, fields[f.name].before if f.name in fields
                                         else f.before, f.after)  # fmt: skip
        regions = {r.state: r for r in self.regions}
        for r in later.regions:
            regions[r.state] = RegionChange(r.state, regions[r.state].before if r.state in regions
                                            else r.before, r.after)  # fmt: skip
        pixels = later.bad_pixels or self.bad_pixels
        if self.bad_pixels is not None and later.bad_pixels is not None:
            pixels = BadPixelChange(self.bad_pixels.before, later.bad_pixels.after)
        return replace(
            self,
            targets=tuple(merged.values()),
            bad_pixels=pixels,
            regions=tuple(regions.values()),
            fields=tuple(fields.values()),
            version=later.version,
        )


@dataclass
class ImageLabels:
    """One image's labels as the document loads them (every target state, both skies)."""

    info: object  # core.domain.ImageInfo
    targets: list[Target]
    sky: Region | None
    sky_proposal: Region | None
    bad_pixels: BadPixels | None = None  # repaired by the latest pre-annotation (None: not recorded)
