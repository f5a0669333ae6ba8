"""Shared helpers of the format writers: atomic file writes (core.fileio), safe image ids and the
box a detection format writes for a target."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import fileio
from core.domain import Box, Target
from core.errors import FormatError

# path separators, Windows-reserved characters and every control character (a newline in a
# name would split a line of Splits/*.txt or ImageSets/*.txt)
_FORBIDDEN_ID_CHARS = set('/\\:*?"<>|') | {chr(c) for c in range(32)} | {"\x7f"}


def check_id(image_id: str, source: object = "image id") -> str:
    """Return ``image_id`` if it can be used as a file stem inside an output folder.

    Ids come from annotation files and split lists, so a crafted one (``../x``, ``/etc/x``)
    must never make a write land outside the output folder.
    """
    if not isinstance(image_id, str) or not image_id.strip():
        raise FormatError(source, "empty image id; every image needs a file name")
    bad = _FORBIDDEN_ID_CHARS.intersection(image_id)
    if bad or image_id in (".", "..") or image_id.startswith(".") or ".." in image_id:
        raise FormatError(
            source,
            f"unsafe image id {image_id!r} (path separators, '..', control or reserved "
            "characters); "
            "rename the image",
        )
    if image_id != image_id.strip():
        raise FormatError(source, f"image id {image_id!r} starts or ends with blanks; rename it")
    return image_id


def atomic_write_bytes(path: Path, data: bytes, fsync: bool = False) -> None:
    """Atomic write of one export file (core.fileio). No fsync by default: per-image files are
    many and a re-run repairs them; index files (written last) pass ``fsync=True``."""
    fileio.atomic_write_bytes(path, data, fsync=fsync)


def atomic_write_text(path: Path, text: str, fsync: bool = False) -> None:
    fileio.atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_copy(src: Path, dst: Path) -> None:
    """Byte-for-byte copy of the regular file ``src`` to ``dst`` through a temp file + rename."""
    fileio.atomic_copy(src, dst, fsync=False)


def detection_box(t: Target) -> Box | None:
    """The target's box, or its mask's bounding box; None for a bare point."""
    if t.box is not None:
        return t.box
    if t.mask is not None and t.mask.pixels.any():
        ys, xs = np.nonzero(t.mask.pixels)
        return (
            t.mask.x0 + xs.min(),
            t.mask.y0 + ys.min(),
            t.mask.x0 + xs.max() + 1,
            t.mask.y0 + ys.max() + 1,
        )
    return None
