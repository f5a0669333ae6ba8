"""The 20x20 inspection scene whose numbers are known by hand (tests/unit/test_inspect.py and the
inspector / statistics GUI tests): rows alternate 8 / 12, sky = rows 0-9, three bright squares."""

from __future__ import annotations

import numpy as np

from core.domain import Target

BOX_A = (4.0, 4.0, 6.0, 6.0)  # target, value 50, sky, contrast 20, detected
BOX_B = (4.0, 14.0, 6.0, 16.0)  # target, value 60, non-sky, contrast 25, missed
BOX_FA = (14.0, 14.0, 16.0, 16.0)  # false alarm, value 30, non-sky, contrast 10


def scene_pixels() -> tuple[np.ndarray, np.ndarray]:
    """(uint8 image, sky mask) of the scene."""
    img = np.where(np.arange(20)[:, None] % 2 == 0, 8, 12).repeat(20, axis=1).astype(np.uint8)
    img[4:6, 4:6] = 50
    img[14:16, 4:6] = 60
    img[14:16, 14:16] = 30
    sky = np.zeros((20, 20), dtype=bool)
    sky[:10] = True
    return img, sky


def scene_targets() -> list[Target]:
    """The two labelled targets (A in the sky, B below it); the false alarm is not labelled."""
    return [Target(point=(4.5, 4.5), box=BOX_A), Target(point=(4.5, 14.5), box=BOX_B)]
