"""Image file I/O at full depth: PNG, TIFF, JPEG, BMP; 8/16-bit; gray, RGB, RGBA.

Files are only ever read here. Pixels come back as ``uint8`` or ``uint16`` arrays, ``[H, W]`` for
grayscale or ``[H, W, C]`` (C = 3 in RGB order, or 4 = RGBA). Every failure is an
``ImageReadError`` that names the file and says why.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core import fileio, imagelimits
from core.display import check_gamma, window
from core.errors import ImageReadError
from core.imagelimits import HeaderProblem

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
_TIFF_SUFFIXES = (".tif", ".tiff")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"
# Percentiles on a subsample: a 1918x1080 frame needs no more than this many samples.
_MAX_PERCENTILE_SAMPLES = 1 << 18


@dataclass(frozen=True)
class ImageHeader:
    """What an image file holds, read without decoding the pixels when the format allows."""

    width: int
    height: int
    bit_depth: int  # 8 or 16
    channels: int  # 1, 3 or 4


# ---------------------------------------------------------------------------- reading
def read_image(path: Path | str) -> np.ndarray:
    """The file's pixels at full depth (uint8 / uint16), RGB order for colour images."""
    path = Path(path)
    if path.suffix.lower() in _TIFF_SUFFIXES:
        img = _read_tiff(path)
    else:
        img = _read_cv2(path)
    return _normalise_layout(path, img)


def _read_bytes(path: Path) -> bytes:
    """The whole file, if it is a regular file (never a FIFO or device) of sane size."""
    try:
        return fileio.read_regular_bytes(path, fileio.MAX_IMAGE_BYTES)
    except OSError as exc:
        raise _open_error(path, exc) from None


def _check_file(path: Path) -> None:
    try:
        fileio.check_regular(path, fileio.MAX_IMAGE_BYTES)
    except OSError as exc:
        raise _open_error(path, exc) from None


def _open_error(path: Path, exc: OSError) -> ImageReadError:
    """Why a file could not be opened, in words that say what to do about it."""
    if isinstance(exc, FileNotFoundError):
        return ImageReadError(path, "file not found; check the path or re-link the image")
    if isinstance(exc, IsADirectoryError):
        return ImageReadError(path, "is a folder, not an image file")
    return ImageReadError(path, f"cannot open the file ({exc.strerror or exc})")


def _check_head(path: Path, data: bytes) -> tuple[int, int] | None:
    """Header size check before any decoder sees the bytes (see core.imagelimits)."""
    try:
        return imagelimits.check_head(data)
    except HeaderProblem as exc:
        raise ImageReadError(path, str(exc)) from None


def _decode(path: Path, data: bytes) -> np.ndarray | None:
    size = _check_head(path, data)
    try:
        # imdecode (not imread) so that non-ASCII paths work everywhere
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # OpenCV's own limits and decoder failures
        raise ImageReadError(path, f"cannot decode the image ({exc.err or exc})") from None
    if img is not None and size is not None and img.shape[1::-1] != tuple(size):
        raise ImageReadError(
            path, f"header says {size[0]}x{size[1]} but the data is {img.shape[1]}x{img.shape[0]}"
        )
    return img


def _read_cv2(path: Path) -> np.ndarray:
    data = _read_bytes(path)
    if not data:
        raise ImageReadError(path, "the file is empty")
    _check_complete(path, data)
    img = _decode(path, data)
    if img is None:
        raise ImageReadError(
            path, "corrupt, truncated or unsupported image data (PNG, TIFF, JPEG or BMP expected)"
        )
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return img


def _check_complete(path: Path, data: bytes) -> None:
    """Catch truncated PNG/JPEG files that a decoder might half-decode without complaint."""
    if data.startswith(_PNG_SIGNATURE):
        if _PNG_END not in data[-4096:]:
            raise ImageReadError(path, "truncated PNG (no IEND chunk); re-copy the file")
    elif data.startswith(b"\xff\xd8"):
        if b"\xff\xd9" not in data[-4096:]:
            raise ImageReadError(path, "truncated JPEG (no end-of-image marker); re-copy the file")


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    _check_file(path)
    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.pages:
                raise ImageReadError(path, "the TIFF file has no image page")
            page = tif.pages[0]
            _check_tiff_shape(path, page.shape)
            img = page.asarray()
            photometric = getattr(page, "photometric", None)
    except ImageReadError:
        raise
    except Exception as exc:  # tifffile raises many types on corrupt data
        raise ImageReadError(path, f"corrupt or unsupported TIFF ({exc})") from None
    # planar (C, H, W) RGB pages come back channel-first
    if img.ndim == 3 and img.shape[0] in (3, 4) and img.shape[2] not in (3, 4):
        img = np.moveaxis(img, 0, -1)
    if photometric is not None and int(photometric) == 0 and img.ndim == 2:  # MINISWHITE
        img = np.iinfo(img.dtype).max - img if img.dtype.kind == "u" else img
    return img


def _check_tiff_shape(path: Path, shape: tuple[int, ...]) -> None:
    if len(shape) == 3 and shape[0] in (3, 4) and shape[2] not in (3, 4):
        shape = (shape[1], shape[2], shape[0])
    if len(shape) < 2:
        raise ImageReadError(path, f"TIFF page of shape {shape} is not an image")
    try:
        imagelimits.check_size(int(shape[1]), int(shape[0]))
    except HeaderProblem as exc:
        raise ImageReadError(path, str(exc)) from None


def _normalise_layout(path: Path, img: np.ndarray) -> np.ndarray:
    """Bring any decoded array to uint8/uint16 and [H, W] / [H, W, 3|4]."""
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    elif img.ndim == 3 and img.shape[2] == 2:  # gray + alpha: the alpha carries no IR signal
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ImageReadError(
            path, f"unsupported pixel layout {img.shape}; expected gray, RGB or RGBA"
        )
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.dtype not in (np.uint8, np.uint16):
        img = _to_uint(path, img)
    return np.ascontiguousarray(img)


def _to_uint(path: Path, img: np.ndarray) -> np.ndarray:
    """Integer samples that fit in 16 bits are kept exactly; anything else is refused."""
    if img.dtype.kind in "iu" and img.size:
        lo, hi = int(img.min()), int(img.max())
        if lo >= 0 and hi <= 65535:
            return img.astype(np.uint16)
    raise ImageReadError(
        path, f"unsupported sample type {img.dtype}; convert it to 8- or 16-bit unsigned integers"
    )


# ---------------------------------------------------------------------------- header
def read_header(path: Path | str) -> ImageHeader:
    """Width, height, bit depth and channels, without decoding pixels for PNG and TIFF."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        return _png_header(path)
    elif suffix in _TIFF_SUFFIXES:
        return _tiff_header(path)
    img = read_image(path)
    return header_of(img)


def header_of(img: np.ndarray) -> ImageHeader:
    """The header matching an already decoded image."""
    channels = 1 if img.ndim == 2 else int(img.shape[2])
    return ImageHeader(int(img.shape[1]), int(img.shape[0]), img.dtype.itemsize * 8, channels)


def _png_header(path: Path) -> ImageHeader:
    """Parse IHDR (and look for tRNS before IDAT), refusing sizes above the pixel limit."""
    _check_file(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            head = os.read(fd, 8192)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise ImageReadError(path, "file not found; check the path or re-link the image") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot open the file ({exc.strerror or exc})") from None
    return _png_header_of(path, head)


def _png_header_of(path: Path, head: bytes) -> ImageHeader:
    if not head.startswith(_PNG_SIGNATURE) or len(head) < 33 or head[12:16] != b"IHDR":
        raise ImageReadError(path, "not a PNG file (bad signature or missing IHDR)")
    width, height, depth, color = struct.unpack(">IIBB", head[16:26])
    _check_head(path, head)
    channels = {0: 1, 2: 3, 3: 3, 4: 4, 6: 4}.get(color)
    if channels is None:
        raise ImageReadError(path, f"PNG colour type {color} is invalid; the file is corrupt")
    if color == 3 and _png_has_trns(head):
        channels = 4  # palette with transparency decodes to RGBA
    bit_depth = 16 if depth == 16 else 8
    return ImageHeader(int(width), int(height), bit_depth, channels)


def _png_has_trns(head: bytes) -> bool:
    pos = 8
    while pos + 8 <= len(head):
        (length,) = struct.unpack(">I", head[pos : pos + 4])
        kind = head[pos + 4 : pos + 8]
        if kind == b"tRNS":
            return True
        if kind == b"IDAT":
            return False
        pos += 12 + length
    return False


def _tiff_header(path: Path) -> ImageHeader:
    import tifffile

    _check_file(path)
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            shape, dtype = page.shape, np.dtype(page.dtype)
            _check_tiff_shape(path, shape)
    except ImageReadError:
        raise
    except Exception as exc:  # tifffile raises many types on corrupt data
        raise ImageReadError(path, f"corrupt or unsupported TIFF ({exc})") from None
    if len(shape) == 3 and shape[0] in (3, 4) and shape[2] not in (3, 4):
        shape = (shape[1], shape[2], shape[0])
    channels = 1 if len(shape) == 2 or shape[2] in (1, 2) else int(shape[2])
    bit_depth = 8 if dtype.itemsize == 1 else 16  # bool pages are 1 byte too
    return ImageHeader(int(shape[1]), int(shape[0]), bit_depth, channels)


# ---------------------------------------------------------------------------- conversions
def to_gray(img: np.ndarray) -> np.ndarray:
    """[H, W] luminance (BT.601 weights) in the input dtype; alpha is ignored."""
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 1:
        return img[:, :, 0]
    rgb = img[:, :, :3].astype(np.float32)
    lum = rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114
    hi = np.iinfo(img.dtype).max if img.dtype.kind in "iu" else None
    lum = np.rint(lum)
    if hi is not None:
        lum = np.clip(lum, 0, hi)
    return lum.astype(img.dtype)


def display_window(
    img: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5
) -> tuple[float, float]:
    """(low, high) sample values at the given percentiles of the gray image (subsampled)."""
    gray = to_gray(img)
    step = max(1, int(np.sqrt(gray.size / _MAX_PERCENTILE_SAMPLES)))
    sample = gray[::step, ::step]
    lo, hi = np.percentile(sample, [low_pct, high_pct])
    if hi <= lo:  # flat image or extreme percentiles: widen so nothing divides by zero
        hi = lo + 1.0
    return float(lo), float(hi)


def normalize_for_display(
    img: np.ndarray,
    low_pct: float = 0.5,
    high_pct: float = 99.5,
    gamma: float = 1.0,
    levels: tuple[float, float] | None = None,
) -> np.ndarray:
    """uint8 [H, W] for the screen: window ``levels`` (default: the percentile window, which
    works for 14-bit data in 16-bit containers), then the display curve of core/display.py,
    ``v ** gamma`` (gamma < 1 brightens), the same as the canvas."""
    check_gamma(gamma)
    gray = to_gray(img)
    lo, hi = levels if levels is not None else display_window(gray, low_pct, high_pct)
    lo, hi = float(lo), float(hi)
    if hi <= lo:
        hi = lo + 1.0
    if gray.dtype in (np.uint8, np.uint16):
        # A lookup table over every possible sample value is cheaper than float math per pixel.
        values = np.arange(np.iinfo(gray.dtype).max + 1, dtype=np.float32)
        return _window(values, lo, hi, gamma)[gray]
    return _window(gray.astype(np.float32), lo, hi, gamma)


def _window(values: np.ndarray, lo: float, hi: float, gamma: float) -> np.ndarray:
    return np.rint(window(values, lo, hi, gamma) * 255.0).astype(np.uint8)


def to_model_input(img: np.ndarray) -> np.ndarray:
    """float32 [H, W] in [0, 1]: 8-bit / 255; 16-bit stretched over its own min..max, because
    14-bit (or narrower) data would otherwise sit in a sliver of [0, 1]."""
    gray = to_gray(img)
    if gray.dtype == np.uint8:
        return gray.astype(np.float32) * np.float32(1.0 / 255.0)
    out = gray.astype(np.float32)
    lo, hi = (float(out.min()), float(out.max())) if out.size else (0.0, 0.0)
    if hi <= lo:
        return np.zeros_like(out)
    out -= lo
    out *= np.float32(1.0 / (hi - lo))
    return out


def file_sha256(path: Path | str, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of the file's bytes (identifies an image even after it is moved)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
    except FileNotFoundError:
        raise ImageReadError(path, "file not found; check the path or re-link the image") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot open the file ({exc.strerror or exc})") from None
    return h.hexdigest()


# ---------------------------------------------------------------------------- writing helpers
def encode_png(img: np.ndarray) -> bytes:
    """PNG bytes of a uint8/uint16 gray, RGB or RGBA array (RGB order in, as read_image gives)."""
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img))
    if not ok:
        raise ValueError(f"cannot encode an array of shape {img.shape} / {img.dtype} as PNG")
    return buf.tobytes()


def probe_file(path: Path | str) -> tuple[ImageHeader, str]:
    """(header, sha256) of an image, proving it is intact (used by import: a corrupt or truncated
    file is refused here instead of failing later in the GUI). PNG files are checked chunk by
    chunk (every CRC) instead of decoded, which is ~10x faster; other formats are decoded."""
    path = Path(path)
    if path.suffix.lower() in _TIFF_SUFFIXES:
        return header_of(read_image(path)), file_sha256(path)
    data = _read_bytes(path)
    if not data:
        raise ImageReadError(path, "the file is empty")
    _check_complete(path, data)
    if data.startswith(_PNG_SIGNATURE):
        header = _png_header_of(path, data[:8192])
        _check_png_chunks(path, data)
        try:
            imagelimits.check_png_data(data)
        except HeaderProblem as exc:
            raise ImageReadError(path, str(exc)) from None
        return header, hashlib.sha256(data).hexdigest()
    img = _decode(path, data)
    if img is None:
        raise ImageReadError(
            path, "corrupt, truncated or unsupported image data (PNG, TIFF, JPEG or BMP expected)"
        )
    return header_of(_normalise_layout(path, img)), hashlib.sha256(data).hexdigest()


def _check_png_chunks(path: Path, data: bytes) -> None:
    """Walk the PNG chunks: lengths in bounds, CRCs right, IDAT present, IEND last."""
    pos, seen_idat, view = 8, False, memoryview(data)
    while True:
        if pos + 12 > len(data):
            raise ImageReadError(path, "truncated PNG (a chunk runs past the end of the file)")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 8 + length
        if end + 4 > len(data):
            raise ImageReadError(path, f"truncated PNG ({kind!r} chunk cut short)")
        (crc,) = struct.unpack(">I", data[end : end + 4])
        if zlib.crc32(view[pos + 4 : end]) != crc:
            raise ImageReadError(path, f"corrupt PNG (bad checksum in a {kind!r} chunk)")
        seen_idat |= kind == b"IDAT"
        if kind == b"IEND":
            break
        pos = end + 4
    if not seen_idat:
        raise ImageReadError(path, "corrupt PNG (no image data chunk)")
