"""Real mouse and key events on the canvas of the demo project: every kind of edit lands in the
database at once, and undo all / redo all walk back and forth through exactly the same database
states (read through a fresh Project each time)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from core.domain import Source, Target, TargetState
from core.geometry import mask_to_rings
from core.store.project import Project
from tests._support.labels import replace_proposals, set_status

LEFT = Qt.MouseButton.LeftButton
NO_MOD = Qt.KeyboardModifier.NoModifier


def snapshot(root) -> list:
    """Everything an edit can change, for every image, read through a fresh connection."""
    out = []
    with Project.open(root) as p:
        for info in p.list_images():
            targets = []
            for t in p.targets(info.id):
                mask = None if t.mask is None else (t.mask.x0, t.mask.y0, t.mask.pixels.shape,
                                                    np.packbits(t.mask.pixels).tobytes())  # fmt: skip
                targets.append((t.id, t.point, t.box, t.state.value, t.source.value, t.score, mask))
            skies = [p.sky_mask(info.id, s) for s in (TargetState.ACCEPTED, TargetState.PROPOSAL)]
            skies = [None if m is None else np.packbits(m).tobytes() for m in skies]
            out.append((info.id, info.status.value, info.split.value, info.note, targets, skies))
    return out


class Driver:
    """Real input on the canvas viewport, positions given in image coordinates."""

    def __init__(self, qtbot, window) -> None:
        self.qtbot, self.w = qtbot, window
        self.viewport = window.canvas.view.viewport()

    def pos(self, x: float, y: float) -> QPoint:
        return self.w.canvas.image_to_widget(x, y)

    def look_at(self, x: float, y: float, zoom: float = 8.0) -> None:
        self.w.canvas.center_on(x, y, zoom)

    def click(self, x: float, y: float, mod=NO_MOD) -> None:
        self.qtbot.mouseClick(self.viewport, LEFT, mod, self.pos(x, y))

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        a, b = self.pos(*start), self.pos(*end)
        self.qtbot.mousePress(self.viewport, LEFT, NO_MOD, a)
        for k in range(1, 9):  # several moves: past the drag threshold, then live feedback
            self.qtbot.mouseMove(self.viewport, a + (b - a) * (k / 8))
        self.qtbot.mouseRelease(self.viewport, LEFT, NO_MOD, b)

    def key(self, key, mod=NO_MOD) -> None:
        self.viewport.setFocus()
        self.qtbot.keyClick(self.viewport, key, mod)


def free_spot(shape, boxes, margin: int = 12) -> tuple[float, float]:
    """A pixel centre at least ``margin`` px from every box and the border."""
    h, w = shape
    taken = np.zeros((h, w), bool)
    taken[:margin], taken[-margin:], taken[:, :margin], taken[:, -margin:] = True, True, True, True
    for x0, y0, x1, y1 in boxes:
        taken[
            max(int(y0) - margin, 0) : int(y1) + margin, max(int(x0) - margin, 0) : int(x1) + margin
        ] = True
    ys, xs = np.nonzero(~taken)
    k = len(xs) // 2
    return float(xs[k]) + 0.5, float(ys[k]) + 0.5


def ground_square(sky, h: int, w: int, size: int = 36) -> tuple[int, int]:
    """Top-left corner of a size x size block with no sky, away from the border."""
    if sky is None:
        return 8, 8
    for oy in range(8, h - size - 8, 4):
        for ox in range(8, w - size - 8, 4):
            if not sky[oy : oy + size, ox : ox + size].any():
                return ox, oy
    pytest.skip("the demo image has no sky-free block for the polygon test")


def centre(t: Target) -> tuple[float, float]:
    x0, y0, x1, y1 = t.box
    return (x0 + x1) / 2, (y0 + y1) / 2


@pytest.fixture
def editing(main_window, qtbot):
    """The demo image with the most sky, plus four stored proposals (scores 0.9, 0.9, 0.7, 0.55)
    and a proposed sky, as a pre-annotation run would leave them."""
    w = main_window
    p = w.project
    best = max(p.list_images(), key=lambda i: (p.sky_mask(i.id) is not None, i.n_targets))
    w.goto_image(best.id)
    h, wd = best.height, best.width
    boxes = [t.box for t in p.targets(best.id)]
    proposals = []
    for score in (0.9, 0.9, 0.7, 0.55):
        x, y = free_spot((h, wd), boxes + [t.box for t in proposals])
        proposals.append(Target(point=(x - 0.5, y - 0.5), box=(x - 2, y - 2, x + 1, y + 1),
                                source=Source.MODEL, score=score, state=TargetState.PROPOSAL))  # fmt: skip
    sky_proposal = p.sky_mask(best.id).copy()
    sky_proposal[-6:, : wd // 3] = True  # the model also calls a strip of ground "sky"
    replace_proposals(p, best.id, proposals, sky_proposal)
    set_status(p, best.id, "pre-annotated")  # so that "mark reviewed" is a change
    w.reload_current()
    return w, Driver(qtbot, w), best.id


def test_every_edit_saved_then_undo_all_and_redo_all(editing, app_project_dir):
    w, d, image_id = editing
    p = w.project
    stack = w.undo_stacks.stack(image_id)
    states = [snapshot(app_project_dir)]

    def record(expected_steps: int) -> None:
        assert stack.count() == expected_steps
        states.append(snapshot(app_project_dir))
        assert states[-1] != states[-2], f"step {expected_steps} changed nothing in the database"

    # 0. accept the proposed sky (Ctrl+Shift+K): it replaces the accepted sky
    proposed = p.sky_mask(image_id, TargetState.PROPOSAL)
    d.key(Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(p.sky_mask(image_id), proposed)
    assert p.sky_mask(image_id, TargetState.PROPOSAL) is None
    record(1)

    # 1. add a target by clicking on empty image
    info = p.get_image(image_id)
    everything = [t.box for t in p.targets(image_id)]
    x, y = free_spot((info.height, info.width), everything)
    d.look_at(x, y)
    before_ids = {t.id for t in p.targets(image_id)}
    d.click(x, y)
    added = [t for t in p.targets(image_id) if t.id not in before_ids]
    assert len(added) == 1 and added[0].state == TargetState.ACCEPTED
    new = added[0]
    assert abs(new.point[0] - x) <= 4 and abs(new.point[1] - y) <= 4
    record(2)

    # 2. select it and drag it 3 px right, 2 px down
    cx, cy = centre(new)
    d.click(cx, cy)
    assert w.canvas.selected_ids() == [new.id]
    d.drag((cx, cy), (cx + 3, cy + 2))
    moved = next(t for t in p.targets(image_id) if t.id == new.id)
    assert moved.box == pytest.approx(
        (new.box[0] + 3, new.box[1] + 2, new.box[2] + 3, new.box[3] + 2)
    )
    record(3)

    # 3. two arrow-key nudges merge into one undo step
    d.key(Qt.Key.Key_Right)
    d.key(Qt.Key.Key_Right)
    nudged = next(t for t in p.targets(image_id) if t.id == new.id)
    assert nudged.box[0] == pytest.approx(moved.box[0] + 2)
    record(4)

    # 4. delete it
    d.key(Qt.Key.Key_Delete)
    assert new.id not in {t.id for t in p.targets(image_id)}
    record(5)

    # 5. accept the first proposal, 6. reject the second
    first, second = sorted(p.targets(image_id, TargetState.PROPOSAL), key=lambda t: t.id)[:2]
    d.look_at(*centre(first))
    d.click(*centre(first))
    d.key(Qt.Key.Key_A)
    assert next(t for t in p.targets(image_id) if t.id == first.id).state == TargetState.ACCEPTED
    record(6)
    d.look_at(*centre(second))
    d.click(*centre(second))
    d.key(Qt.Key.Key_R)
    assert second.id not in {t.id for t in p.targets(image_id)}
    record(7)

    # 6b. raise the score threshold to 0.60 on the toolbar slider (arrows), then accept all
    # proposals at or above it (Ctrl+Shift+A): 0.7 is accepted, 0.55 stays a hidden proposal
    third, fourth = sorted(p.targets(image_id, TargetState.PROPOSAL), key=lambda t: -t.score)
    w.threshold_slider.setFocus()
    d.qtbot.keyClick(w.threshold_slider, Qt.Key.Key_Right)  # steps of 0.05
    d.qtbot.keyClick(w.threshold_slider, Qt.Key.Key_Right)
    assert w.score_threshold == pytest.approx(0.6)
    assert fourth.id not in w.canvas.visible_ids() and third.id in w.canvas.visible_ids()
    d.key(Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    states_now = {t.id: t.state for t in p.targets(image_id)}
    assert states_now[third.id] == TargetState.ACCEPTED
    assert states_now[fourth.id] == TargetState.PROPOSAL
    record(8)

    # 7. draw a sky polygon ("2" = draw mode), close with Enter: added
    d.key(Qt.Key.Key_2)
    assert w.canvas.mode() == "draw_sky"
    ox, oy = ground_square(p.sky_mask(image_id), info.height, info.width)
    d.look_at(ox + 16, oy + 16, zoom=6)
    for vx, vy in [(0, 0), (30, 0), (30, 30), (0, 30)]:
        d.click(ox + vx + 0.5, oy + vy + 0.5)
    d.key(Qt.Key.Key_Return)
    sky_added = p.sky_mask(image_id)
    assert sky_added[oy + 5 : oy + 25, ox + 5 : ox + 25].all()
    record(9)

    # 8. a smaller polygon inside it, closed with Shift+Enter: subtracted (leaves a hole)
    for vx, vy in [(10, 10), (20, 10), (20, 20), (10, 20)]:
        d.click(ox + vx + 0.5, oy + vy + 0.5)
    d.key(Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    sky_sub = p.sky_mask(image_id)
    assert not sky_sub[oy + 15, ox + 15] and sky_sub[oy + 3, ox + 3]
    record(10)

    # 9. edit sky vertices ("3"): drag the hole's corner outwards
    d.key(Qt.Key.Key_3)
    assert w.canvas.mode() == "edit_sky"
    ring = next(r for r in mask_to_rings(sky_sub) if r.is_hole)
    vx, vy = ring.points[np.argmax(ring.points.sum(axis=1))]  # bottom-right corner
    d.look_at(vx, vy, zoom=10)
    d.drag((vx, vy), (vx + 4, vy + 4))
    sky_edit = p.sky_mask(image_id)
    assert not np.array_equal(sky_edit, sky_sub)
    assert np.array_equal(sky_edit[: oy + 8, :], sky_sub[: oy + 8, :])  # untouched elsewhere
    record(11)

    # 9b. select the hole (click inside it) and delete the ring: the hole is filled again
    d.click(ox + 15, oy + 15)
    d.key(Qt.Key.Key_Delete)
    assert p.sky_mask(image_id)[oy + 15, ox + 15]
    record(12)

    # 10. Ctrl+Enter marks the image reviewed (and moves on to the next unreviewed image)
    d.key(Qt.Key.Key_1)
    d.key(Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    record(13)
    assert p.get_image(image_id).status.value == "reviewed"
    w.goto_image(image_id)

    # Undo everything with Ctrl+Z, then redo everything with Ctrl+Shift+Z.
    for k in range(len(states) - 1, 0, -1):
        d.key(Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert snapshot(app_project_dir) == states[k - 1], f"undo of step {k}"
    assert stack.index() == 0
    for k in range(1, len(states)):
        d.key(Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
        assert snapshot(app_project_dir) == states[k], f"redo of step {k}"
