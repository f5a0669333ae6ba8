"""Library of real small-target patches for BAG-CP (numpy / OpenCV only).

A patch is cut from a labelled image around one target: its pixel mask when the target has one
(``TargetMask``), else its box. The stored intensity is the target's *contrast*: the crop minus a
local background estimate (median of a ring of non-target pixels around the target), clipped at
zero and zeroed outside the mask, so that adding it to a new background puts a target on top of that
background instead of dragging the old one along. Each patch also keeps its background level and
the source image's robust value range, so ``fitted`` can express it in units of that range and
``core.bagcp`` can rescale it to any destination image (8-bit, 16-bit or float).

Saved as one ``.npz`` (ragged patches flattened + their shapes), written atomically; callers keep a
project's library at ``<project>/bagcp_library.npz``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.domain import ImageAnnotation, Target, TargetState
from core.errors import FormatError, ImageReadError
from core.fileio import atomic_write_via

FORMAT_VERSION = 1
RING_PX = 3  # width of the background ring around a target (DenseSIRST targets are 1-9 px)
MAX_SIDE = 32  # larger "targets" are not small targets (mislabels, extended objects): skipped
_RANGE_SAMPLES = 16384  # pixels sampled for the robust value range (keeps it O(1) per image)


@dataclass(frozen=True, eq=False)
class TargetPatch:
    """One target cut from a labelled image.

    ``contrast`` float32 [h, w] is target minus local background (source units, >= 0, zero outside
    ``mask``); ``background`` is that local background level; ``vmin`` / ``vrange`` the source
    image's robust value range (``vrange`` > 0); ``source`` names the image it came from.
    """

    contrast: np.ndarray
    mask: np.ndarray
    background: float
    vmin: float
    vrange: float
    source: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class FittedPatch:
    """A patch resized to fit ``max_size`` and expressed in units of its source's value range.

    ``contrast`` float32 [h, w] = contrast / vrange; ``level`` = (background - vmin) / vrange.
    """

    contrast: np.ndarray
    mask: np.ndarray
    level: float


def gray_f32(image: np.ndarray) -> np.ndarray:
    """Float32 [H, W] intensity: the plane itself, or RGB(A) luminance (alpha ignored)."""
    img = np.asarray(image)
    if img.ndim == 2:
        return img.astype(np.float32, copy=False)
    if img.ndim == 3 and img.shape[2] == 1:
        return img[..., 0].astype(np.float32, copy=False)
    if img.ndim == 3 and img.shape[2] in (3, 4):
        rgb = img[..., :3].astype(np.float32)
        return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    raise ValueError(f"image of shape {img.shape} is neither [H, W] nor [H, W, 1|3|4]")


def value_range(gray: np.ndarray) -> tuple[float, float]:
    """Robust (low, span) of an image: 0.5th / 99.5th percentiles of a strided sample.

    A strided sample keeps this cheap on 16-bit megapixel frames, and percentiles keep one hot
    pixel from inflating the span. ``span`` falls back to max - min, then to 1.0 for flat images.
    """
    step = max(1, int(np.sqrt(gray.size / _RANGE_SAMPLES)))
    sample = gray[::step, ::step]
    lo, hi = np.percentile(sample, (0.5, 99.5))
    if hi <= lo:
        lo, hi = float(gray.min()), float(gray.max())
    span = float(hi - lo)
    return float(lo), (span if span > 0 else 1.0)


def _target_crop(target: Target, h: int, w: int) -> tuple[int, int, np.ndarray] | None:
    """(x0, y0, bool mask) of a target inside an h x w image, or None when it has no extent."""
    if target.mask is not None and target.mask.pixels.any():
        rows = np.flatnonzero(target.mask.pixels.any(axis=1))
        cols = np.flatnonzero(target.mask.pixels.any(axis=0))
        x0, y0 = target.mask.x0 + int(cols[0]), target.mask.y0 + int(rows[0])
        pixels = target.mask.pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    elif target.box is not None:
        bx0, by0, bx1, by1 = target.box
        x0, y0 = int(np.floor(bx0)), int(np.floor(by0))
        pixels = np.ones((int(np.ceil(by1)) - y0, int(np.ceil(bx1)) - x0), dtype=bool)
    else:
        return None  # a point alone says nothing about the target's extent
    # Clip to the image; a target partly outside keeps its visible part.
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + pixels.shape[1], w), min(y0 + pixels.shape[0], h)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    pixels = pixels[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    return (cx0, cy0, pixels) if pixels.any() else None


def _local_background(
    gray: np.ndarray, excluded: np.ndarray, x0: int, y0: int, own: np.ndarray
) -> float:
    """Median of the ring of non-target pixels around a crop (dense clusters excluded)."""
    h, w = gray.shape
    ph, pw = own.shape
    wx0, wy0 = max(x0 - RING_PX, 0), max(y0 - RING_PX, 0)
    wx1, wy1 = min(x0 + pw + RING_PX, w), min(y0 + ph + RING_PX, h)
    window = gray[wy0:wy1, wx0:wx1]
    ring = window[~excluded[wy0:wy1, wx0:wx1]]
    if ring.size >= 4:
        return float(np.median(ring))
    # Packed among other targets: fall back to every window pixel outside this target.
    mine = np.zeros(window.shape, dtype=bool)
    mine[y0 - wy0 : y0 - wy0 + ph, x0 - wx0 : x0 - wx0 + pw] = own
    rest = window[~mine]
    return float(np.median(rest)) if rest.size else float(window.min())


def extract_patches(
    image: np.ndarray, annotation: ImageAnnotation, source: str = "", max_side: int = MAX_SIDE
) -> list[TargetPatch]:
    """Cut one patch per accepted target of ``annotation`` (mask crop, else box crop)."""
    gray = gray_f32(image)
    h, w = gray.shape
    vmin, vrange = value_range(gray)
    everything = annotation.target_mask(h, w).astype(np.uint8)
    excluded = cv2.dilate(everything, np.ones((3, 3), np.uint8)).astype(bool)
    patches: list[TargetPatch] = []
    for target in annotation.targets:
        if target.state != TargetState.ACCEPTED:
            continue
        crop = _target_crop(target, h, w)
        if crop is None or max(crop[2].shape) > max_side:
            continue
        x0, y0, own = crop
        background = _local_background(gray, excluded, x0, y0, own)
        pixels = gray[y0 : y0 + own.shape[0], x0 : x0 + own.shape[1]]
        contrast = np.where(own, np.maximum(pixels - background, 0.0), 0.0).astype(np.float32)
        if contrast.max() <= 0:
            continue  # no positive contrast: pasting it would label an invisible target
        patches.append(TargetPatch(contrast, own.copy(), background, vmin, vrange, source))
    return patches


def _fit(patch: TargetPatch, max_size: int) -> FittedPatch:
    """Shrink a patch (keeping its aspect ratio) to fit max_size x max_size; never enlarge."""
    contrast = patch.contrast / np.float32(patch.vrange)
    mask = patch.mask
    ph, pw = mask.shape
    scale = min(1.0, max_size / max(ph, pw))
    if scale < 1.0:
        size = (max(1, round(pw * scale)), max(1, round(ph * scale)))  # cv2 wants (w, h)
        contrast, mask = resize_patch(contrast, mask, size[1], size[0])
    level = (patch.background - patch.vmin) / patch.vrange
    return FittedPatch(contrast.astype(np.float32), mask, float(level))


def resize_patch(
    contrast: np.ndarray, mask: np.ndarray, h: int, w: int
) -> tuple[np.ndarray, np.ndarray]:
    """Area-resize a contrast patch and its mask to h x w; the mask never comes out empty."""
    small = cv2.resize(contrast, (w, h), interpolation=cv2.INTER_AREA)
    cover = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    small_mask = cover >= 0.5
    if not small_mask.any():
        small_mask.flat[int(np.argmax(small))] = True
    return np.where(small_mask, small, 0.0).astype(np.float32), small_mask


class TargetLibrary:
    """An ordered collection of ``TargetPatch``; ``len(lib)`` patches, ``lib[i]`` the i-th."""

    def __init__(self, patches: Iterable[TargetPatch] = ()) -> None:
        self._patches: list[TargetPatch] = list(patches)
        self._fitted: dict[int, list[FittedPatch]] = {}
        self.skipped: list[str] = []  # "<id>: <reason>" for sources that could not be read

    def __len__(self) -> int:
        return len(self._patches)

    def __getitem__(self, index: int) -> TargetPatch:
        return self._patches[index]

    def __iter__(self) -> Iterator[TargetPatch]:
        return iter(self._patches)

    def add_image(self, image: np.ndarray, annotation: ImageAnnotation, source: str = "") -> int:
        """Add the patches of one labelled image; returns how many were added."""
        new = extract_patches(image, annotation, source)
        self._patches.extend(new)
        self._fitted.clear()
        return len(new)

    def fitted(self, max_size: int) -> list[FittedPatch]:
        """Every patch fitted into max_size x max_size, in range units (cached per size)."""
        if max_size not in self._fitted:
            self._fitted[max_size] = [_fit(p, max_size) for p in self._patches]
        return self._fitted[max_size]

    @classmethod
    def from_annotations(cls, items: Iterable[tuple[np.ndarray, ImageAnnotation]]) -> TargetLibrary:
        """Build from (image, annotation) pairs, e.g. a project's labelled images."""
        lib = cls()
        for i, (image, annotation) in enumerate(items):
            lib.add_image(image, annotation, source=str(i))
        return lib

    @classmethod
    def from_densesirst(
        cls,
        root: str | Path,
        split: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> TargetLibrary:
        """Build from a DenseSIRST folder (every image, or one split's ids).

        Unreadable samples are skipped and listed in ``skipped``; ``progress(done, total)`` is
        called after each image.
        """
        from core.formats import densesirst
        from core.imageio import read_image

        ids = densesirst.read_split(root, split) if split else densesirst.list_ids(root)
        lib = cls()
        for n, image_id in enumerate(ids, start=1):
            try:
                sample = densesirst.read_sample(root, image_id)
                lib.add_image(read_image(sample.image_path), sample.annotation, image_id)
            except (FormatError, ImageReadError) as exc:
                lib.skipped.append(f"{image_id}: {exc}")
            if progress is not None:
                progress(n, len(ids))
        return lib

    def save(self, path: str | Path) -> None:
        """Write the library as one .npz, atomically (temp file in the same folder + replace)."""
        path = Path(path)
        arrays = _to_arrays(self._patches)
        atomic_write_via(path, lambda tmp: _savez(tmp, arrays))

    @classmethod
    def load(cls, path: str | Path) -> TargetLibrary:
        """Read a library written by ``save``; FormatError names the file and what is wrong."""
        path = Path(path)
        if not path.is_file():
            raise FormatError(
                path,
                "target library not found; build one first (main.py synth "
                "builds it from a DenseSIRST folder)",
            )
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError) as exc:
            raise FormatError(
                path, f"not a readable .npz target library ({exc}); rebuild it"
            ) from exc
        return cls(_from_arrays(path, arrays))


def _to_arrays(patches: list[TargetPatch]) -> dict[str, np.ndarray]:
    """Flatten ragged patches into the arrays of the .npz format."""

    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    return {
        "version": np.array([FORMAT_VERSION], dtype=np.int32),
        "shapes": np.array([p.mask.shape for p in patches], dtype=np.int32).reshape(-1, 2),
        "contrast": cat([p.contrast.ravel() for p in patches], np.float32),
        "mask": cat([p.mask.ravel() for p in patches], bool),
        "background": np.array([p.background for p in patches], dtype=np.float64),
        "vmin": np.array([p.vmin for p in patches], dtype=np.float64),
        "vrange": np.array([p.vrange for p in patches], dtype=np.float64),
        "sources": np.array([p.source for p in patches], dtype=np.str_),
    }


_KEYS = ("version", "shapes", "contrast", "mask", "background", "vmin", "vrange", "sources")


def _from_arrays(path: Path, a: dict[str, np.ndarray]) -> list[TargetPatch]:
    """Rebuild patches from the .npz arrays, checking every size so a bad file fails loudly."""
    missing = [k for k in _KEYS if k not in a]
    if missing:
        raise FormatError(path, f"target library lacks {', '.join(missing)}; rebuild it")
    if int(a["version"].ravel()[0]) > FORMAT_VERSION:
        raise FormatError(path, "target library written by a newer SIRST Studio; update the app")
    shapes = a["shapes"].reshape(-1, 2).astype(np.int64)
    n = len(shapes)
    total = int(np.prod(shapes, axis=1).sum()) if n else 0
    sizes_ok = all(len(a[k]) == n for k in ("background", "vmin", "vrange", "sources"))
    if (
        (shapes <= 0).any()
        or len(a["contrast"]) != total
        or len(a["mask"]) != total
        or not sizes_ok
    ):
        raise FormatError(path, "target library arrays disagree in size (truncated?); rebuild it")
    if n and (a["vrange"] <= 0).any():
        raise FormatError(path, "target library has a non-positive value range; rebuild it")
    patches, offset = [], 0
    for i, (ph, pw) in enumerate(shapes):
        end = offset + int(ph * pw)
        mask = a["mask"][offset:end].reshape(ph, pw).astype(bool)
        contrast = a["contrast"][offset:end].reshape(ph, pw).astype(np.float32)
        patches.append(
            TargetPatch(
                contrast,
                mask,
                float(a["background"][i]),
                float(a["vmin"][i]),
                float(a["vrange"][i]),
                str(a["sources"][i]),
            )
        )
        offset = end
    return patches


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # through a file object: given a path without ".npz", numpy would append the suffix itself
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
