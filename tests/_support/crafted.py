"""Crafted bad files (header bombs, lying headers, PNGs with valid CRCs but bad data)."""

from __future__ import annotations

import struct
import zlib


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, raw: bytes, color: int = 0, depth: int = 8) -> bytes:
    """A PNG with the given IHDR and IDAT = zlib(raw), every CRC valid."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return b"".join([b"\x89PNG\r\n\x1a\n", png_chunk(b"IHDR", ihdr),
                     png_chunk(b"IDAT", zlib.compress(raw, 9)), png_chunk(b"IEND", b"")])  # fmt: skip


def png_bomb(width: int, height: int) -> bytes:
    """A real decompression bomb: all-zero gray rows, streamed through zlib (small file)."""
    comp = zlib.compressobj(9)
    row = bytes(1 + width)
    parts = []
    block = row * max(1, (1 << 20) // len(row))
    rows_per_block = len(block) // len(row)
    left = height
    while left > 0:
        n = min(left, rows_per_block)
        parts.append(comp.compress(block[: n * len(row)]))
        left -= n
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"".join([b"\x89PNG\r\n\x1a\n", png_chunk(b"IHDR", ihdr),
                     png_chunk(b"IDAT", b"".join(parts)), png_chunk(b"IEND", b"")])  # fmt: skip


def bmp_header_bomb(width: int = 50000, height: int = 50000) -> bytes:
    """A 70-byte BMP whose header claims width x height 24-bit pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    body = info + bytes(16)
    return b"BM" + struct.pack("<IHHI", 14 + len(body), 0, 0, 54) + body


def jpeg_header_bomb(width: int = 65000, height: int = 65000) -> bytes:
    """A tiny JPEG: SOI, a quantisation table, a frame header claiming width x height, EOI."""
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes(range(1, 65))
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + dqt + sof + bytes(200) + b"\xff\xd9"
