"""The one mask codec: bool [H, W] masks <-> 8-bit PNG files and blobs.

On disk and in the project database a mask is an 8-bit single-channel PNG holding 0 and 255
(255 = target / sky), the DenseSIRST binary-mask convention. On reading, 0 is background and
any other value is foreground, so 0/1 index masks (DenseSIRST palette masks, many tools' label
images) and 0/255 masks mean the same; any other set of values is still read that way but is
reported by ``unusual_values`` so an import can warn (a mask with values 0..255 is usually a
resampled or JPEG-damaged file, and "non-zero" may not be what its author meant).
"""

from __future__ import annotations

import cv2
import numpy as np

FOREGROUND = 255


def to_uint8(mask: np.ndarray) -> np.ndarray:
    """uint8 [H, W] of 0 / 255 for a bool (or 0 / non-zero) mask."""
    arr = np.asarray(mask)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"a mask must be a non-empty 2-D array, got shape {arr.shape}")
    # bool bytes are 0 / 1: one uint8 multiply, no int64 temporary (import encodes every mask)
    return np.asarray(arr, dtype=bool).view(np.uint8) * np.uint8(FOREGROUND)


def encode_png(mask: np.ndarray) -> bytes:
    """PNG bytes of the mask as 0 / 255 (lossless: decoding gives the same pixels back)."""
    ok, buf = cv2.imencode(".png", to_uint8(mask))
    if not ok:
        raise ValueError(f"could not encode a mask of shape {np.shape(mask)} as PNG")
    return buf.tobytes()


def decode_png(blob: bytes) -> np.ndarray | None:
    """Fresh bool [H, W] of a mask PNG's bytes; None when the bytes are no decodable image."""
    img = cv2.imdecode(np.frombuffer(blob, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    return None if img is None else from_pixels(img)


def from_pixels(gray: np.ndarray) -> np.ndarray:
    """bool [H, W] of mask samples: 0 is background, anything else foreground."""
    return np.asarray(gray) != 0


def unusual_values(gray: np.ndarray) -> str | None:
    """A warning when the samples are not one of the plain encodings ({0, 1}, {0, 255},
    {0, 65535} or a single value); None when they are."""
    a = np.asarray(gray)
    if a.size and a.dtype.kind in "ui":  # the common case, in a few vectorised passes
        top = int(a.max())
        if top in (0, 1, 255, 65535) and np.count_nonzero(a) == np.count_nonzero(a == top):
            return None
    values = np.unique(a)
    nonzero = values[values != 0]
    if nonzero.size <= 1 and (nonzero.size == 0 or int(nonzero[0]) in (1, 255, 65535)):
        return None
    shown = ", ".join(str(int(v)) for v in values[:6]) + (" ..." if values.size > 6 else "")
    return (
        f"mask holds values {shown} (expected 0 and 255, or 0 and 1); "
        "every non-zero pixel was taken as foreground"
    )
