"""Frames as the networks take them: zero-padded to a multiple of the stride, shrunk to a long
side (area average). Used by training data (model/data.py) and inference (model/inference.py,
the one prediction path: docs/adr/0021); depends on nothing else of the model package.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from core.badpixels import clean_frame
from core.imageio import to_model_input


def downscale(image: np.ndarray, long_side: int) -> np.ndarray:
    """float32 [H, W] shrunk (area average) so that max(H, W) == long_side; unchanged if smaller."""
    h, w = image.shape
    scale = long_side / max(h, w)
    if scale >= 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # cv2 wants (width, height)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _no_pixels() -> np.ndarray:
    return np.zeros((0, 2), np.int32)


@dataclass
class Prepared:
    """An image ready for the network: x float32 [1, 1, H', W'] (padded), size (H, W), the (x, y)
    of the pixels the bad-pixel filter repaired, and the whole-frame sky pass input (None: no pass,
    or the frame is no larger than the pass's long side, so the full-resolution map is that pass)."""

    x: np.ndarray
    size: tuple[int, int]
    bad_pixels: np.ndarray = field(default_factory=_no_pixels)
    sky_x: np.ndarray | None = None  # float32 [1, 1, h', w']: the shrunk frame, padded
    sky_size: tuple[int, int] | None = None  # (h, w) of the shrunk frame


def _padded(gray: np.ndarray, multiple: int) -> np.ndarray:
    h, w = gray.shape
    x = np.zeros((1, 1, -(-h // multiple) * multiple, -(-w // multiple) * multiple), np.float32)
    x[0, 0, :h, :w] = gray
    return x


def prepare_image(image: np.ndarray, multiple: int = 32, bad_pixel_filter: bool = True,
                  sky_long_side: int = 0, sky_always: bool = False, sky_min_scale: float = 0.0) -> Prepared:
    """Any image -> gray (bad pixels repaired), float32 in [0, 1], zero-padded network input; with
    ``sky_long_side`` > 0 and a larger frame, also the frame shrunk to it (area average) for the
    whole-frame sky pass (``sky_always``: the frame itself when it is no larger, for a dedicated
    sky network). ``sky_min_scale`` > 0: the shrunk frame keeps at least that fraction of the
    frame's long side (large frames get a finer sky)."""
    gray, bad = clean_frame(image, bad_pixel_filter)
    img = to_model_input(gray).astype(np.float32, copy=False)
    prepared = Prepared(_padded(img, multiple), img.shape, bad)
    if sky_long_side > 0 and sky_min_scale > 0:
        sky_long_side = max(sky_long_side, round(sky_min_scale * max(img.shape)))
    if sky_long_side > 0 and max(img.shape) > sky_long_side:
        small = downscale(img, sky_long_side)
        prepared.sky_x, prepared.sky_size = _padded(small, multiple), small.shape
    elif sky_always and sky_long_side > 0:
        prepared.sky_x, prepared.sky_size = prepared.x, img.shape
    return prepared
