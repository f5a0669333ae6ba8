"""IRCanvas display: window / gamma / colormap on 16-bit pixels, nearest-neighbour zoom, overlays
and loupe as rendered on screen (offscreen grabs of the viewport)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6 import QtCore, QtGui  # noqa: E402

from core.domain import Target, TargetState  # noqa: E402
from tests._support.windows import show_window  # noqa: E402
from widgets.canvas import IRCanvas  # noqa: E402
from widgets.display_controls import auto_levels, colormap_table, make_lut, render_rgb  # noqa: E402

BANDS = (1000, 2000, 3000, 5000)  # 16-bit values, one 10-px vertical band each


@pytest.fixture
def canvas(qtbot) -> IRCanvas:
    c = IRCanvas()
    qtbot.addWidget(c)
    show_window(qtbot, c, (600, 500))
    return c


def grab(c: IRCanvas) -> np.ndarray:
    """The viewport as uint8 [H, W, 3] (what the user sees)."""
    img = c.view.viewport().grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    return (
        np.frombuffer(img.constBits(), np.uint8).reshape(h, bpl)[:, : 3 * w].reshape(h, w, 3).copy()
    )


def screen_rgb(c: IRCanvas, shot: np.ndarray, x: float, y: float) -> np.ndarray:
    p = c.image_to_widget(x, y)
    return shot[p.y(), p.x()].astype(int)


def near(c: IRCanvas, shot: np.ndarray, x: float, y: float, r: int = 2) -> np.ndarray:
    """Screen pixels within r of an image point, [N, 3] (lines land on either side of a rounding)."""
    p = c.image_to_widget(x, y)
    return shot[p.y() - r : p.y() + r + 1, p.x() - r : p.x() + r + 1].reshape(-1, 3).astype(int)


def banded_canvas(c: IRCanvas) -> None:
    img = np.repeat(np.repeat(np.array(BANDS, dtype=np.uint16)[None, :], 10, axis=1), 40, axis=0)
    c.set_image(img)
    c.fit()


def band_colours(c: IRCanvas) -> list[np.ndarray]:
    shot = grab(c)
    return [screen_rgb(c, shot, 5 + 10 * k, 20) for k in range(len(BANDS))]


def test_window_on_raw_16_bit_values(canvas: IRCanvas) -> None:
    banded_canvas(canvas)
    canvas.set_display(levels=(1000, 5000), gamma=1.0, cmap="grey")
    got = [c[0] for c in band_colours(canvas)]
    assert np.allclose(got, [0, 64, 128, 255], atol=2)
    canvas.set_display(levels=(2000, 3000))  # narrow window: 2000 black, >= 3000 white
    got = [c[0] for c in band_colours(canvas)]
    assert np.allclose(got, [0, 0, 255, 255], atol=2)


def test_gamma_changes_mid_tones(canvas: IRCanvas) -> None:
    banded_canvas(canvas)
    canvas.set_display(levels=(1000, 5000), gamma=2.0, cmap="grey")
    got = [c[0] for c in band_colours(canvas)]
    assert np.allclose(got, [0, 16, 64, 255], atol=3)  # out = in ** 2
    canvas.set_display(gamma=0.5)
    got = [c[0] for c in band_colours(canvas)]
    assert np.allclose(got, [0, 128, 180, 255], atol=3)  # out = in ** 0.5


@pytest.mark.parametrize("cmap", ["inferno", "jet"])
def test_colormaps(canvas: IRCanvas, cmap: str) -> None:
    banded_canvas(canvas)
    canvas.set_display(levels=(1000, 5000), gamma=1.0, cmap=cmap)
    table = colormap_table(cmap)
    for got, idx in zip(band_colours(canvas), (0, 64, 128, 255), strict=True):
        assert np.abs(got - table[idx].astype(int)).max() <= 6, (cmap, idx, got, table[idx])
    assert canvas.display_controls.cmap_combo.currentText() == cmap


def test_auto_contrast_on_first_image_and_button(qtbot, canvas: IRCanvas) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(2000, 12000, (60, 80)).astype(np.uint16)
    canvas.set_image(img)
    assert canvas.display_settings().levels == pytest.approx(auto_levels(img))
    canvas.set_display(levels=(0, 65535))
    with qtbot.waitSignal(canvas.display_controls.display_changed):
        qtbot.mouseClick(canvas.display_controls.auto_button, QtCore.Qt.MouseButton.LeftButton)
    lo, hi = canvas.display_settings().levels
    assert lo == pytest.approx(np.percentile(img, 0.5), rel=0.01)
    assert hi == pytest.approx(np.percentile(img, 99.5), rel=0.01)
    # keep_view (refresh of the same image) keeps the user's window.
    canvas.set_display(levels=(3000, 4000))
    canvas.set_image(img, keep_view=True)
    assert canvas.display_settings().levels == (3000.0, 4000.0)


def test_gamma_spin_drives_the_canvas(canvas: IRCanvas) -> None:
    banded_canvas(canvas)
    canvas.set_display(levels=(1000, 5000), gamma=1.0, cmap="grey")
    canvas.display_controls.gamma_spin.setValue(2.0)  # as if typed by the user
    assert canvas.display_settings().gamma == 2.0
    assert np.allclose([c[0] for c in band_colours(canvas)], [0, 16, 64, 255], atol=3)


def test_nearest_neighbour_when_zoomed_in(canvas: IRCanvas) -> None:
    board = (np.indices((8, 8)).sum(axis=0) % 2 * 1000).astype(np.uint16)
    canvas.set_image(board)
    canvas.set_display(levels=(0, 1000), gamma=1.0, cmap="grey")
    canvas.center_on(4, 4, zoom=30)
    shot = grab(canvas)
    a, b = canvas.image_to_widget(2.0, 3.5), canvas.image_to_widget(6.0, 3.5)
    row = shot[a.y(), a.x() + 2 : b.x() - 2, 0]
    assert set(np.unique(row)) <= {0, 255}, "bilinear smoothing at high zoom"
    assert (row == 0).sum() > 40 and (row == 255).sum() > 40
    # Each image pixel covers ~30 x 30 screen pixels of one value.
    block = shot[a.y() - 10 : a.y() + 10, a.x() + 5 : a.x() + 25, 0]
    assert len(np.unique(block)) == 1


def test_overlays_are_drawn_and_selection_highlighted(canvas: IRCanvas) -> None:
    canvas.set_image(np.full((40, 40), 100, dtype=np.uint16))
    canvas.set_display(levels=(0, 1000), cmap="grey")
    canvas.set_targets(
        [
            Target(point=(10, 10), box=(8, 8, 13, 13), id=1),
            Target(
                point=(30, 30), box=(28, 28, 33, 33), id=2, state=TargetState.PROPOSAL, score=0.9
            ),
        ]
    )
    canvas.center_on(20, 20, zoom=12)

    def has(pixels: np.ndarray, colour: tuple[int, int, int]) -> bool:
        return bool((np.abs(pixels - np.array(colour)).max(axis=1) < 40).any())

    green, amber, cyan = (57, 255, 106), (255, 176, 32), (0, 229, 255)
    shot = grab(canvas)
    assert has(near(canvas, shot, 10.5, 8.0), green)  # top edge of the accepted box
    assert not has(near(canvas, shot, 10.5, 8.0), cyan)
    dashed = np.vstack([near(canvas, shot, x, 28.0) for x in np.arange(28.5, 33, 1.0)])
    assert has(dashed, amber)  # dashed edge of the proposal
    canvas.select([1])
    assert has(near(canvas, grab(canvas), 10.5, 8.0), cyan)
    canvas.set_score_threshold(0.95)  # the proposal disappears from the screen
    shot = grab(canvas)
    assert not has(
        np.vstack([near(canvas, shot, x, 28.0) for x in np.arange(28.5, 33, 1.0)]), amber
    )


def test_sky_fill_and_toggle(canvas: IRCanvas) -> None:
    canvas.set_image(np.full((40, 40), 100, dtype=np.uint16))
    canvas.set_display(levels=(0, 1000), cmap="grey")
    sky = np.zeros((40, 40), dtype=bool)
    sky[:20] = True
    canvas.set_sky(sky)
    canvas.fit()
    shot = grab(canvas)
    tinted, plain = screen_rgb(canvas, shot, 20, 8), screen_rgb(canvas, shot, 20, 32)
    assert tinted[2] > plain[2] + 5  # blue tint inside the sky only
    canvas.show_sky(False)
    shot = grab(canvas)
    assert np.array_equal(screen_rgb(canvas, shot, 20, 8), screen_rgb(canvas, shot, 20, 32))


def test_loupe_matches_the_display_mapping(qtbot, canvas: IRCanvas) -> None:
    rng = np.random.default_rng(2)
    img = rng.integers(0, 4000, (50, 60)).astype(np.uint16)
    canvas.set_image(img)
    canvas.set_display(levels=(500, 3500), gamma=0.7, cmap="inferno")
    canvas.center_on(30, 25, zoom=8)
    canvas.set_loupe_visible(True)  # off by default (L)
    qtbot.mouseMove(canvas.view.viewport(), canvas.image_to_widget(30.5, 25.5))
    loupe = canvas.loupe
    assert loupe.isVisible()
    shown = loupe._image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    k = 2 * loupe.radius + 1
    arr = np.frombuffer(shown.constBits(), np.uint8).reshape(k, shown.bytesPerLine())[:, : 3 * k]
    expected = render_rgb(
        img[25 - loupe.radius : 26 + loupe.radius, 30 - loupe.radius : 31 + loupe.radius],
        (500, 3500),
        make_lut("inferno", 0.7),
    )
    assert np.array_equal(arr.reshape(k, k, 3), expected)


def test_rgb_image_is_shown_as_luminance_with_raw_values(qtbot, canvas: IRCanvas) -> None:
    rgb = np.zeros((20, 20, 3), dtype=np.uint8)
    rgb[:, :, 0] = 200
    canvas.set_image(rgb)
    canvas.center_on(10, 10, zoom=10)
    with qtbot.waitSignal(canvas.cursor_moved) as blocker:
        qtbot.mouseMove(canvas.view.viewport(), canvas.image_to_widget(4.5, 4.5))
    assert blocker.args[2] == (200, 0, 0)
