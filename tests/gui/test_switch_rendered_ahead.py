"""Through the real window: a prefetched image switch shows the image the prefetch thread rendered
(no render on the GUI thread), and it is pixel for pixel what a fresh canvas renders from the same
file and labels; a display change after the prefetch is never shown stale."""

from __future__ import annotations

import numpy as np
import pytest

from core.domain import TargetState
from core.imageio import read_image
from widgets.canvas import IRCanvas

pytestmark = pytest.mark.timeout(120)


def rendered_bytes(canvas: IRCanvas) -> bytes:
    canvas.view.grab()  # paints, so the image item renders what it shows
    image = canvas.image_item.qimage
    return bytes(image.constBits())[: image.sizeInBytes()]


def reference(qtbot, window, gamma: float) -> bytes:
    """A fresh canvas given the file's pixels and the project's sky masks (no prefetch)."""
    image_id = window.current_image_id
    info = window.project.get_image(image_id)
    pixels = read_image(window.project.resolve_path(info))
    canvas = IRCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    canvas.set_display(gamma=gamma)
    canvas.set_image(pixels)
    canvas.set_sky(
        window.project.sky_mask(image_id),
        window.project.sky_mask(image_id, TargetState.PROPOSAL),
    )
    return rendered_bytes(canvas)


def wait_prefetched(qtbot, window) -> int:
    following = window.image_list.neighbour_id(1)
    window._prefetch_neighbours()
    qtbot.waitUntil(lambda: window.prefetcher.is_ready(following), timeout=20_000)
    return following


def test_prefetched_switch_shows_the_render_made_ahead(qtbot, main_window):
    w = main_window
    following = wait_prefetched(qtbot, w)
    loaded = w.prefetcher.get(following)
    assert loaded.prepared.rendered is not None
    w.step_image(1)
    assert w.current_image_id == following
    shown = rendered_bytes(w.canvas)
    assert w.canvas.image_item.qimage is loaded.prepared.rendered.qimage
    assert shown == reference(qtbot, w, gamma=w.canvas.display_settings().gamma)


def test_display_changed_after_the_prefetch_is_rendered_again(qtbot, main_window):
    w = main_window
    following = wait_prefetched(qtbot, w)
    stale = w.prefetcher.get(following).prepared.rendered
    w.canvas.set_display(gamma=0.5)  # after the prefetch thread rendered the next image
    w.step_image(1)
    shown = rendered_bytes(w.canvas)
    assert w.canvas.image_item.qimage is not stale.qimage
    assert shown == reference(qtbot, w, gamma=0.5)
    assert shown != bytes(stale.qimage.constBits())[: stale.qimage.sizeInBytes()]
    assert np.isclose(w.canvas.display_settings().gamma, 0.5)
