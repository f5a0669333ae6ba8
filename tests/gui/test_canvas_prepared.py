"""A prefetched image shows exactly as one prepared on the GUI thread: same window, histogram,
pixels on screen and sky polygons (the prefetch thread only moves the work, never changes it)."""

from __future__ import annotations

import numpy as np

from core.geometry import mask_to_rings
from widgets.canvas import IRCanvas, prepare_image, sky_shapes


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
    item = canvas.sky_item
    outline = (item._path.elementCount(), [(e.x, e.y) for e in map(item._path.elementAt, range(item._path.elementCount()))],
               item.index.vertices.tobytes(), item.index.seg_end.tobytes(), item.index.bboxes.tobytes(),
               item.index.areas.tobytes(), item.holes)  # fmt: skip
    return (canvas._settings.levels, curve[0].tobytes(), curve[1].tobytes(), rings, outline,
            canvas.image_item.image.tobytes())  # fmt: skip


def test_prepared_image_and_rings_show_the_same(qtbot):
    img, sky = frame()
    plain, ready = IRCanvas(), IRCanvas()
    qtbot.addWidget(plain)
    qtbot.addWidget(ready)
    plain.set_image(img)
    plain.set_sky(sky)
    ready.set_image(img, prepared=prepare_image(img))
    ready.set_sky(sky, None, (sky_shapes(sky), sky_shapes(None)))
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


def proposal_sky() -> np.ndarray:
    prop = np.zeros((90, 120), bool)
    prop[30:50, :70] = True  # overlaps the accepted sky: both fills blend there
    return prop


def screen(canvas: IRCanvas) -> bytes:
    """The canvas view as painted (grabbed, not read from the item)."""
    canvas.fit()
    image = canvas.view.grab().toImage()
    return bytes(image.constBits())


def pair(qtbot) -> tuple[IRCanvas, IRCanvas]:
    plain, ready = IRCanvas(), IRCanvas()
    for c in (plain, ready):
        qtbot.addWidget(c)
        c.resize(360, 320)
    return plain, ready


def show_both(plain: IRCanvas, ready: IRCanvas, img, sky, prop, plan) -> None:
    ready.set_image(img, prepared=prepare_image(img, plan, (sky, prop)))
    ready.set_sky(sky, prop)
    plain.set_image(img)
    plain.set_sky(sky, prop)


def test_image_rendered_ahead_paints_the_same_pixels(qtbot):
    img, sky = frame()
    prop = proposal_sky()
    plain, ready = pair(qtbot)
    for c in (plain, ready):
        c.set_display(gamma=0.6, cmap="inferno")
    prepared = prepare_image(img, ready.display_plan(), (sky, prop))
    assert prepared.rendered is not None
    ready.set_image(img, prepared=prepared)
    ready.set_sky(sky, prop)
    plain.set_image(img)
    plain.set_sky(sky, prop)
    assert screen(ready) == screen(plain)
    assert ready.image_item.qimage is prepared.rendered.qimage  # the GUI thread did not render
    assert plain.image_item.qimage is not prepared.rendered.qimage
    # The sky fill is in those pixels: a sky pixel differs from the same value rendered unfilled.
    bare = prepare_image(img, ready.display_plan(), (None, None)).rendered.qimage
    assert bare.pixel(60, 5) != prepared.rendered.qimage.pixel(60, 5)
    assert bare.pixel(60, 80) == prepared.rendered.qimage.pixel(60, 80)  # ground: no fill


def test_a_render_for_another_display_or_sky_is_not_shown(qtbot):
    img, sky = frame()
    prop = proposal_sky()
    plain, ready = pair(qtbot)
    stale = ready.display_plan()
    for c in (plain, ready):  # the user changes the display after the prefetch
        c.set_display(gamma=2.0)
    show_both(plain, ready, img, sky, prop, stale)
    assert screen(ready) == screen(plain)
    # The labels changed after the prefetch (another sky): rendered again, with the new fills.
    edited = sky.copy()
    edited[60:80] = True
    ready.set_image(img, prepared=prepare_image(img, ready.display_plan(), (sky, prop)))
    ready.set_sky(edited, prop)
    plain.set_image(img)
    plain.set_sky(edited, prop)
    assert screen(ready) == screen(plain)
    # Sky hidden after the prefetch: no fills on screen.
    for c in (plain, ready):
        c.show_sky(True)
    plan = ready.display_plan()
    for c in (plain, ready):
        c.show_sky(False)
    show_both(plain, ready, img, sky, prop, plan)
    assert screen(ready) == screen(plain)


def test_manual_window_is_kept_in_the_render_ahead(qtbot):
    img, sky = frame()
    plain, ready = pair(qtbot)
    for c in (plain, ready):
        c.set_image(img)
        c.display_controls.auto_check.setChecked(False)
        c.set_display(levels=(8800, 9100))
    plan = ready.display_plan()
    assert not plan.auto and plan.levels == (8800.0, 9100.0)
    other = (img + 50).astype(np.uint16)
    prepared = prepare_image(other, plan, (sky, None))
    ready.set_image(other, prepared=prepared)
    ready.set_sky(sky)
    plain.set_image(other)
    plain.set_sky(sky)
    assert ready._settings.levels == plain._settings.levels == (8800.0, 9100.0)
    assert screen(ready) == screen(plain)
    assert ready.image_item.qimage is prepared.rendered.qimage
