"""Palette (indexed-colour) PNG writing without extra dependencies, VOC colormap.

DenseSIRST ships its masks twice: as 0/255 grayscale and as palette PNGs where index 0 is the
background and 1 the target (or sky), coloured with the Pascal VOC colormap. Upstream target
palettes are 1-bit with 2 colours, sky palettes 8-bit with the full 256-colour map; we match both.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np


def voc_colormap(n: int = 256) -> np.ndarray:
    """The Pascal VOC label colormap, uint8 [n, 3] (bits of the index spread over R, G, B)."""
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


_VOC = voc_colormap()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_palette_png(indices: np.ndarray, palette_size: int = 256) -> bytes:
    """PNG bytes of a uint8 [H, W] index image. ``palette_size`` 2 gives a 1-bit file with the
    colours black and red (as upstream target masks); 256 an 8-bit file with the VOC colormap."""
    indices = np.ascontiguousarray(indices, dtype=np.uint8)
    h, w = indices.shape
    if palette_size == 2:
        if indices.max(initial=0) > 1:
            raise ValueError("a 2-colour palette PNG holds only indices 0 and 1")
        rows = np.packbits(indices, axis=1)  # 1 bit per pixel, MSB first, rows padded to bytes
        depth, palette = 1, bytes([0, 0, 0, 255, 0, 0])
    else:
        rows, depth, palette = indices, 8, _VOC[:palette_size].tobytes()
    raw = np.hstack([np.zeros((h, 1), np.uint8), rows]).tobytes()  # filter type 0 on every row
    ihdr = struct.pack(">IIBBBBB", w, h, depth, 3, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", ihdr),
            _chunk(b"PLTE", palette),
            _chunk(b"IDAT", zlib.compress(raw, 3)),
            _chunk(b"IEND", b""),
        ]
    )
