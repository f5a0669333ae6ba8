"""The sky tools on a real X screen (ADR 0003): what "draw sky" and "edit sky" draw while the
user works, read from the root window's pixels, and what they store, read with plain sqlite3.

The frame is grayscale, so the cyan of the polygon being drawn / the ring handles and the white
of the selected vertex's handle can only come from the tools' overlays. The PNGs are kept in
the test's tmp_path (draw_sky.png, edit_sky.png) for a human look.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from tests.screen.harness import image_to_screen
from tests.screen.test_labelling_pass import Db, H, W, blob_project, wait_db  # noqa: F401 (fixture)

CYAN = np.array([0x00, 0xE5, 0xFF])  # widgets/overlays.py SELECTED: draft lines, ring handles
WHITE = np.array([0xFF, 0xFF, 0xFF])  # PREVIEW: the selected vertex's handle


def colour_near(shot: np.ndarray, x: float, y: float, colour: np.ndarray, r: int = 1) -> bool:
    """Whether the (2r+1)^2 screen pixels around (x, y) all have ``colour`` (+-40 a channel)."""
    xi, yi = int(round(x)), int(round(y))
    patch = shot[yi - r : yi + r + 1, xi - r : xi + r + 1].astype(int)
    return bool((np.abs(patch - colour) <= 40).all())


def cyan_share(shot: np.ndarray, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Share of the screen pixels along the straight line a -> b that are cyan (within one pixel
    across the line, none along it, so a dash pattern's gaps count as gaps)."""
    d = np.subtract(b, a)
    n = int(np.abs(d).max())
    across = np.array([-d[1], d[0]]) / np.hypot(*d)
    hits = 0
    for t in np.linspace(0.0, 1.0, n + 1):
        p = np.add(a, d * t)
        pixels = [shot[int(round(q[1])), int(round(q[0]))] for q in (p - across, p, p + across)]
        hits += any(bool((np.abs(px.astype(int) - CYAN) <= 40).all()) for px in pixels)
    return hits / (n + 1)


def test_draw_sky_and_edit_sky_on_screen(run_app, blob_project, tmp_path: Path):  # noqa: F811
    db = Db(blob_project)
    app = run_app(blob_project)
    screen = image_to_screen(app.wait_image("frame", timeout=60), W)
    app.focus()
    # Draw sky: three vertices placed, the cursor where the fourth will go.
    app.key("2")
    app.wait_for(lambda s: s["mode"] == "draw_sky", what="draw-sky mode")
    corners = [(20.5, 20.5), (150.5, 20.5), (150.5, 100.5), (20.5, 100.5)]
    for x, y in corners[:3]:
        app.click(*screen(x, y))
        time.sleep(0.5)  # not a double-click
    app.move(*screen(*corners[3]))
    time.sleep(0.5)
    shot = app.grab()
    Image.fromarray(shot).save(tmp_path / "draw_sky.png")
    for x, y in corners[:3]:  # a handle on each placed vertex
        assert colour_near(shot, *screen(x, y), CYAN), f"no draft handle at {(x, y)}"
    # Solid: the two placed edges and the rubber edge to the cursor; dashed (4 on, 3 off): the
    # edge that will close the polygon, from the cursor back to the first vertex.
    assert cyan_share(shot, screen(30.5, 20.5), screen(140.5, 20.5)) >= 0.95
    assert cyan_share(shot, screen(150.5, 30.5), screen(150.5, 90.5)) >= 0.95
    assert cyan_share(shot, screen(140.5, 100.5), screen(30.5, 100.5)) >= 0.95
    assert 0.35 <= cyan_share(shot, screen(20.5, 90.5), screen(20.5, 30.5)) <= 0.8
    assert db.sky() is None  # nothing stored while drawing
    app.click(*screen(*corners[3]))
    time.sleep(0.5)
    app.key("Return")
    sky = wait_db(db.sky, "the drawn sky")
    assert sky[24:98, 24:148].all() and not sky[106:].any() and not sky[:, 156:].any()

    # Edit sky: select the bottom-right vertex (white handle, the ring's other vertices cyan),
    # then drag it 20 px right and down.
    app.key("3")
    app.wait_for(lambda s: s["mode"] == "edit_sky", what="edit-sky mode")
    rows, cols = np.nonzero(sky)
    corner = (cols.max() + 0.5, rows.max() + 0.5)  # the stored ring's bottom-right vertex
    app.click(*screen(*corner))
    time.sleep(0.5)
    shot = app.grab()
    Image.fromarray(shot).save(tmp_path / "edit_sky.png")
    assert colour_near(shot, *screen(*corner), WHITE, r=2), "no selected-vertex handle"
    top_left = (cols.min() + 0.5, rows.min() + 0.5)
    assert colour_near(shot, *screen(*top_left), CYAN), "no handle on the ring's other vertices"
    app.drag(screen(*corner), screen(corner[0] + 20, corner[1] + 20))
    edited = wait_db(lambda: (m := db.sky()) is not None and m[int(corner[1]) + 15, int(corner[0]) + 15] and m,
                     "the moved vertex")  # fmt: skip
    assert edited[24:98, 24:148].all()  # the rest of the polygon stays sky
    assert edited.shape == (H, W) and not edited[:, 175:].any()

    # Paint sky (brush, radius 6 image px): its outline follows the cursor, a held drag shows
    # the stroke in a translucent cyan, the release stores the capsule it swept.
    app.key("4")
    app.wait_for(lambda s: s["mode"] == "paint_sky", what="paint-sky mode")
    scale = screen(1, 0)[0] - screen(0, 0)[0]
    cx, cy, radius = 40.5, 212.5, 6.0
    sx, sy = screen(cx, cy)
    app.move(sx, sy)
    time.sleep(0.5)
    shot = app.grab()
    Image.fromarray(shot).save(tmp_path / "paint_sky_cursor.png")
    ring = radius * scale
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        assert any(colour_near(shot, sx + dx * (ring + e), sy + dy * (ring + e), CYAN, r=0) for e in (-1, 0, 1)), (
            f"no brush outline at {(dx, dy)}")  # fmt: skip
    assert not colour_near(shot, sx, sy, CYAN, r=0) and not colour_near(shot, sx + ring / 2, sy, CYAN, r=0)
    end = screen(cx + 60, cy)
    app.xdotool("mousedown", 1)
    for k in range(1, 9):
        app.move(sx + (end[0] - sx) * k / 8, sy)
        time.sleep(0.03)
    time.sleep(0.4)
    shot = app.grab()
    Image.fromarray(shot).save(tmp_path / "paint_sky_stroke.png")
    mid = shot[int(round(sy)) - 2 : int(round(sy)) + 3, int(round(sx + 30 * scale)) - 2 : int(round(sx + 30 * scale)) + 3]
    tint = mid[..., 2].astype(int) - mid[..., 0].astype(int)  # the frame is gray: blue - red is the fill's
    assert (tint > 40).all(), f"no stroke preview (blue - red {tint.min()} .. {tint.max()})"
    assert db.sky()[int(cy)].sum() == 0  # nothing stored before the release
    app.xdotool("mouseup", 1)
    painted = wait_db(lambda: (m := db.sky()) is not None and m[int(cy), int(cx) + 30] and m, "the brush stroke")
    assert painted[int(cy) - 4 : int(cy) + 5, int(cx) : int(cx) + 61].all()
    assert not painted[int(cy) + 8 :, :].any() and not painted[int(cy) - 8 : int(cy) - 7, :].any()
