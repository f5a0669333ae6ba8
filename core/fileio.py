"""The one place that writes and reads files safely: atomic writes, bounded regular-file reads.

Writes: a temp file in the destination folder, written, flushed, fsync'ed (optional, see
below), given the mode a plain ``open()`` would have given it under the user's umask, then
``os.replace``d over the destination. Readers see the old file or the new one, never half of
one; a killed writer leaves at most a hidden ``.<name>.*.tmp`` that no reader looks at.

``mkstemp`` creates files 0600; exported datasets and shared weights must come out 0644 under
umask 022 (as ``cp`` would make them), so the mode is set from the umask explicitly.

Reads: ``read_regular_bytes`` refuses anything that is not a regular file (a FIFO would block
forever, ``/dev/zero`` never ends) and anything larger than a limit, before reading a byte.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

# Size limits of the files we read whole. Annotation files of one image are small; a 16-bit
# 100 MP TIFF is 200 MB, so images get more room.
MAX_TEXT_BYTES = 64 << 20  # XML, point lists, split lists, JSON of one dataset
MAX_IMAGE_BYTES = 1 << 30


class UnreadableFile(OSError):
    """A path that is not a readable regular file of acceptable size (reason in ``strerror``)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(reason)
        self.path = str(path)
        self.strerror = reason
        self.filename = str(path)

    def __str__(self) -> str:
        return self.strerror


def _read_umask() -> int:
    """The process umask without changing it (Linux exposes it; elsewhere set-and-restore)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)  # not thread-safe, hence only the fallback
    os.umask(old)
    return old


def file_mode() -> int:
    """Mode a new regular file gets from ``open()`` under the current umask (0644 under 022)."""
    return 0o666 & ~_read_umask()


def _temp_in(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)


def atomic_write_via(path: Path | str, write: Callable[[Path], object], fsync: bool = True) -> None:
    """Atomic write through a callback that writes a file at the temp path it is given (for
    writers that want a path: ``torch.save``, ``safetensors.save_file``, ``shutil.copyfile``)."""
    path = Path(path)
    fd, tmp = _temp_in(path)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, file_mode())
        if fsync:
            _fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def atomic_write_bytes(path: Path | str, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically. ``fsync=False`` skips the flush to disk: for the
    thousands of per-image files of an export it costs more than the export itself, and an
    export's index files (written last, with fsync) tell whether it completed."""
    path = Path(path)
    fd, tmp = _temp_in(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), file_mode())
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def atomic_write_text(path: Path | str, text: str, fsync: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_copy(src: Path | str, dst: Path | str, fsync: bool = False) -> None:
    """Byte-for-byte copy of the regular file ``src`` to ``dst`` through a temp file."""
    src = Path(src)
    check_regular(src, MAX_IMAGE_BYTES)
    atomic_write_via(dst, lambda tmp: shutil.copyfile(src, tmp), fsync=fsync)


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass  # already gone: nothing to clean


# ---------------------------------------------------------------------------- reading
def check_regular(path: Path | str, max_bytes: int) -> int:
    """Size of ``path`` if it is a regular file of at most ``max_bytes``; UnreadableFile (or
    FileNotFoundError / IsADirectoryError) otherwise. Follows symlinks, like ``open``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UnreadableFile(path, f"cannot open the file ({exc.strerror or exc})") from None
    return _check_stat(path, st, max_bytes)


def _check_stat(path: Path | str, st: os.stat_result, max_bytes: int) -> int:
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(21, "is a folder, not a file", str(path))
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device or socket"
        raise UnreadableFile(path, f"is {kind}, not a regular file; only regular files are read")
    if st.st_size > max_bytes:
        raise UnreadableFile(
            path, f"is {st.st_size / 1e6:.0f} MB, more than the {max_bytes / 1e6:.0f} MB limit"
        )
    return st.st_size


def read_regular_bytes(path: Path | str, max_bytes: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``. Opened non-blocking, then checked
    on the open descriptor, so a FIFO swapped in after a check cannot block the read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (FileNotFoundError, IsADirectoryError):
        raise
    except OSError as exc:
        raise UnreadableFile(path, f"cannot open the file ({exc.strerror or exc})") from None
    try:
        size = _check_stat(path, os.fstat(fd), max_bytes)
        chunks, total = [], 0
        while True:  # size is a hint: the file may grow while we read, never past the limit
            block = os.read(fd, max(size - total, 0) + 65536)
            if not block:
                break
            total += len(block)
            if total > max_bytes:
                raise UnreadableFile(path, f"grew past the {max_bytes / 1e6:.0f} MB limit")
            chunks.append(block)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_regular_text(path: Path | str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """UTF-8 text of a regular file (UnicodeDecodeError for other encodings)."""
    return read_regular_bytes(path, max_bytes).decode("utf-8")
