"""Repaired sensor pixels on a real X screen: after a pre-annotation that recorded them, the marker
colour (#ff3b30) is on screen around the mapped position of each injected defect, nowhere near a
clean pixel, and gone after B (the View toggle).

Truth: the defects injected into the 16-bit file (core.badpixels.inject_bad_pixels) and the image's
screen placement from the probe; the colour is the one the README documents."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.badpixels import clean_frame, inject_bad_pixels
from core.services.importer import import_images
from core.store.project import Project
from tests.screen.conftest import write_image

MARKER_RGB = np.array([255, 59, 48])  # README: "a small red x"


def marker_pixels(screen: np.ndarray, x: float, y: float, r: int = 6) -> int:
    """Pixels of the marker colour (+-40 per channel) within r screen pixels of (x, y)."""
    cx, cy = int(round(x)), int(round(y))
    patch = screen[cy - r : cy + r + 1, cx - r : cx + r + 1].astype(int)
    return int((np.abs(patch - MARKER_RGB).max(axis=2) <= 40).sum())


def test_markers_show_at_injected_defects_and_hide_with_b(run_app, tmp_path: Path):
    rng = np.random.default_rng(8)
    h, w = 120, 160
    yy, xx = np.mgrid[:h, :w]
    clean = (2000 + 20 * xx + 10 * yy + rng.normal(0, 10, (h, w))).astype(np.uint16)
    frame, injected = inject_bad_pixels(clean, 10 / (h * w), rng, hot=16383, dead=0)
    folder = tmp_path / "images"
    folder.mkdir()
    write_image(folder / "defects.png", frame)
    root = tmp_path / "project"
    with Project.create(root) as project:
        assert import_images(project, folder).added == 1
        _gray, found = clean_frame(frame)  # what the Predictor's filter repairs
        assert {tuple(c) for c in found.tolist()} == {tuple(c) for c in injected.tolist()}
        (info,) = project.list_images()
        project.propose(info.id, [], None, bad_pixels=found)

    app = run_app(root)
    state = app.wait_image("defects", timeout=240)  # app start on a loaded machine
    (ox, oy), (cx, cy) = state["image_origin"], state["image_corner"]
    sx, sy = (cx - ox) / w, (cy - oy) / h

    def screen_xy(x: float, y: float) -> tuple[float, float]:
        return ox + (x + 0.5) * sx, oy + (y + 0.5) * sy

    shot = app.grab()
    for x, y in injected.tolist():
        n = marker_pixels(shot, *screen_xy(x, y))
        assert n >= 6, f"no marker at defect ({x}, {y}): {n} marker-coloured pixels; {state}"
    # A clean pixel at least 12 image pixels from every defect has no marker colour near it.
    far = [(x, y) for x in range(8, w - 8, 9) for y in range(8, h - 8, 9)
           if np.abs(injected - [x, y]).max(axis=1).min() >= 12]  # fmt: skip
    assert far and all(marker_pixels(shot, *screen_xy(x, y)) == 0 for x, y in far)

    app.focus()
    app.key("b")
    app.wait_for(lambda s: True, timeout=5)
    hidden = app.grab()
    assert all(marker_pixels(hidden, *screen_xy(x, y)) == 0 for x, y in injected.tolist())
