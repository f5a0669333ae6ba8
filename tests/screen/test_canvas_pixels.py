"""What the canvas shows on a real X screen is the file's pixels through the shown window.

The expected screen gray of every visible canvas pixel is computed here from the array written to
the file (numpy: window, gamma, Rec. 601 luminance for RGB), never through the app's lookup
tables; only the placement of the image on screen comes from the app (app/screen_probe.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.services.importer import import_images
from core.store.project import Project
from tests.screen.conftest import test_pattern, write_image
from tests.screen.harness import compare_canvas, luminance

# name, height, width, dtype, rgb: sizes 160x120 ... 1920x1080, 8/16-bit, RGB; the first is small
# so that every later switch goes to a larger or differently shaped image.
IMAGES = [
    ("a01_small", 150, 200, np.uint8, False),
    ("a02_big16", 1024, 1280, np.uint16, False),
    ("a03_tiny", 120, 160, np.uint8, False),
    ("a04_hd_rgb", 1080, 1920, np.uint8, True),
    ("a05_qvga16", 240, 320, np.uint16, False),
    ("a06_vga", 512, 640, np.uint8, False),
    ("a07_hd16", 720, 1280, np.uint16, False),
]


@pytest.fixture
def sized_project(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    folder = tmp_path / "images"
    folder.mkdir()
    pixels = {}
    for k, (name, h, w, dtype, rgb) in enumerate(IMAGES):
        pixels[name] = test_pattern(h, w, dtype, rgb, seed=k)
        write_image(folder / f"{name}.png", pixels[name])
    root = tmp_path / "project"
    with Project.create(root) as project:
        report = import_images(project, folder)
    assert report.added == len(IMAGES)
    return root, pixels


def auto_window(gray: np.ndarray) -> tuple[float, float]:
    """The documented auto-contrast: 0.5 and 99.5 percentiles of the pixels."""
    lo, hi = np.percentile(gray, [0.5, 99.5])
    return float(lo), float(hi)


def assert_shows(app, state, pixels, levels, gamma=1.0, what=""):
    gray = luminance(pixels)
    shown = state["display"]["levels"]
    span = levels[1] - levels[0]
    assert abs(shown[0] - levels[0]) <= 0.01 * span and abs(shown[1] - levels[1]) <= 0.01 * span, (
        f"{what}: the app says window {shown}, expected {levels}"
    )
    result = compare_canvas(app.grab(), state, gray, levels, gamma)
    assert result["checked"] > 5000, f"{what}: too few canvas pixels visible: {result}"
    assert result["bad_fraction"] <= 0.002, f"{what}: screen differs from the file: {result}"


def test_switching_sizes_depths_and_views_shows_the_file(run_app, sized_project):
    root, pixels = sized_project
    app = run_app(root)
    names = [name for name, *_ in IMAGES]
    state = app.wait_image(names[0], timeout=60)
    assert_shows(app, state, pixels[names[0]], auto_window(luminance(pixels[names[0]])),
                 what=names[0])  # fmt: skip
    vx, vy, vw, vh = state["viewport"]
    app.focus()
    for name in names[1:]:
        app.key("d")
        state = app.wait_image(name)
        assert_shows(app, state, pixels[name], auto_window(luminance(pixels[name])), what=name)

    # Zoom in at a point (nearest-neighbour pixels), pan, fit: still the file's pixels.
    name, img = names[-1], pixels[names[-1]]
    window = auto_window(luminance(img))
    cx, cy = vx + vw // 2, vy + vh // 2
    app.move(cx, cy)
    app.xdotool("click", "--repeat", 14, "--delay", 30, 4)
    state = app.wait_for(lambda s: _zoom(s) > 2.5, what="zoom in")
    assert_shows(app, state, img, window, what="zoomed in")
    app.drag((cx, cy), (cx + 150, cy + 90), button=2)
    before = state["image_origin"]
    state = app.wait_for(lambda s: s["image_origin"] != before, what="pan")
    assert_shows(app, state, img, window, what="panned")
    app.key("f")
    state = app.wait_for(lambda s: _zoom(s) < 1.0, what="fit")
    assert_shows(app, state, img, window, what="fit")

    # Window / level: Full = the data range, typed gamma, a dragged window edge.
    full = (float(luminance(img).min()), float(luminance(img).max()))
    fx, fy, fw, fh = state["controls"]["full"]
    app.click(fx + fw / 2, fy + fh / 2)
    state = app.wait_for(lambda s: abs(s["display"]["levels"][1] - full[1]) < 1, what="Full")
    assert_shows(app, state, img, full, what="full range")
    gx, gy, gw, gh = state["controls"]["gamma"]
    app.click(gx + gw / 2, gy + gh / 2)
    app.key("ctrl+a")
    app.type("2.5")
    app.key("Return")
    state = app.wait_for(
        lambda s: abs(s["display"]["gamma"] - 2.5) < 1e-6, what="typed gamma 2.5"
    )
    assert_shows(app, state, img, full, gamma=2.5, what="gamma 2.5")
    (lx, ly), (hx, hy) = state["controls"]["level_lines"]
    app.drag((hx, hy), (hx - (hx - lx) * 0.4, hy))
    state = app.wait_for(lambda s: s["display"]["levels"][1] < full[1] - 100, what="window drag")
    dragged = tuple(state["display"]["levels"])
    assert full[0] - 1 <= dragged[0] < dragged[1] < full[1]
    assert_shows(app, state, img, dragged, gamma=2.5, what="dragged window")

    # Back to a smaller image (auto-contrast on: a new window; the gamma stays).
    app.click(vx + 3, vy + 3)
    app.key("s")
    state = app.wait_image(names[-2])
    assert_shows(app, state, pixels[names[-2]], auto_window(luminance(pixels[names[-2]])),
                 gamma=2.5, what="back to " + names[-2])  # fmt: skip


def _zoom(state: dict) -> float:
    (ox, _), (cx, _) = state["image_origin"], state["image_corner"]
    return (cx - ox) / state["shape"][1]
