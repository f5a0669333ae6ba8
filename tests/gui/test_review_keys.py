"""The keyboard review flow (app/review_keys.py) with real key events, after the focus has left
the canvas: every decision is checked against project.sqlite read with plain sqlite3, views
against the canvas state."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from core.domain import ReviewStatus, Source, Target, TargetState
from core.store.project import Project
from tests._support.labels import add_target
from tests._support.sqlite_rows import project_rows as rows

pytestmark = pytest.mark.timeout(120)
NO_MOD = Qt.KeyboardModifier.NoModifier
LEFT = Qt.MouseButton.LeftButton
# (x, y, score) of the proposals stored on the first unreviewed demo image (320 x 256)
PROPOSALS = [(40, 40, 0.55), (200, 60, 0.95), (120, 200, 0.75), (280, 150, 0.65)]


def proposal(x: float, y: float, score: float) -> Target:
    return Target(point=(x, y), box=(x - 1, y - 1, x + 2, y + 2), score=score,
                  source=Source.MODEL, state=TargetState.PROPOSAL)  # fmt: skip


@pytest.fixture
def review(qtbot, app_project_dir):
    """The window (with the review keys) on the first NEW demo image, pre-annotated with
    ``PROPOSALS`` through the project API; the image list has the focus."""
    from app import review_keys
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings

    with Project.open(app_project_dir) as p:
        image = next(i for i in p.list_images() if i.status == ReviewStatus.NEW)
        p.propose(image.id, [proposal(*xys) for xys in PROPOSALS], None)
    create_application(exception_hook=False)
    w = MainWindow(AppSettings(), install_panels=False)
    review_keys.install(w)
    qtbot.addWidget(w)
    w.resize(1280, 860)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w)  # focus needs an active window
    assert w.open_project(app_project_dir)
    w.goto_image(image.id)
    click_list(qtbot, w)
    yield w
    w.close()


def click_list(qtbot, w) -> None:
    view = w.image_list.view
    rect = view.visualRect(view.currentIndex())
    qtbot.mouseClick(view.viewport(), LEFT, NO_MOD, rect.center())
    assert QApplication.focusWidget() is view


def key(qtbot, w, k, mod=NO_MOD) -> None:
    """A key press where the focus is (QTest goes through the shortcut map like a user)."""
    qtbot.keyClick(QApplication.focusWidget() or w, k, mod)


def by_score(w) -> dict[float, tuple[int, str]]:
    found = rows(w.project.root, "SELECT score, id, state FROM targets WHERE image_id = ? "
                 "AND source = 'model'", w.current_image_id)  # fmt: skip
    return {score: (tid, state) for score, tid, state in found}


def view_centre(w) -> tuple[float, float]:
    c = w.canvas.viewbox.viewRect().center()
    return c.x(), c.y()


def selected_score(w) -> float:
    (tid,) = w.canvas.selected_ids()
    return w.canvas.targets_item.target(tid).score


def test_tab_steps_through_proposals_by_score_and_centres_them(review, qtbot):
    w = review
    seen = []
    for _ in range(5):
        key(qtbot, w, Qt.Key.Key_Tab)
        seen.append(selected_score(w))
        t = w.canvas.targets_item.target(w.canvas.selected_ids()[0])
        cx, cy = view_centre(w)
        assert abs(cx - (t.box[0] + t.box[2]) / 2) < 0.5 and abs(cy - (t.box[1] + t.box[3]) / 2) < 0.5
        assert w.canvas.zoom() >= 6.0 - 1e-6
    assert seen == [0.95, 0.75, 0.65, 0.55, 0.95]  # by descending score, then around again
    key(qtbot, w, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert selected_score(w) == 0.55
    assert QApplication.focusWidget() is w.image_list.view  # the list kept the focus


def test_accept_and_reject_keys_decide_and_step_on(review, qtbot):
    w = review
    key(qtbot, w, Qt.Key.Key_Tab)  # 0.95
    key(qtbot, w, Qt.Key.Key_A)
    assert by_score(w)[0.95][1] == "accepted"
    assert selected_score(w) == 0.75  # stepped on
    key(qtbot, w, Qt.Key.Key_R)
    assert 0.75 not in by_score(w)  # a rejected proposal is deleted
    assert selected_score(w) == 0.65
    key(qtbot, w, Qt.Key.Key_Delete)  # Del rejects the selection too, from the list as well
    assert 0.65 not in by_score(w)
    assert {s: st for s, (_i, st) in by_score(w).items()} == {0.95: "accepted", 0.55: "proposal"}
    assert selected_score(w) == 0.55
    key(qtbot, w, Qt.Key.Key_A)  # the last one: nothing left to step to
    assert w.canvas.selected_ids() == [] and "No proposals" in w.statusBar().currentMessage()
    assert by_score(w)[0.55][1] == "accepted"
    w.undo_stacks.undo()  # each decision is one undo step
    w.undo_stacks.undo()
    assert by_score(w)[0.65][1] == "proposal" and by_score(w)[0.55][1] == "proposal"


def test_menu_accept_steps_like_the_key(review, qtbot):
    w = review
    key(qtbot, w, Qt.Key.Key_Tab)
    w.actions_by_id["accept"].trigger()
    assert by_score(w)[0.95][1] == "accepted" and selected_score(w) == 0.75


def test_double_click_accept_keeps_the_view(review, qtbot):
    w = review
    x, y, _s = PROPOSALS[1]
    w.canvas.center_on(x + 0.5, y + 0.5, 8.0)
    before = view_centre(w)
    qtbot.mouseDClick(w.canvas.view.viewport(), LEFT, NO_MOD, w.canvas.image_to_widget(x + 0.5, y + 0.5))
    assert by_score(w)[0.95][1] == "accepted"
    assert view_centre(w) == pytest.approx(before, abs=1e-6)


def test_view_keys_from_the_image_list(review, qtbot):
    w = review
    c = w.canvas
    z0 = c.zoom()
    key(qtbot, w, Qt.Key.Key_Plus)
    assert c.zoom() == pytest.approx(z0 * 1.5, rel=1e-3)
    key(qtbot, w, Qt.Key.Key_Equal)
    key(qtbot, w, Qt.Key.Key_Minus)
    assert c.zoom() == pytest.approx(z0 * 1.5, rel=1e-3)
    key(qtbot, w, Qt.Key.Key_0)
    assert c.zoom() == pytest.approx(1.0, rel=1e-3)
    key(qtbot, w, Qt.Key.Key_F)  # fit: the whole 320 x 256 image in view
    r = c.viewbox.viewRect()
    assert r.left() <= 0 and r.top() <= 0 and r.right() >= 320 and r.bottom() >= 256
    key(qtbot, w, Qt.Key.Key_L)
    assert c.loupe_enabled
    shown = len(c.visible_ids())
    key(qtbot, w, Qt.Key.Key_P)  # hide proposals
    assert c.visible_ids() == [] and shown == 4
    assert not w.actions_by_id["toggle_proposals"].isChecked()
    key(qtbot, w, Qt.Key.Key_Tab)  # stepping shows them again
    assert selected_score(w) == 0.95 and w.actions_by_id["toggle_proposals"].isChecked()
    key(qtbot, w, Qt.Key.Key_A)
    key(qtbot, w, Qt.Key.Key_T)  # hide accepted targets: the accepted one leaves the view
    accepted = by_score(w)[0.95][0]
    assert accepted not in c.visible_ids() and len(c.visible_ids()) == 3
    key(qtbot, w, Qt.Key.Key_B)
    assert not w.actions_by_id["toggle_bad_pixels"].isChecked()
    before = w.current_image_id
    key(qtbot, w, Qt.Key.Key_D)
    assert w.current_image_id != before
    w.image_panel.status_combo.setFocus()  # a combo box claims letters for its type-ahead
    before = w.current_image_id
    key(qtbot, w, Qt.Key.Key_S)  # previous image, all the same
    assert w.current_image_id != before


def test_a_text_field_types_the_keys_and_esc_gives_them_back(review, qtbot):
    w = review
    search = w.image_list.search
    search.setFocus()
    image = w.current_image_id
    for k in (Qt.Key.Key_D, Qt.Key.Key_A, Qt.Key.Key_Tab):
        key(qtbot, w, k)
        if k != Qt.Key.Key_Tab:
            assert QApplication.focusWidget() is search
    assert search.text() == "da" and w.current_image_id == image
    assert w.canvas.selected_ids() == []  # Tab moved the focus on, no proposal was picked
    search.setFocus()
    key(qtbot, w, Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is w.canvas.view
    search.clear()


def test_mark_reviewed_and_next_from_the_note_field(review, qtbot):
    w = review
    image = w.current_image_id
    w.image_panel.note_edit.setFocus()
    key(qtbot, w, Qt.Key.Key_X)
    key(qtbot, w, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert rows(w.project.root, "SELECT status, note FROM images WHERE id = ?", image) == [
        ("reviewed", "x")
    ]
    assert w.current_image_id != image


def test_esc_focuses_the_canvas_without_a_click(review, qtbot):
    w = review
    n = len(rows(w.project.root, "SELECT id FROM targets"))
    key(qtbot, w, Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is w.canvas.view
    key(qtbot, w, Qt.Key.Key_Tab)  # the canvas does not eat Tab
    assert selected_score(w) == 0.95
    assert len(rows(w.project.root, "SELECT id FROM targets")) == n  # nothing was added


def test_review_keys_are_in_menus_and_cheat_sheet(review):
    from app.review_keys import SHORTCUTS
    from app.shortcuts import CheatSheetDialog, key_text

    rows_ = CheatSheetDialog(review).rows()
    titles = {a.text(): a.menu() for a in review.menuBar().actions() if a.menu() is not None}
    for spec in SHORTCUTS:
        assert (spec.category, spec.label.replace("&", ""), key_text(spec)) in rows_
        menu = titles["&View" if spec.category == "View" else "&Navigate"]
        assert review.actions_by_id[spec.action_id] in menu.actions()
        assert review.actions_by_id[spec.action_id].isEnabled()
    review.close_project()  # the welcome page: Tab moves the focus, no review key is live
    assert not any(review.actions_by_id[s.action_id].isEnabled() for s in SHORTCUTS)


def labelled_image_with_duplicates(w) -> int:
    """A reviewed demo image with hand labels; model proposals on two of them (stored the way a
    user gets them: proposals first, labels drawn on top) and a new one at (5, 5), score 0.85."""
    image = next(i for i in w.project.list_images() if i.n_targets >= 2)
    w.goto_image(image.id)
    labels = [t for t in w.document.targets if t.state == TargetState.ACCEPTED and t.box]
    on_top = [Target(box=(t.box[0] + 0.2, t.box[1] + 0.2, t.box[2] + 0.2, t.box[3] + 0.1),
                     score=0.9, source=Source.MODEL, state=TargetState.PROPOSAL)
              for t in labels[:2]]  # fmt: skip
    w.project.propose(image.id, [proposal(5, 5, 0.85)], None)
    for t in on_top:  # labels drawn over proposals: stored as they would be
        add_target(w.project, image.id, t)
    w.reload_current()  # labels written straight through the project: re-read them
    return image.id


def states(root: Path, image_id: int) -> list[str]:
    return sorted(r[0] for r in rows(root, "SELECT state FROM targets WHERE image_id = ?", image_id))


def test_accept_above_threshold_adds_no_duplicate(qtbot, main_window):
    """Accepting all above the threshold adds only the new one, as one undo step."""
    w = main_window
    root = w.project.root
    image_id = labelled_image_with_duplicates(w)
    accepted_before = states(root, image_id).count("accepted")
    w.set_score_threshold(0.8)
    w.actions_by_id["accept_above"].trigger()  # the toolbar's "Accept above threshold"
    after = rows(root, "SELECT x0, y0, state FROM targets WHERE image_id = ?", image_id)
    assert [r for r in after if r[2] == "proposal"] == []
    assert sum(r[2] == "accepted" for r in after) == accepted_before + 1
    assert (4.0, 4.0, "accepted") in after
    assert "2 proposals on an already accepted target" in w.statusBar().currentMessage()
    w.undo_stacks.undo()
    assert states(root, image_id).count("proposal") == 3


def test_accepting_one_duplicate_rejects_it(qtbot, main_window):
    w = main_window
    root = w.project.root
    image_id = labelled_image_with_duplicates(w)
    before = states(root, image_id)
    dup = next(t for t in w.document.targets if t.state == TargetState.PROPOSAL and t.score == 0.9)
    w.canvas.select([dup.id])
    w.canvas.view.setFocus()
    qtbot.keyClick(w.canvas.view, Qt.Key.Key_A)
    after = states(root, image_id)
    assert after.count("accepted") == before.count("accepted")  # no second label
    assert after.count("proposal") == before.count("proposal") - 1  # the duplicate is gone
    assert rows(root, "SELECT COUNT(*) FROM targets WHERE id = ?", dup.id) == [(0,)]


def test_marking_reviewed_with_the_sky_only_proposed_says_so(review, qtbot):
    """Ctrl+Enter on an image whose sky is a proposal nobody accepted: the image is reviewed (as
    asked) and the status bar says it has no sky label and how to accept it; with the sky
    accepted first (Ctrl+Shift+K), no such line."""
    import numpy as np

    w = review
    first = w.current_image_id
    sky = np.zeros((w.document.info.height, w.document.info.width), bool)
    sky[:60] = True
    w.project.propose(first, [proposal(*xys) for xys in PROPOSALS], sky)
    w.reload_current()
    key(qtbot, w, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert rows(w.project.root, "SELECT status FROM images WHERE id = ?", first) == [("reviewed",)]
    said = w.statusBar().currentMessage()
    assert "proposed sky was not accepted" in said and "Ctrl+Shift+K" in said
    second = w.current_image_id
    w.project.propose(second, [], sky)
    w.reload_current()
    key(qtbot, w, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    w.statusBar().clearMessage()
    key(qtbot, w, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert "proposed sky was not accepted" not in w.statusBar().currentMessage()
    with Project.open(w.project.root) as p:
        assert np.array_equal(p.sky_mask(second), sky)  # accepted before the review
