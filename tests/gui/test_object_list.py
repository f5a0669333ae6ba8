"""The Objects dock (app/object_list_panel.py, widgets/object_list.py) against project.sqlite read
with sqlite3: rows, states and scores; edits and undo; selection both ways; sorting; hiding."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt

from app import object_list_panel
from core.domain import Source, Target, TargetState
from core.store.project import Project
from tests._support.labels import replace_proposals
from tests._support.sqlite_rows import project_rows
from tests._support.windows import bare_window, show_window
from widgets.object_list import SCORE_COL

SCORES = (0.9, 0.7, 0.55, 0.3)  # 0.3 is below the default 0.5 threshold


def db_rows(root: Path, image_id: int, with_source: bool = False) -> dict[int, tuple]:
    rows = project_rows(root, "SELECT id, state, score, source FROM targets WHERE image_id = ?", image_id)
    return {int(i): (st, sc, src) if with_source else (st, sc) for i, st, sc, src in rows}


@pytest.fixture
def project_dir(app_project_dir: Path) -> Path:
    with Project.open(app_project_dir) as project:
        first = project.list_images()[0]
        proposals = [
            Target(point=(40.0 + 30 * k, 60.0), box=(39.0 + 30 * k, 59.0, 42.0 + 30 * k, 63.0),
                   source=Source.MODEL, score=s, state=TargetState.PROPOSAL)
            for k, s in enumerate(SCORES)
        ]  # fmt: skip
        replace_proposals(project, first.id, proposals, None)
    return app_project_dir


@pytest.fixture
def window(qtbot, project_dir):
    w = bare_window(qtbot)
    panel = object_list_panel.install(w)
    show_window(qtbot, w, (1366, 768))
    assert w.open_project(project_dir)
    w.goto_image(w.list_model.ids()[0])
    yield w, panel
    w.close()


def listed(panel) -> dict[int, tuple[str, str]]:
    model = panel.widget.proxy
    out = {}
    for row in range(model.rowCount()):
        values = [model.index(row, c).data() for c in range(3)]
        out[int(values[0])] = (values[1], values[2])
    return out


def expected(root: Path, image_id: int, threshold: float = 0.5) -> dict[int, tuple[str, str]]:
    out = {}
    for tid, (state, score, source) in db_rows(root, image_id, with_source=True).items():
        if state == "proposal" and score < threshold:
            continue
        kind = "proposal" if state == "proposal" else source
        out[tid] = (kind, "" if score is None else f"{score:.2f}")
    return out


def test_rows_match_the_database_and_follow_edits_and_undo(window, project_dir):
    w, panel = window
    image_id = w.current_image_id
    assert panel.subscribed()
    assert listed(panel) == expected(project_dir, image_id)
    assert len([v for v in listed(panel).values() if v[0] == "proposal"]) == 3  # 0.3 hidden
    # Accept the 0.9 proposal and delete a manual target: the list follows each edit.
    rows = db_rows(project_dir, image_id)
    top = next(i for i, (s, sc) in rows.items() if s == "proposal" and sc == pytest.approx(0.9))
    manual = next(i for i, (s, sc) in rows.items() if s == "accepted" and sc is None)
    w.controller.accept([top])
    w.controller.delete_targets([manual])
    assert db_rows(project_dir, image_id)[top][0] == "accepted"
    assert manual not in db_rows(project_dir, image_id)
    assert listed(panel) == expected(project_dir, image_id)
    w.undo_stacks.undo()
    w.undo_stacks.undo()
    assert listed(panel) == expected(project_dir, image_id)
    assert db_rows(project_dir, image_id)[top][0] == "proposal"
    # The threshold moves: the list shows what the canvas shows.
    w.set_score_threshold(0.2)
    assert listed(panel) == expected(project_dir, image_id, 0.2)
    assert set(listed(panel)) == set(w.canvas.visible_ids())


def test_switching_images_and_closing_the_project(window, project_dir):
    w, panel = window
    second = w.list_model.ids()[1]
    w.goto_image(second)
    assert listed(panel) == expected(project_dir, second)
    w.close_project()
    assert not panel.subscribed()
    assert panel.widget.proxy.rowCount() == 0


def test_selection_both_ways_and_centring(window, project_dir, qtbot):
    w, panel = window
    table = panel.widget.table
    # Canvas -> list
    ids = sorted(listed(panel))[:2]
    w.canvas.select(ids)
    assert sorted(panel.widget.selected_ids()) == ids
    # List -> canvas: a click on the 0.55 proposal's row selects it and centres the view on it.
    rows = db_rows(project_dir, w.current_image_id)
    target = next(i for i, (s, sc) in rows.items() if sc == pytest.approx(0.55))
    w.canvas.center_on(5.0, 5.0, 8.0)
    row = panel.widget.ids().index(target)
    rect = table.visualRect(panel.widget.proxy.index(row, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert w.canvas.selected_ids() == [target]
    assert panel.widget.selected_ids() == [target]
    view = w.canvas.view_rect()
    # Its box is (39 + 60, 59, 42 + 60, 63): centre (100.5, 61), by hand.
    assert view.center().x() == pytest.approx(100.5, abs=0.5)
    assert view.center().y() == pytest.approx(61.0, abs=0.5)
    assert w.canvas.zoom() == pytest.approx(8.0, rel=0.02)


def test_sort_by_score_and_hide_toggles(window, project_dir, qtbot):
    w, panel = window
    header = panel.widget.table.horizontalHeader()
    x = header.sectionViewportPosition(SCORE_COL) + header.sectionSize(SCORE_COL) // 2
    scores_by_id = {i: sc for i, (_s, sc) in db_rows(project_dir, w.current_image_id).items()}
    orders = []
    for _ in range(2):  # the default (high first), then a click on the header flips it
        ids = panel.widget.ids()
        orders.append([scores_by_id[i] if scores_by_id[i] is not None else -1.0 for i in ids])
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    assert orders[0] == sorted(orders[0], reverse=True)
    assert orders[1] == sorted(orders[1])
    assert orders[0][:3] == [0.9, 0.7, 0.55]
    # Hide proposals: gone from the canvas and the list; hide targets: the same for accepted.
    rows = db_rows(project_dir, w.current_image_id)
    proposals = {i for i, (s, _sc) in rows.items() if s == "proposal"}
    accepted = {i for i, (s, _sc) in rows.items() if s == "accepted"}
    panel.widget.proposals_check.setChecked(False)
    assert set(w.canvas.visible_ids()) == accepted == set(panel.widget.ids())
    panel.widget.targets_check.setChecked(False)
    assert w.canvas.visible_ids() == [] and panel.widget.ids() == []
    panel.widget.proposals_check.setChecked(True)
    shown = {i for i in proposals if rows[i][1] >= 0.5}
    assert set(w.canvas.visible_ids()) == shown == set(panel.widget.ids())


def test_the_list_boxes_and_the_view_menu_toggles_are_one_setting(qtbot, project_dir) -> None:
    from app import review_keys
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings

    create_application(exception_hook=False)
    w = MainWindow(AppSettings(), install_panels=False)
    qtbot.addWidget(w)
    review_keys.install(w)  # the View menu's T / P toggles (installed first, as in the app)
    panel = object_list_panel.install(w)
    w.show()
    qtbot.waitExposed(w)
    assert w.open_project(project_dir)
    w.goto_image(w.list_model.ids()[0])
    action = w.actions_by_id["toggle_proposals"]
    action.trigger()  # View > Show / hide proposals (P)
    assert not panel.widget.proposals_check.isChecked()
    assert not w.canvas.kinds_visible()[1]
    assert all(t.state != TargetState.PROPOSAL for t in w.document.targets if t.id in panel.widget.ids())
    panel.widget.proposals_check.setChecked(True)
    assert action.isChecked() and w.canvas.kinds_visible()[1]
    w.close()
