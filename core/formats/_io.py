"""Shared helpers of the format writers: atomic file writes and safe image ids."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from core.errors import FormatError

_FORBIDDEN_ID_CHARS = set('/\\:*?"<>|\0')


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
            f"unsafe image id {image_id!r} (path separators, '..' or reserved characters); "
            "rename the image",
        )
    if image_id != image_id.strip():
        raise FormatError(source, f"image id {image_id!r} starts or ends with blanks; rename it")
    return image_id


def _temp_in(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file in the same folder, then rename over ``path``: readers see
    the old file or the new one, never a half-written one. (No fsync per file: on exports of
    thousands of files it costs more than the whole export, and a re-run repairs any loss.)"""
    fd, tmp = _temp_in(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(src: Path, dst: Path) -> None:
    """Byte-for-byte copy of ``src`` to ``dst`` through a temp file + rename."""
    fd, tmp = _temp_in(dst)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass  # already gone: nothing to clean
