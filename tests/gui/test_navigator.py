"""The Navigator dock (widgets/navigator.py, app/navigator_panel.py): a click or a drag pans the
canvas to the point under the mouse; the yellow rectangle is drawn where the canvas looks; the
picture is the file's pixels through the canvas's window."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app import navigator_panel
from core.display import window as display_window
from tests._support.windows import bare_window, show_window

NAV_W, NAV_H = 330, 300  # the navigator's size in the test; the demo frames are 320 x 256


@pytest.fixture
def setup(qtbot, app_project_dir: Path):
    w = bare_window(qtbot)
    panel = navigator_panel.install(w)
    show_window(qtbot, w, (1000, 700))
    assert w.open_project(app_project_dir)
    nav = panel.widget
    dock = w.findChild(type(w.image_dock), "dock_navigator")
    dock.setFloating(True)  # a known size, whatever the window's layout gives the dock
    nav.setFixedSize(NAV_W, NAV_H)
    dock.resize(NAV_W + 20, NAV_H + 40)
    qtbot.wait(50)
    yield w, nav
    w.close()


def frame_mapping(w) -> tuple[float, float, float]:
    """Scale and offset of the frame in the navigator, by hand: fit and centre."""
    h, wd = w.canvas.image().shape[:2]
    s = min(NAV_W / wd, NAV_H / h)
    return s, (NAV_W - wd * s) / 2, (NAV_H - h * s) / 2


def test_click_and_drag_pan_the_canvas(setup):
    w, nav = setup
    w.canvas.center_on(10.0, 10.0, 8.0)
    before = w.canvas.view_rect()
    s, ox, oy = frame_mapping(w)
    QTest.mouseClick(
        nav, Qt.MouseButton.LeftButton, pos=QPoint(round(ox + 200 * s), round(oy + 100 * s))
    )
    after = w.canvas.view_rect()
    assert after.center().x() == pytest.approx(200, abs=1 / s + 0.01)
    assert after.center().y() == pytest.approx(100, abs=1 / s + 0.01)
    assert after.width() == pytest.approx(before.width(), rel=0.01)  # the zoom stays
    # A drag: the view follows the mouse.
    start = QPoint(round(ox + 60 * s), round(oy + 50 * s))
    end = QPoint(round(ox + 250 * s), round(oy + 200 * s))
    QTest.mousePress(nav, Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(nav, end)
    QTest.mouseRelease(nav, Qt.MouseButton.LeftButton, pos=end)
    moved = w.canvas.view_rect()
    assert moved.center().x() == pytest.approx(250, abs=1 / s + 0.01)
    assert moved.center().y() == pytest.approx(200, abs=1 / s + 0.01)


def test_rectangle_and_picture_on_the_widget(setup, app_project_dir):
    w, nav = setup
    w.canvas.center_on(160.0, 128.0, 8.0)
    view = w.canvas.view_rect()
    s, ox, oy = frame_mapping(w)
    shot = nav.grab().toImage()
    # The rectangle's left edge, half way down: yellow (#ffd400).
    x = round(ox + view.left() * s) + 1
    y = round(oy + view.center().y() * s)
    c = shot.pixelColor(x, y)
    assert (c.red(), c.green(), c.blue()) == (255, 212, 0)
    # Far from the rectangle the picture is the file through the canvas's window and gamma.
    name = app_project_dir / w.current_info.path  # stored relative to the project
    gray = cv2.imread(str(name), cv2.IMREAD_UNCHANGED).astype(np.float64)
    if gray.ndim == 3:
        gray = gray[..., ::-1] @ np.array([0.299, 0.587, 0.114])
    settings = w.canvas.display_settings()
    px, py = 20, 20  # image point, well outside the view rectangle
    # Smooth scaling mixes a pixel with its neighbours: the range over them, +- 3 grey levels.
    near = display_window(gray[py - 1 : py + 2, px - 1 : px + 2], *settings.levels, settings.gamma)
    got = shot.pixelColor(round(ox + (px + 0.5) * s), round(oy + (py + 0.5) * s))
    assert near.min() * 255 - 3 <= got.red() <= near.max() * 255 + 3
    assert got.red() == got.green() == got.blue()
