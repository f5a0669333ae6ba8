"""One canvas tool per mode (widgets/canvas_tools*.py): the table covers every mode, switching
modes activates / deactivates the tools, and for each tool a sequence of real mouse and key
events on the app's canvas lands as the expected rows of the project (read through a fresh
``Project`` each time, not through the canvas or the document)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from core.domain import CanvasMode, Source, Target, TargetState
from core.geometry import mask_to_rings
from core.store.project import Project
from tests._support.labels import replace_proposals
from widgets.canvas import IRCanvas
from widgets.canvas_input import TOOLS
from widgets.canvas_tools_brush import PaintSkyTool
from widgets.canvas_tools_sky import DrawSkyTool, EditSkyTool
from widgets.canvas_tools_targets import TargetsTool

LEFT, RIGHT, MIDDLE = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton, Qt.MouseButton.MiddleButton
NO_MOD, CTRL, SHIFT = (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ControlModifier,
                       Qt.KeyboardModifier.ShiftModifier)  # fmt: skip


def rows(root, image_id: int) -> tuple[dict[int, Target], np.ndarray | None]:
    """The image's targets by id and its accepted sky, as stored."""
    with Project.open(root) as p:
        return {t.id: t for t in p.targets(image_id)}, p.sky_mask(image_id)


def rows_when(qtbot, root, image_id: int, ready) -> tuple[dict[int, Target], np.ndarray | None]:
    """The rows once ``ready(rows)`` holds (an edit may be saved off the GUI thread); after 5 s
    the rows as they are, for the test's assertions to report."""
    got: list = []

    def check() -> bool:
        got[:] = [rows(root, image_id)]
        return bool(ready(got[0]))

    try:
        qtbot.waitUntil(check, timeout=5000)
    except AssertionError:
        pass
    return got[0]


def new_sky(old: np.ndarray | None):
    """``ready`` for ``rows_when``: the stored sky differs from ``old``."""
    return lambda r: (r[1] is None) != (old is None) or (r[1] is not None and not np.array_equal(r[1], old))


class Driver:
    """Real input on the canvas viewport, positions in image coordinates."""

    def __init__(self, qtbot, canvas: IRCanvas) -> None:
        self.qtbot, self.canvas = qtbot, canvas
        self.viewport = canvas.view.viewport()

    def pos(self, x: float, y: float) -> QPoint:
        return self.canvas.image_to_widget(x, y)

    def click(self, x: float, y: float, button=LEFT, mod=NO_MOD) -> None:
        self.qtbot.mouseClick(self.viewport, button, mod, self.pos(x, y))

    def drag(self, a: tuple[float, float], b: tuple[float, float], button=LEFT, mod=NO_MOD) -> None:
        pa, pb = self.pos(*a), self.pos(*b)
        self.qtbot.mousePress(self.viewport, button, mod, pa)
        for k in range(1, 9):  # past the drag threshold, then live feedback
            self.qtbot.mouseMove(self.viewport, pa + (pb - pa) * (k / 8))
        self.qtbot.mouseRelease(self.viewport, button, mod, pb)

    def key(self, key, mod=NO_MOD) -> None:
        self.viewport.setFocus()
        self.qtbot.keyClick(self.viewport, key, mod)


@pytest.fixture
def studio(main_window, qtbot, app_project_dir):
    """The demo image with the most sky, a 36 x 36 sky-free block (ox, oy) on it."""
    w = main_window
    p = w.project
    best = max(p.list_images(), key=lambda i: (p.sky_mask(i.id) is not None, i.n_targets))
    w.goto_image(best.id)
    sky = p.sky_mask(best.id)
    free = [(ox, oy) for oy in range(8, best.height - 44, 4) for ox in range(8, best.width - 44, 4)
            if not sky[oy:oy + 36, ox:ox + 36].any()
            and all(not (t.box[0] < ox + 36 and t.box[2] > ox and t.box[1] < oy + 36 and t.box[3] > oy)
                    for t in p.targets(best.id) if t.box is not None)]  # fmt: skip
    if not free:
        pytest.skip("the demo image has no free 36 x 36 block")
    return w, Driver(qtbot, w.canvas), best.id, app_project_dir, free[len(free) // 2]


# ============================================================================ the table
def test_one_tool_per_mode_and_switching_activates_them(qtbot) -> None:
    assert set(TOOLS) == set(CanvasMode)
    assert (TOOLS[CanvasMode.EDIT], TOOLS[CanvasMode.DRAW_SKY], TOOLS[CanvasMode.EDIT_SKY],
            TOOLS[CanvasMode.PAINT_SKY]) == (TargetsTool, DrawSkyTool, EditSkyTool, PaintSkyTool)  # fmt: skip
    c = IRCanvas()
    qtbot.addWidget(c)
    c.resize(500, 400)
    c.show()
    qtbot.waitExposed(c)
    c.set_image(np.full((60, 80), 1000, np.uint16))
    c.center_on(30, 30, zoom=5.0)
    d = Driver(qtbot, c)
    expected = {CanvasMode.EDIT: Qt.CursorShape.ArrowCursor, CanvasMode.DRAW_SKY: Qt.CursorShape.CrossCursor,
                CanvasMode.EDIT_SKY: Qt.CursorShape.CrossCursor, CanvasMode.PAINT_SKY: Qt.CursorShape.CrossCursor}  # fmt: skip
    for mode in CanvasMode:
        c.set_mode(mode)
        assert type(c.active_tool()) is TOOLS[mode] and c.active_tool().mode == mode
        assert c.view.cursor().shape() == expected[mode]
        assert c.sky_item.editing == (mode == CanvasMode.EDIT_SKY)
        c.show_sky(False)  # hidden sky: the modes that edit it keep it shown
        assert c.sky_item.isVisible() == (mode in (CanvasMode.EDIT_SKY, CanvasMode.PAINT_SKY))
        c.show_sky(True)
    # Leaving "draw_sky" drops the polygon being drawn (nothing left on screen either).
    c.set_mode("draw_sky")
    d.click(10, 10)
    d.click(20, 10)
    assert c.draft_item.points == [pytest.approx((10, 10), abs=0.2), pytest.approx((20, 10), abs=0.2)]
    c.set_mode("edit")
    assert c.draft_item.points == [] and c.draft_item.cursor is None
    c.set_mode("draw_sky")
    assert c.active_tool().draft == []
    # A mode switch in the middle of a rubber-band drag takes the band away.
    c.set_mode("edit")
    pa, pb = d.pos(5, 5), d.pos(25, 25)
    qtbot.mousePress(d.viewport, LEFT, CTRL, pa)
    qtbot.mouseMove(d.viewport, pb)
    qtbot.mouseMove(d.viewport, pb + QPoint(3, 3))
    assert c.rubber.isVisible()
    c.set_mode("edit_sky")
    assert not c.rubber.isVisible()
    qtbot.mouseRelease(d.viewport, LEFT, CTRL, pb)
    assert c.view.cursor().shape() == Qt.CursorShape.CrossCursor


# ============================================================================ targets tool
def test_targets_tool_adds_resizes_by_an_edge_and_deletes_a_rubber_band(studio) -> None:
    w, d, image_id, root, (ox, oy) = studio
    w.canvas.center_on(ox + 18, oy + 18, zoom=12.0)
    before, _ = rows(root, image_id)
    d.click(ox + 8.5, oy + 8.5)
    d.click(ox + 26.5, oy + 26.5)
    after, _ = rows_when(d.qtbot, root, image_id, lambda r: len(set(r[0]) - set(before)) == 2)
    added = sorted(set(after) - set(before), key=lambda i: after[i].point)
    assert len(added) == 2
    first = after[added[0]]
    assert first.point == pytest.approx((ox + 8, oy + 8), abs=3)
    x0, y0, x1, y1 = first.box
    d.click((x0 + x1) / 2, (y0 + y1) / 2)  # select it: its handles appear
    assert w.canvas.selected_ids() == [first.id]
    d.drag((x1, (y0 + y1) / 2), (x1 + 3, (y0 + y1) / 2))  # its right edge, 3 px to the right
    resized = rows_when(d.qtbot, root, image_id, lambda r: r[0][first.id].box != first.box)[0][first.id]
    assert resized.box == pytest.approx((x0, y0, x1 + 3, y1))
    # Ctrl + drag around both new targets selects them; Delete removes exactly those rows.
    w.canvas.select([])
    d.drag((ox + 1, oy + 1), (ox + 34, oy + 34), mod=CTRL)
    assert sorted(w.canvas.selected_ids()) == sorted(added)
    d.key(Qt.Key.Key_Delete)
    left, _ = rows_when(d.qtbot, root, image_id, lambda r: not set(added) & set(r[0]))
    assert set(left) == set(before)


def test_targets_tool_double_click_accepts_and_shift_arrow_grows(studio) -> None:
    w, d, image_id, root, (ox, oy) = studio
    proposal = Target(point=(ox + 17, oy + 17), box=(ox + 15, oy + 15, ox + 20, oy + 20),
                      source=Source.MODEL, score=0.9, state=TargetState.PROPOSAL)  # fmt: skip
    replace_proposals(w.project, image_id, [proposal], None)
    w.reload_current()
    (pid,) = [i for i, t in rows(root, image_id)[0].items() if t.state == TargetState.PROPOSAL]
    w.canvas.center_on(ox + 18, oy + 18, zoom=12.0)
    d.qtbot.mouseDClick(d.viewport, LEFT, NO_MOD, d.pos(ox + 17.5, oy + 17.5))
    accepted = rows_when(d.qtbot, root, image_id, lambda r: r[0][pid].state != TargetState.PROPOSAL)[0][pid]
    assert accepted.state == TargetState.ACCEPTED and accepted.box == proposal.box
    d.click(ox + 17.5, oy + 17.5)
    d.key(Qt.Key.Key_Right, SHIFT)
    d.key(Qt.Key.Key_Down, SHIFT)
    grown = rows_when(d.qtbot, root, image_id, lambda r: r[0][pid].box[3] != proposal.box[3])[0][pid]
    assert grown.box == pytest.approx((ox + 15, oy + 15, ox + 21, oy + 21))


# ============================================================================ sky tools
def draw_square(d: Driver, ox: int, oy: int, close_by_double_click: bool = False) -> tuple[int, int]:
    """Draw-sky clicks at the pixel centres of a 24 px square's corners inside the free block,
    plus one stray vertex that Backspace drops, then close. Returns the square's corner."""
    sx, sy = ox + 4, oy + 8  # the block's top 8 rows stay free for the edit-sky test's spike
    for vx, vy in ((0, 0), (24, 0), (24, 24), (12, 27)):
        d.click(sx + vx + 0.5, sy + vy + 0.5)
    d.key(Qt.Key.Key_Backspace)
    d.click(sx + 0.5, sy + 24.5)
    if close_by_double_click:  # Qt delivers a double-click as a click, then a double-click event
        d.qtbot.mouseDClick(d.viewport, LEFT, NO_MOD, d.pos(sx + 0.5, sy + 24.5))
    else:
        d.key(Qt.Key.Key_Return)
    return sx, sy


def test_draw_sky_tool_backspace_then_double_click_closes(studio) -> None:
    w, d, image_id, root, (ox, oy) = studio
    _, sky0 = rows(root, image_id)
    d.key(Qt.Key.Key_2)
    assert w.canvas.mode() == "draw_sky"
    w.canvas.center_on(ox + 18, oy + 18, zoom=8.0)
    sx, sy = draw_square(d, ox, oy, close_by_double_click=True)
    _, sky = rows_when(d.qtbot, root, image_id, new_sky(sky0))
    assert sky[sy + 1 : sy + 24, sx + 1 : sx + 24].all()  # the square is sky now
    assert not sky[sy + 26 : sy + 28, sx : sx + 25].any()  # the dropped vertex left no spike
    ys, xs = np.nonzero(sky != sky0)
    assert ys.min() >= sy and ys.max() <= sy + 25 and xs.min() >= sx and xs.max() <= sx + 25


def test_edit_sky_tool_inserts_deletes_a_vertex_and_deletes_the_ring(studio) -> None:
    w, d, image_id, root, (ox, oy) = studio
    _, sky0 = rows(root, image_id)
    d.key(Qt.Key.Key_2)
    w.canvas.center_on(ox + 18, oy + 18, zoom=8.0)
    sx, sy = draw_square(d, ox, oy)
    _, square = rows_when(d.qtbot, root, image_id, new_sky(sky0))
    d.key(Qt.Key.Key_3)
    assert w.canvas.mode() == "edit_sky"
    ring = next(r for r in mask_to_rings(square) if (r.points.min(axis=0) >= (sx - 1, sy - 1)).all()
                and (r.points.max(axis=0) <= (sx + 26, sy + 26)).all())  # fmt: skip
    top = ring.points[:, 1].min()
    mid = (ring.points[:, 0].min() + ring.points[:, 0].max()) / 2
    # Press on the top edge between two vertices and pull 6 px up: a vertex is inserted there.
    d.drag((mid, top), (mid, top - 6))
    _, peaked = rows_when(d.qtbot, root, image_id, new_sky(square))
    tip_x, tip_y = int(np.floor(mid)), int(np.floor(top - 6))
    assert peaked[tip_y + 2, tip_x] and not square[tip_y + 2, tip_x]
    assert np.array_equal(peaked[sy + 2 :], square[sy + 2 :])  # below the top edge: unchanged
    assert not (peaked & ~square)[: tip_y].any()  # nothing above the tip
    # Right-click on the tip vertex removes it: the ring joins the tip's neighbours (the stored
    # outline follows pixel steps), so the spike loses its top pixels and nothing else changes.
    d.click(tip_x + 0.5, tip_y + 0.5, button=RIGHT)
    _, back = rows_when(d.qtbot, root, image_id, new_sky(peaked))
    assert peaked[tip_y, tip_x] and not back[tip_y, tip_x]
    assert (back <= peaked).all() and (back >= square).all() and back.sum() < peaked.sum()
    # Click inside the ring (off its edges) and Delete: the ring goes, the sky is as before.
    d.click(sx + 12.5, sy + 12.5)
    d.key(Qt.Key.Key_Delete)
    _, gone = rows_when(d.qtbot, root, image_id, new_sky(back))
    assert np.array_equal(gone, sky0)


def capsule(a: tuple[float, float], b: tuple[float, float], r: float, shape) -> tuple[np.ndarray, np.ndarray]:
    """(surely inside, surely outside) the brush swept from a to b: pixel centres farther than
    0.15 px from the edge, by shapely's distance (the drag's cursor steps round to screen pixels)."""
    from shapely import LineString, distance, points

    ys, xs = np.mgrid[: shape[0], : shape[1]]
    dist = distance(points(xs.ravel() + 0.5, ys.ravel() + 0.5), LineString([a, b]) if a != b else points(*a))
    dist = dist.reshape(shape)
    return dist <= r - 0.15, dist >= r + 0.15


def test_paint_sky_tool_paints_erases_resizes_and_undoes(studio) -> None:
    w, d, image_id, root, (ox, oy) = studio
    _, sky0 = rows(root, image_id)
    d.key(Qt.Key.Key_4)
    tool = w.canvas.active_tool()
    assert w.canvas.mode() == "paint_sky" and isinstance(tool, PaintSkyTool)
    w.canvas.center_on(ox + 18, oy + 18, zoom=8.0)
    d.key(Qt.Key.Key_BracketLeft)  # radius 6 -> 4.8
    r = tool.radius
    assert r == pytest.approx(4.8) and "4.8" in w.canvas.hint.text()
    # A left drag paints the capsule the brush swept, in one edit.
    a = w.canvas.widget_to_image(QPointF(d.pos(ox + 8.3, oy + 18.6)))
    b = w.canvas.widget_to_image(QPointF(d.pos(ox + 28.7, oy + 18.6)))
    d.drag(a, b)
    _, painted = rows_when(d.qtbot, root, image_id, new_sky(sky0))
    inside, outside = capsule(a, b, r, painted.shape)
    assert painted[inside].all() and not (painted & ~sky0)[outside].any()
    assert (painted >= sky0).all() and inside.sum() > 150
    assert w.canvas.brush_item.points == []  # the stroke's preview is gone
    # Shift + drag erases a shorter capsule out of it; ] grows the brush first (4.8 -> 6).
    d.key(Qt.Key.Key_BracketRight)
    r2 = tool.radius
    assert r2 == pytest.approx(6.0)
    c = w.canvas.widget_to_image(QPointF(d.pos(ox + 18.2, oy + 12.4)))
    e = w.canvas.widget_to_image(QPointF(d.pos(ox + 18.2, oy + 24.4)))
    d.drag(c, e, mod=SHIFT)
    _, erased = rows_when(d.qtbot, root, image_id, new_sky(painted))
    inside2, outside2 = capsule(c, e, r2, erased.shape)
    assert not erased[inside2].any()
    assert np.array_equal(erased[outside2], painted[outside2])
    # A click paints one dab; Ctrl+Z three times gives the stored sky back, step by step.
    d.click(ox + 30.5, oy + 30.5)
    _, dabbed = rows_when(d.qtbot, root, image_id, new_sky(erased))
    dab, _ = capsule(d_pt := w.canvas.widget_to_image(QPointF(d.pos(ox + 30.5, oy + 30.5))), d_pt, r2, dabbed.shape)
    assert dabbed[dab].all() and (dabbed & ~erased).sum() <= np.pi * (r2 + 0.8) ** 2
    for expected in (erased, painted, sky0):
        d.key(Qt.Key.Key_Z, CTRL)
        _, back = rows_when(d.qtbot, root, image_id, lambda rr, x=expected: np.array_equal(
            rr[1] if rr[1] is not None else np.zeros_like(painted), x if x is not None else np.zeros_like(painted)))
        assert np.array_equal(back if back is not None else np.zeros_like(painted),
                              expected if expected is not None else np.zeros_like(painted))  # fmt: skip


def test_a_sky_edit_on_a_proposed_sky_starts_from_the_proposal(studio) -> None:
    """Pre-annotated, sky not yet accepted: a brush stroke edits the proposal the annotator sees
    (accepted = proposal + stroke, the proposal consumed), and one Ctrl+Z gives both back; a
    polygon does the same."""
    from core.domain import TargetState
    from tests._support.labels import set_sky_mask

    w, d, image_id, root, (ox, oy) = studio
    proposal = rows(root, image_id)[1]
    set_sky_mask(w.project, image_id, None)
    set_sky_mask(w.project, image_id, proposal, state=TargetState.PROPOSAL, source=Source.MODEL)
    w.reload_current()
    assert rows(root, image_id)[1] is None
    d.key(Qt.Key.Key_4)
    w.canvas.center_on(ox + 18, oy + 18, zoom=8.0)
    a = w.canvas.widget_to_image(QPointF(d.pos(ox + 8.3, oy + 18.6)))
    b = w.canvas.widget_to_image(QPointF(d.pos(ox + 28.7, oy + 18.6)))
    d.drag(a, b)
    _, painted = rows_when(d.qtbot, root, image_id, lambda r: r[1] is not None)
    inside, outside = capsule(a, b, w.canvas.active_tool().radius, painted.shape)
    assert painted[inside].all() and np.array_equal(painted[outside], proposal[outside])
    assert (painted >= proposal).all()
    with Project.open(root) as p:
        assert p.sky_mask(image_id, TargetState.PROPOSAL) is None  # consumed by the edit
    d.key(Qt.Key.Key_Z, CTRL)
    rows_when(d.qtbot, root, image_id, lambda r: r[1] is None)
    with Project.open(root) as p:
        assert p.sky_mask(image_id) is None and np.array_equal(p.sky_mask(image_id, TargetState.PROPOSAL), proposal)
    # The polygon tool: a square added to the proposal, in one edit.
    d.key(Qt.Key.Key_2)
    sx, sy = draw_square(d, ox, oy)
    _, squared = rows_when(d.qtbot, root, image_id, lambda r: r[1] is not None)
    assert squared[sy + 1 : sy + 24, sx + 1 : sx + 24].all()
    assert (squared >= proposal).all() and squared.sum() > proposal.sum()
    d.key(Qt.Key.Key_Z, CTRL)
    rows_when(d.qtbot, root, image_id, lambda r: r[1] is None)
    # Edit sky: the proposal's vertices carry the handles; dragging one edits the proposal.
    d.key(Qt.Key.Key_3)
    c = w.canvas
    assert c.sky_proposal_item.editing and not c.sky_item.editing
    ring = max(mask_to_rings(proposal), key=lambda rg: len(rg.points))
    vx, vy = ring.points[len(ring.points) // 2]
    c.center_on(float(vx), float(vy), zoom=8.0)
    d.drag((vx, vy), (vx, vy + 5))
    _, moved = rows_when(d.qtbot, root, image_id, lambda r: r[1] is not None)
    changed_y, changed_x = np.nonzero(moved != proposal)
    assert len(changed_y) and np.abs(changed_y - vy).max() <= 6
    with Project.open(root) as p:
        assert p.sky_mask(image_id, TargetState.PROPOSAL) is None
    assert c.sky_item.editing and not c.sky_proposal_item.editing  # the handles followed the sky


# ============================================================================ panning
@pytest.mark.parametrize("mode", list(CanvasMode))
def test_a_middle_drag_pans_in_every_mode_and_writes_nothing(studio, mode) -> None:
    w, d, image_id, root, (ox, oy) = studio
    w.canvas.set_mode(mode)
    w.canvas.center_on(ox + 18, oy + 18, zoom=8.0)
    targets0, sky0 = rows(root, image_id)
    before = w.canvas.widget_to_image(QPointF(100, 100))
    d.drag((ox + 18, oy + 18), (ox + 8, oy + 13), button=MIDDLE)  # 10 px left, 5 px up
    after = w.canvas.widget_to_image(QPointF(100, 100))
    assert after == pytest.approx((before[0] + 10, before[1] + 5), abs=0.3)
    targets1, sky1 = rows(root, image_id)
    assert targets1 == targets0 and np.array_equal(sky1, sky0)
    assert w.canvas.view.cursor().shape() == type(w.canvas.active_tool()).cursor
