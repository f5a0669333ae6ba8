"""A prefetched image shows exactly as one prepared on the GUI thread: same window, histogram,
pixels on screen and sky polygons (the prefetch thread only moves the work, never changes it)."""

from __future__ import annotations

import numpy as np

from core.geometry import mask_to_rings
from widgets.canvas import IRCanvas, prepare_image, sky_rings


def frame() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    img = rng.normal(9000, 300, size=(90, 120)).clip(0, 65535).astype(np.uint16)
    sky = np.zeros((90, 120), bool)
    sky[:40] = True
    sky[10:20, 30:50] = False  # a hole
    return img, sky


def shown(canvas: IRCanvas) -> tuple:
    curve = canvas.display_controls.curve.getData()
    rings = [(r.points.tobytes(), r.is_hole) for r in canvas._rings]
    return (canvas._settings.levels, curve[0].tobytes(), curve[1].tobytes(), rings,
            canvas.image_item.image.tobytes())  # fmt: skip


def test_prepared_image_and_rings_show_the_same(qtbot):
    img, sky = frame()
    plain, ready = IRCanvas(), IRCanvas()
    qtbot.addWidget(plain)
    qtbot.addWidget(ready)
    plain.set_image(img)
    plain.set_sky(sky)
    ready.set_image(img, prepared=prepare_image(img))
    ready.set_sky(sky, None, (sky_rings(sky), sky_rings(None)))
    assert shown(ready) == shown(plain)
    assert len(ready._rings) == len(mask_to_rings(sky)) == 2  # outer ring + hole


def test_a_preparation_of_other_pixels_is_ignored(qtbot):
    img, _ = frame()
    other = (img // 2).astype(np.uint16)
    canvas, reference = IRCanvas(), IRCanvas()
    qtbot.addWidget(canvas)
    qtbot.addWidget(reference)
    canvas.set_image(img, prepared=prepare_image(other))
    reference.set_image(img)
    assert canvas._settings.levels == reference._settings.levels
