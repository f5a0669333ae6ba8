"""Image size limits, checked from the file header BEFORE any decoder runs.

A 70-byte BMP can claim 50000 x 50000 pixels and a 333-byte JPEG 65000 x 65000: decoding them
allocates gigabytes or makes OpenCV raise. So every reader first parses the header (PNG IHDR,
BMP info header, JPEG SOF marker, TIFF page shape) and refuses images above the pixel limit,
with a reason that says how to raise it.

The limit is ``DEFAULT_MAX_PIXELS`` (100 megapixels; the largest IR frame we know of,
1918 x 1080 is 2 MP: 50x headroom), overridden by the ``SIRST_MAX_PIXELS`` environment variable or by
``set_max_pixels`` (the CLI's ``--max-pixels``). It applies to images and masks alike.

PNG pixel data is also verified without decoding: ``check_png_data`` inflates the IDAT stream
in bounded pieces and checks that it holds exactly the bytes the header promises, with valid
row filters, so a PNG whose header lies about its size or whose data cannot be decoded is
refused at import instead of being labelled "reviewed".
"""

from __future__ import annotations

import math
import os
import struct
import zlib

import numpy as np

DEFAULT_MAX_PIXELS = 100_000_000
ENV_VAR = "SIRST_MAX_PIXELS"
_override: int | None = None

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...): not C4/C8/CC
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # samples per pixel in the raw stream


class HeaderProblem(ValueError):
    """The header is invalid or claims too many pixels (message = the reason)."""


def max_pixels() -> int:
    """The pixel limit in force (set_max_pixels > SIRST_MAX_PIXELS > the default)."""
    if _override is not None:
        return _override
    raw = os.environ.get(ENV_VAR, "").strip()
    if raw:
        try:
            value = int(float(raw))
        except ValueError:
            value = 0
        if value > 0:
            return value
    return DEFAULT_MAX_PIXELS


def set_max_pixels(value: int | None) -> None:
    """Override the limit for this process (None: back to the environment / default)."""
    global _override
    if value is not None and value <= 0:
        raise ValueError(f"the pixel limit must be positive, got {value}")
    _override = value


def check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise HeaderProblem(f"header says {width}x{height} pixels; the file is corrupt")
    limit = max_pixels()
    if width * height > limit:
        raise HeaderProblem(
            f"header says {width}x{height} = {width * height / 1e6:.0f} megapixels, more than "
            f"the {limit / 1e6:g} MP limit (raise it with --max-pixels or {ENV_VAR})"
        )


def sniff_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of a PNG, BMP or JPEG file; None when the format
    is not one of these (TIFF is parsed by tifffile). HeaderProblem for a broken header."""
    if head.startswith(_PNG_SIGNATURE):
        if len(head) < 24 or head[12:16] != b"IHDR":
            raise HeaderProblem("not a PNG file (missing IHDR)")
        return struct.unpack(">II", head[16:24])
    if head.startswith(b"BM"):
        return _bmp_size(head)
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(head)
    return None


def _bmp_size(head: bytes) -> tuple[int, int]:
    if len(head) < 26:
        raise HeaderProblem("truncated BMP header")
    (info_size,) = struct.unpack("<I", head[14:18])
    if info_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        w, h = struct.unpack("<HH", head[18:22])
        return int(w), int(h)
    if len(head) < 26:
        raise HeaderProblem("truncated BMP header")
    w, h = struct.unpack("<ii", head[18:26])
    return int(w), abs(int(h))  # a negative height means top-down rows


def _jpeg_size(head: bytes) -> tuple[int, int]:
    pos = 2
    while pos + 4 <= len(head):
        if head[pos] != 0xFF:
            raise HeaderProblem("corrupt JPEG (bad marker)")
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", head[pos + 2 : pos + 4])
        if marker in _SOF:
            if pos + 9 > len(head):
                break
            h, w = struct.unpack(">HH", head[pos + 5 : pos + 9])
            return int(w), int(h)
        if marker == 0xDA or length < 2:  # scan data before any frame header
            raise HeaderProblem("corrupt JPEG (no frame header before the image data)")
        pos += 2 + length
    raise HeaderProblem("corrupt or truncated JPEG (no frame header found)")


def check_head(head: bytes) -> tuple[int, int] | None:
    """``sniff_size`` + ``check_size``: the size when known and within the limit."""
    size = sniff_size(head)
    if size is not None:
        check_size(*size)
    return size


# ---------------------------------------------------------------------------- PNG data
def _raw_size(width: int, height: int, bits_per_pixel: int, interlaced: bool) -> int:
    def rows(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + math.ceil(w * bits_per_pixel / 8))

    if not interlaced:
        return rows(width, height)
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
              (1, 0, 2, 2), (0, 1, 1, 2))  # fmt: skip
    return sum(
        rows(max(0, math.ceil((width - x0) / dx)), max(0, math.ceil((height - y0) / dy)))
        for x0, y0, dx, dy in passes
    )


def check_png_data(data: bytes) -> None:
    """Inflate a whole PNG's IDAT stream (in 1 MB pieces, so a zip bomb costs no memory) and
    check it holds exactly what IHDR promises; HeaderProblem otherwise. Chunk CRCs are the
    caller's business (``imageio._check_png_chunks``)."""
    width, height, depth, color, _c, _f, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if color not in _PNG_CHANNELS or depth not in (1, 2, 4, 8, 16):
        raise HeaderProblem(f"invalid PNG colour type {color} / bit depth {depth}")
    bpp = depth * _PNG_CHANNELS[color]
    expected = _raw_size(width, height, bpp, interlace == 1)
    stride = 1 + math.ceil(width * bpp / 8)
    inflater = zlib.decompressobj()
    total, pos = 0, 8
    try:
        while pos + 8 <= len(data):
            (length,) = struct.unpack(">I", data[pos : pos + 4])
            kind = data[pos + 4 : pos + 8]
            if kind == b"IDAT":
                pending = data[pos + 8 : pos + 8 + length]
                while pending:
                    out = inflater.decompress(pending, 1 << 20)
                    pending = inflater.unconsumed_tail
                    if interlace == 0 and out:  # every row starts with a filter type 0..4
                        first = (-total) % stride
                        if (np.frombuffer(out, np.uint8)[first::stride] > 4).any():
                            raise HeaderProblem("corrupt PNG (invalid row filter in the data)")
                    total += len(out)
                    if total > expected:
                        raise HeaderProblem(
                            f"corrupt PNG: the pixel data is larger than its {width}x{height} "
                            "header says"
                        )
                    if inflater.eof:
                        break
            elif kind == b"IEND":
                break
            pos += 12 + length
    except zlib.error as exc:
        raise HeaderProblem(f"corrupt PNG (the pixel data cannot be decompressed: {exc})") from None
    if total != expected or not inflater.eof:
        raise HeaderProblem(
            f"corrupt PNG: the pixel data holds {total} bytes, its {width}x{height} header "
            f"needs {expected}"
        )
