"""Image perturbations of the robustness benchmark (benchmarks/robustness.py), in memory and seeded.

Each takes a grey frame ([H, W] uint8 or uint16, as ``core.imageio.to_gray`` gives it) and
returns a new frame of the same dtype and shape; labels move only under the flip
(``flip_boxes`` / ``flip_mask``), which are exact.

- ``gaussian_noise``: N(0, sigma) in **8-bit grey levels**, rounded to integers and clipped to
  the dtype's range, as a sensor writes integer counts. A 16-bit frame gets sigma scaled by its own
  (max - min) / 255: the model stretches a 16-bit frame over its min..max (core.imageio.
  to_model_input) and an 8-bit one over 0..255, so the noise is the same share of what the network
  sees in both.
- ``down_up``: area-average down to ``scale`` of the size (``cv2.INTER_AREA``), bilinear back up
  (``cv2.INTER_LINEAR``, half-pixel centres), rounded: the blur of a frame that was recorded or
  stored at half resolution.
- ``vflip``: rows reversed (top <-> bottom).
- ``to_16bit``: the frame as linear 16-bit counts ``v * 50 + 2000`` (benchmarks/eval_badpixels.py,
  the held-out run's 16-bit input), optionally with a fraction of isolated hot (16383) / dead (0)
  pixels (core.badpixels.inject_bad_pixels).
"""

from __future__ import annotations

import cv2
import numpy as np

from core.badpixels import inject_bad_pixels

HOT_16 = 16383  # a saturated 14-bit pixel in a 16-bit container (eval_badpixels.py)
DEAD_16 = 0


def _limits(img: np.ndarray) -> tuple[int, int]:
    if img.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"a grey uint8 / uint16 frame is expected, got {img.dtype}")
    return 0, int(np.iinfo(img.dtype).max)


def noise_sigma(img: np.ndarray, sigma8: float) -> float:
    """The noise std in the frame's own units for ``sigma8`` 8-bit grey levels (module docstring)."""
    _limits(img)
    if img.dtype == np.uint8:
        return float(sigma8)
    span = float(img.max()) - float(img.min()) if img.size else 0.0
    return float(sigma8) * max(span, 1.0) / 255.0


def gaussian_noise(img: np.ndarray, sigma8: float, rng: np.random.Generator) -> np.ndarray:
    """``img`` + N(0, sigma) (sigma in 8-bit grey levels, see ``noise_sigma``), rounded and clipped."""
    lo, hi = _limits(img)
    noisy = img.astype(np.float64) + rng.normal(0.0, noise_sigma(img, sigma8), img.shape)
    return np.clip(np.rint(noisy), lo, hi).astype(img.dtype)


def down_up(img: np.ndarray, scale: float = 0.5) -> np.ndarray:
    """Area-average down to ``scale`` of each side (at least 1 px), bilinear back to the size."""
    lo, hi = _limits(img)
    h, w = img.shape
    small = cv2.resize(img.astype(np.float32), (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    up = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.rint(up), lo, hi).astype(img.dtype)


def vflip(img: np.ndarray) -> np.ndarray:
    """Rows reversed (a copy)."""
    return np.ascontiguousarray(img[::-1])


def flip_boxes(boxes: np.ndarray, height: int) -> np.ndarray:
    """Boxes [N, 4] (x1, y1, x2, y2; pixel i covers [i, i + 1), DenseSIRST) of a frame ``height``
    rows high, after ``vflip``: y -> height - y, so [y1, y2) becomes [height - y2, height - y1)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
    b[:, [1, 3]] = height - b[:, [3, 1]]
    return b


def flip_mask(mask: np.ndarray) -> np.ndarray:
    """A mask after ``vflip`` (rows reversed, a copy)."""
    return np.ascontiguousarray(np.asarray(mask)[::-1])


def to_16bit(img: np.ndarray, bad_fraction: float = 0.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """An 8-bit frame as linear 16-bit ``v * 50 + 2000``; with ``bad_fraction`` > 0 that share of
    the pixels made isolated hot / dead (half each, seeded by ``rng``)."""
    if img.dtype != np.uint8:
        raise TypeError(f"an 8-bit frame is expected, got {img.dtype}")
    out = (img.astype(np.uint32) * 50 + 2000).astype(np.uint16)
    if bad_fraction > 0:
        if rng is None:
            raise ValueError("hot / dead pixels need a seeded generator")
        out, _coords = inject_bad_pixels(out, bad_fraction, rng, HOT_16, DEAD_16)
    return out
