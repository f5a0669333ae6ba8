"""IRCanvas editing interactions with real mouse / key events on the view's viewport."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6 import QtCore  # noqa: E402

from core.domain import Source, Target, TargetState  # noqa: E402
from core.geometry import Ring, mask_to_rings  # noqa: E402
from tests._support.windows import show_window  # noqa: E402
from widgets.canvas import CanvasError, IRCanvas  # noqa: E402

Qt = QtCore.Qt
LEFT = Qt.MouseButton.LeftButton


def _targets() -> list[Target]:
    return [
        Target(point=(20, 20), box=(19, 19, 22, 22), id=1),
        Target(
            point=(40, 30),
            box=(38, 28, 43, 33),
            id=2,
            state=TargetState.PROPOSAL,
            source=Source.MODEL,
            score=0.8,
        ),
        Target(
            point=(60, 50),
            box=(59, 49, 62, 52),
            id=3,
            state=TargetState.PROPOSAL,
            source=Source.MODEL,
            score=0.2,
        ),
        Target(point=(30, 60), id=4),  # point only
    ]


@pytest.fixture
def canvas(qtbot) -> IRCanvas:
    c = IRCanvas()
    qtbot.addWidget(c)
    show_window(qtbot, c, (700, 600))
    rng = np.random.default_rng(0)
    c.set_image((1000 + rng.normal(0, 20, (80, 100))).astype(np.uint16))
    c.set_targets(_targets())
    c.center_on(40, 40, zoom=6.0)
    return c


def vp(c: IRCanvas):
    return c.view.viewport()


def at(c: IRCanvas, x: float, y: float) -> QtCore.QPoint:
    return c.image_to_widget(x, y)


def drag(
    qtbot,
    c: IRCanvas,
    a: tuple[float, float],
    b: tuple[float, float],
    mods=Qt.KeyboardModifier.NoModifier,
):
    qtbot.mousePress(vp(c), LEFT, mods, at(c, *a))
    mid = (a[0] + (b[0] - a[0]) / 2, a[1] + (b[1] - a[1]) / 2)
    qtbot.mouseMove(vp(c), at(c, *mid))
    qtbot.mouseMove(vp(c), at(c, *b))
    qtbot.mouseRelease(vp(c), LEFT, mods, at(c, *b))


def test_mapping_round_trip(canvas: IRCanvas) -> None:
    p = at(canvas, 33.25, 41.75)
    x, y = canvas.widget_to_image(QtCore.QPointF(p))
    assert abs(x - 33.25) <= 0.5 / 6 + 1e-6 and abs(y - 41.75) <= 0.5 / 6 + 1e-6


def test_click_on_empty_image_requests_a_target(qtbot, canvas: IRCanvas) -> None:
    with qtbot.waitSignal(canvas.add_target_requested) as blocker:
        qtbot.mouseClick(vp(canvas), LEFT, pos=at(canvas, 50.3, 12.6))
    x, y = blocker.args
    assert abs(x - 50.3) <= 0.5 and abs(y - 12.6) <= 0.5


def test_click_outside_image_adds_nothing(qtbot, canvas: IRCanvas) -> None:
    canvas.center_on(0, 0, zoom=6.0)
    with qtbot.assertNotEmitted(canvas.add_target_requested):
        qtbot.mouseClick(vp(canvas), LEFT, pos=at(canvas, -5, -5))


def test_click_selects_and_ctrl_click_toggles(qtbot, canvas: IRCanvas) -> None:
    with qtbot.waitSignal(canvas.selection_changed) as blocker:
        qtbot.mouseClick(vp(canvas), LEFT, pos=at(canvas, 20.5, 20.5))
    assert blocker.args == [[1]]
    qtbot.mouseClick(vp(canvas), LEFT, Qt.KeyboardModifier.ControlModifier, at(canvas, 40.5, 30.5))
    assert canvas.selected_ids() == [1, 2]
    qtbot.mouseClick(vp(canvas), LEFT, Qt.KeyboardModifier.ShiftModifier, at(canvas, 20.5, 20.5))
    assert canvas.selected_ids() == [2]


def test_rubber_band_selection(qtbot, canvas: IRCanvas) -> None:
    with qtbot.assertNotEmitted(canvas.add_target_requested):
        drag(qtbot, canvas, (10, 10), (45, 35), Qt.KeyboardModifier.ControlModifier)
    assert canvas.selected_ids() == [1, 2]


def test_drag_moves_the_target(qtbot, canvas: IRCanvas) -> None:
    with qtbot.waitSignal(canvas.targets_edit_requested) as blocker:
        drag(qtbot, canvas, (20.5, 20.5), (25.6, 17.4))
    assert blocker.args == [[(1, (25.0, 17.0), (24.0, 16.0, 27.0, 19.0))]]
    assert canvas.selected_ids() == [1]


def test_drag_shows_live_feedback_before_release(qtbot, canvas: IRCanvas) -> None:
    qtbot.mousePress(vp(canvas), LEFT, pos=at(canvas, 20.5, 20.5))
    qtbot.mouseMove(vp(canvas), at(canvas, 23.5, 20.5))
    qtbot.mouseMove(vp(canvas), at(canvas, 24.5, 20.5))
    assert canvas.targets_item._preview == {1: ((24.0, 20.0), (23.0, 19.0, 26.0, 22.0))}
    qtbot.mouseRelease(vp(canvas), LEFT, pos=at(canvas, 24.5, 20.5))
    assert canvas.targets_item._preview == {}


def test_drag_of_a_box_edge_resizes(qtbot, canvas: IRCanvas) -> None:
    canvas.center_on(40, 30, zoom=20.0)  # the 5x5 box is 100 px wide: its edges are handles
    canvas.select([2])
    with qtbot.waitSignal(canvas.targets_edit_requested) as blocker:
        drag(qtbot, canvas, (43.0, 30.5), (45.2, 30.5))  # right edge
    assert blocker.args == [[(2, None, (38.0, 28.0, 45.0, 33.0))]]
    with qtbot.waitSignal(canvas.targets_edit_requested) as blocker:
        drag(qtbot, canvas, (38.0, 28.0), (36.9, 26.8))  # top-left corner
    assert blocker.args == [[(2, None, (37.0, 27.0, 43.0, 33.0))]]


def test_nudge_and_shift_nudge(qtbot, canvas: IRCanvas) -> None:
    canvas.select([1, 4])
    with qtbot.waitSignal(canvas.targets_edit_requested) as blocker:
        qtbot.keyClick(canvas.view, Qt.Key.Key_Right)
    assert blocker.args == [[(1, (21.0, 20.0), (20.0, 19.0, 23.0, 22.0)), (4, (31.0, 60.0), None)]]
    with qtbot.waitSignal(canvas.targets_edit_requested) as blocker:
        qtbot.keyClick(canvas.view, Qt.Key.Key_Up)
    assert blocker.args[0][0] == (1, (20.0, 19.0), (19.0, 18.0, 22.0, 21.0))
    with qtbot.waitSignal(canvas.targets_edit_requested) as blocker:
        qtbot.keyClick(canvas.view, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert blocker.args == [[(1, None, (19.0, 19.0, 22.0, 23.0))]]  # grows down; point-only skipped
    with qtbot.waitSignal(canvas.targets_edit_requested) as blocker:
        qtbot.keyClick(canvas.view, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert blocker.args == [[(1, None, (19.0, 19.0, 21.0, 22.0))]]  # shrinks from the right


def test_delete_accept_reject_keys(qtbot, canvas: IRCanvas) -> None:
    canvas.select([1, 2])
    with qtbot.waitSignal(canvas.delete_requested) as blocker:
        qtbot.keyClick(canvas.view, Qt.Key.Key_Delete)
    assert blocker.args == [[1, 2]]
    with qtbot.waitSignal(canvas.delete_requested):
        qtbot.keyClick(canvas.view, Qt.Key.Key_Backspace)
    with qtbot.waitSignal(canvas.accept_requested) as blocker:
        qtbot.keyClick(canvas.view, Qt.Key.Key_A)
    assert blocker.args == [[2]]  # only the selected proposal, not the accepted target
    with qtbot.waitSignal(canvas.reject_requested) as blocker:
        qtbot.keyClick(canvas.view, Qt.Key.Key_R)
    assert blocker.args == [[2]]
    canvas.select([])
    with (
        qtbot.assertNotEmitted(canvas.delete_requested),
        qtbot.assertNotEmitted(canvas.accept_requested),
    ):
        qtbot.keyClick(canvas.view, Qt.Key.Key_Delete)
        qtbot.keyClick(canvas.view, Qt.Key.Key_A)


def test_double_click_on_proposal_accepts(qtbot, canvas: IRCanvas) -> None:
    with qtbot.waitSignal(canvas.accept_requested) as blocker:
        qtbot.mouseDClick(vp(canvas), LEFT, pos=at(canvas, 40.5, 30.5))
    assert blocker.args == [[2]]


def test_score_threshold_hides_proposals(qtbot, canvas: IRCanvas) -> None:
    assert canvas.visible_ids() == [1, 2, 3, 4]
    canvas.select([2, 3])
    with qtbot.waitSignal(canvas.selection_changed) as blocker:
        canvas.set_score_threshold(0.5)
    assert blocker.args == [[2]]  # the hidden proposal leaves the selection
    assert canvas.visible_ids() == [1, 2, 4]
    # A hidden proposal cannot be hit: a click there asks for a new target instead.
    with qtbot.waitSignal(canvas.add_target_requested):
        qtbot.mouseClick(vp(canvas), LEFT, pos=at(canvas, 60.5, 50.5))
    canvas.set_score_threshold(0.9)
    assert canvas.visible_ids() == [1, 4]


def test_selection_survives_refresh_but_drops_deleted(qtbot, canvas: IRCanvas) -> None:
    canvas.select([1, 2])
    with qtbot.waitSignal(canvas.selection_changed) as blocker:
        canvas.set_targets(_targets()[1:])
    assert blocker.args == [[2]]


def test_cursor_reports_raw_value(qtbot, canvas: IRCanvas) -> None:
    img = canvas.image()
    with qtbot.waitSignal(canvas.cursor_moved) as blocker:
        qtbot.mouseMove(vp(canvas), at(canvas, 12.5, 7.5))
    x, y, value = blocker.args
    assert int(x) == 12 and int(y) == 7 and value == int(img[7, 12])
    assert str(value) in canvas.status.text()
    assert not canvas.loupe.isVisible()  # off by default: it would cover the canvas corner
    canvas.set_loupe_visible(True)
    qtbot.mouseMove(vp(canvas), at(canvas, 13.5, 7.5))
    assert canvas.loupe.isVisible()


def test_readout_follows_zoom_and_is_reset_by_a_new_image(qtbot, canvas: IRCanvas) -> None:
    img = canvas.image()
    qtbot.mouseMove(vp(canvas), at(canvas, 12.5, 7.5))
    assert f"= {int(img[7, 12])}" in canvas.status.text()
    canvas.center_on(12.5, 7.5, zoom=4.0)  # no mouse move: the label must still follow
    assert "zoom 4.00x" in canvas.status.text()
    canvas.set_image(np.zeros((30, 40), np.uint8))
    assert canvas.status.text().startswith("40 x 30")
    assert f"= {int(img[7, 12])}" not in canvas.status.text()


def test_wheel_zooms_at_the_cursor(qtbot, canvas: IRCanvas) -> None:
    from PySide6 import QtGui

    pos = QtCore.QPointF(at(canvas, 30.0, 50.0))
    z0 = canvas.zoom()
    ev = QtGui.QWheelEvent(
        pos,
        canvas.view.mapToGlobal(pos),
        QtCore.QPoint(),
        QtCore.QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    canvas.view.wheelEvent(ev)
    assert canvas.zoom() == pytest.approx(z0 * 1.0015**240, rel=0.02)  # two notches in
    x, y = canvas.widget_to_image(pos)
    assert abs(x - 30.0) < 0.3 and abs(y - 50.0) < 0.3  # the point under the cursor stays put


def test_pan_with_middle_drag_and_fit_key(qtbot, canvas: IRCanvas) -> None:
    before = canvas.widget_to_image(QtCore.QPointF(100, 100))
    qtbot.mousePress(vp(canvas), Qt.MouseButton.MiddleButton, pos=QtCore.QPoint(300, 300))
    qtbot.mouseMove(vp(canvas), QtCore.QPoint(330, 300))
    qtbot.mouseMove(vp(canvas), QtCore.QPoint(360, 300))
    qtbot.mouseRelease(vp(canvas), Qt.MouseButton.MiddleButton, pos=QtCore.QPoint(360, 300))
    after = canvas.widget_to_image(QtCore.QPointF(100, 100))
    assert after[0] == pytest.approx(before[0] - 60 / 6, abs=0.3)
    qtbot.keyClick(canvas.view, Qt.Key.Key_F)
    rect = canvas.viewbox.viewRect()
    assert rect.contains(QtCore.QRectF(0, 0, 100, 80))
    assert canvas.zoom() == pytest.approx(
        min(canvas.view.width() / 100, canvas.view.height() / 80), rel=0.05
    )


def test_draw_sky_polygon(qtbot, canvas: IRCanvas) -> None:
    canvas.set_mode("draw_sky")
    for x, y in ((10.2, 10.7), (30.4, 10.1), (30.9, 30.3)):
        qtbot.mouseClick(vp(canvas), LEFT, pos=at(canvas, x, y))
    with qtbot.waitSignal(canvas.sky_polygon_requested) as blocker:
        qtbot.keyClick(canvas.view, Qt.Key.Key_Return)
    ring, mode = blocker.args
    assert mode == "add" and ring.dtype == np.float64 and ring.shape == (3, 2)
    assert np.allclose(ring, [(10.2, 10.7), (30.4, 10.1), (30.9, 30.3)], atol=0.5)
    # Shift at closing subtracts; a double-click closes; Esc cancels.
    for x, y in ((50, 10), (70, 10), (70, 30)):
        qtbot.mouseClick(vp(canvas), LEFT, pos=at(canvas, x, y))
    with qtbot.waitSignal(canvas.sky_polygon_requested) as blocker:
        qtbot.mouseDClick(vp(canvas), LEFT, Qt.KeyboardModifier.ShiftModifier, at(canvas, 70, 30))
    assert blocker.args[1] == "subtract" and len(blocker.args[0]) == 3
    qtbot.mouseClick(vp(canvas), LEFT, pos=at(canvas, 5, 5))
    qtbot.mouseClick(vp(canvas), LEFT, pos=at(canvas, 9, 5))
    qtbot.keyClick(canvas.view, Qt.Key.Key_Escape)
    with qtbot.assertNotEmitted(canvas.sky_polygon_requested):
        qtbot.mouseClick(vp(canvas), LEFT, pos=at(canvas, 9, 9))
        qtbot.keyClick(canvas.view, Qt.Key.Key_Return)  # only one vertex since Esc: not closed


def test_sky_mode_flag_subtracts(qtbot, canvas: IRCanvas) -> None:
    canvas.set_mode("draw_sky")
    canvas.set_sky_mode("subtract")
    for x, y in ((10, 10), (30, 10), (30, 30)):
        qtbot.mouseClick(vp(canvas), LEFT, pos=at(canvas, x, y))
    with qtbot.waitSignal(canvas.sky_polygon_requested) as blocker:
        qtbot.keyClick(canvas.view, Qt.Key.Key_Enter)
    assert blocker.args[1] == "subtract"


def _sky_canvas(canvas: IRCanvas) -> np.ndarray:
    sky = np.zeros((80, 100), dtype=bool)
    sky[10:31, 20:51] = True
    canvas.set_sky(sky)
    canvas.set_mode("edit_sky")
    return sky


def test_edit_sky_vertex_drag(qtbot, canvas: IRCanvas) -> None:
    sky = _sky_canvas(canvas)
    old = mask_to_rings(sky)[0]
    with qtbot.waitSignal(canvas.sky_ring_edit_requested) as blocker:
        drag(qtbot, canvas, (50.5, 30.5), (55.2, 35.9))  # bottom-right corner vertex
    got_old, got_new = blocker.args
    assert isinstance(got_old, Ring) and got_old == old
    expected = old.points.copy()
    expected[np.all(expected == (50.5, 30.5), axis=1)] = (55.5, 35.5)
    assert np.array_equal(got_new.points, expected) and not got_new.is_hole


def test_edit_sky_insert_and_delete_vertex(qtbot, canvas: IRCanvas) -> None:
    sky = _sky_canvas(canvas)
    old = mask_to_rings(sky)[0]
    with qtbot.waitSignal(canvas.sky_ring_edit_requested) as blocker:
        drag(qtbot, canvas, (35.0, 10.5), (35.2, 4.7))  # press on the top edge, pull up
    new = blocker.args[1]
    assert len(new) == len(old) + 1 and (35.5, 4.5) in map(tuple, new.points)
    with qtbot.waitSignal(canvas.sky_ring_edit_requested) as blocker:
        qtbot.mouseClick(vp(canvas), Qt.MouseButton.RightButton, pos=at(canvas, 20.5, 10.5))
    assert len(blocker.args[1]) == len(old) - 1
    qtbot.mouseClick(vp(canvas), LEFT, pos=at(canvas, 50.5, 10.5))  # select a vertex
    with qtbot.waitSignal(canvas.sky_ring_edit_requested) as blocker:
        qtbot.keyClick(canvas.view, Qt.Key.Key_Delete)
    assert (50.5, 10.5) not in map(tuple, blocker.args[1].points)


def test_edit_sky_ring_delete(qtbot, canvas: IRCanvas) -> None:
    sky = _sky_canvas(canvas)
    qtbot.mouseClick(vp(canvas), LEFT, pos=at(canvas, 35, 20))  # inside the ring, off its edges
    with qtbot.waitSignal(canvas.sky_ring_delete_requested) as blocker:
        qtbot.keyClick(canvas.view, Qt.Key.Key_Delete)
    assert blocker.args[0] == mask_to_rings(sky)[0]


def test_bad_input_raises_typed_errors(canvas: IRCanvas) -> None:
    with pytest.raises(CanvasError, match="unknown canvas mode"):
        canvas.set_mode("paint")
    with pytest.raises(CanvasError, match="does not match the image"):
        canvas.set_sky(np.zeros((5, 5), dtype=bool))
    with pytest.raises(CanvasError, match="cannot display"):
        canvas.set_image(np.zeros((2, 3, 4, 5)))
    with pytest.raises(CanvasError, match="high > low"):
        canvas.set_display(levels=(5, 5))
    assert canvas.image().shape == (80, 100)  # nothing lost


def test_ctrl_a_selects_visible_and_ctrl_shift_a_is_left_to_the_app(
    qtbot, canvas: IRCanvas
) -> None:
    canvas.set_score_threshold(0.5)
    qtbot.keyClick(canvas.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert canvas.selected_ids() == [1, 2, 4]
    canvas.select([])
    qtbot.keyClick(
        canvas.view,
        Qt.Key.Key_A,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert canvas.selected_ids() == []


def test_space_drag_pans_instead_of_moving(qtbot, canvas: IRCanvas) -> None:
    before = canvas.widget_to_image(QtCore.QPointF(100, 100))
    a, b = at(canvas, 20.5, 20.5), at(canvas, 30.5, 20.5)  # starts on a target
    qtbot.keyPress(canvas.view, Qt.Key.Key_Space)
    with qtbot.assertNotEmitted(canvas.targets_edit_requested):
        qtbot.mousePress(vp(canvas), LEFT, pos=a)
        qtbot.mouseMove(vp(canvas), (a + b) / 2)
        qtbot.mouseMove(vp(canvas), b)
        qtbot.mouseRelease(vp(canvas), LEFT, pos=b)
    qtbot.keyRelease(canvas.view, Qt.Key.Key_Space)
    after = canvas.widget_to_image(QtCore.QPointF(100, 100))
    assert after[0] == pytest.approx(before[0] - 10, abs=0.5)
    with qtbot.waitSignal(canvas.targets_edit_requested):  # space released: drags edit again
        drag(qtbot, canvas, (20.5, 20.5), (22.5, 20.5))


def test_escape_cancels_a_drag(qtbot, canvas: IRCanvas) -> None:
    qtbot.mousePress(vp(canvas), LEFT, pos=at(canvas, 20.5, 20.5))
    qtbot.mouseMove(vp(canvas), at(canvas, 24.5, 20.5))
    qtbot.mouseMove(vp(canvas), at(canvas, 26.5, 20.5))
    qtbot.keyClick(canvas.view, Qt.Key.Key_Escape)
    with qtbot.assertNotEmitted(canvas.targets_edit_requested):
        qtbot.mouseRelease(vp(canvas), LEFT, pos=at(canvas, 26.5, 20.5))
    assert canvas.targets_item._preview == {}


def test_refresh_during_a_drag_cancels_it(qtbot, canvas: IRCanvas) -> None:
    qtbot.mousePress(vp(canvas), LEFT, pos=at(canvas, 20.5, 20.5))
    qtbot.mouseMove(vp(canvas), at(canvas, 23.5, 20.5))
    qtbot.mouseMove(vp(canvas), at(canvas, 25.5, 20.5))
    canvas.set_targets(_targets()[1:])  # e.g. another edit removed the dragged target
    with qtbot.assertNotEmitted(canvas.targets_edit_requested):
        qtbot.mouseRelease(vp(canvas), LEFT, pos=at(canvas, 25.5, 20.5))
