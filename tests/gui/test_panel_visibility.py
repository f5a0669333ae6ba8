"""Panels that are not on screen do no work on a visit or an edit, and catch up once shown
(issue 24, app/views.py, ADR 0038). The full window (every panel) at 1366x768, shown offscreen.

Truth: the project's rows read with sqlite3 on a connection of their own (name, holder, number of
targets), the image's size in the database; never the panels' own code.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDockWidget

from app.views import gate_of
from core.domain import Target
from widgets.canvas_tools import CanvasTool
from widgets.canvas_tools_sky import DrawSkyTool, EditSkyTool
from widgets.canvas_tools_targets import TargetsTool
from widgets.text import plural


@pytest.fixture
def window(qtbot, app_project_dir):
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings

    create_application(exception_hook=False)
    w = MainWindow(AppSettings())  # every panel installed, at the smallest screen we support
    qtbot.addWidget(w)
    w.setGeometry(0, 0, 1366, 768)
    with qtbot.waitExposed(w):
        w.show()
    assert w.open_project(app_project_dir)
    yield w
    w.close()


def row(root: Path, image_id: int) -> dict:
    """The image's row and its number of targets, as project.sqlite holds them."""
    con = sqlite3.connect(f"file:{root / 'project.sqlite'}?mode=ro", uri=True)
    try:
        name, assignee, width, height = con.execute(
            "SELECT name, assignee, width, height FROM images WHERE id = ?", (image_id,)
        ).fetchone()
        accepted, proposals = (con.execute(
            "SELECT COUNT(*) FROM targets WHERE image_id = ? AND state = ?", (image_id, state)
        ).fetchone()[0] for state in ("accepted", "proposal"))  # fmt: skip
    finally:
        con.close()
    return {"name": name, "assignee": assignee, "size": (width, height),
            "accepted": accepted, "proposals": proposals}  # fmt: skip


def dock(w, name: str) -> QDockWidget:
    found = w.findChild(QDockWidget, name)
    assert found is not None, name
    return found


def other_image(w, root: Path) -> int:
    """An image whose number of targets differs from the open one's (so a refresh shows)."""
    current = row(root, w.current_image_id)["accepted"]
    for image_id in w.list_model.ids():
        if row(root, image_id)["accepted"] != current:
            return image_id
    raise AssertionError("the demo project has images with different numbers of targets")


def summary(r: dict) -> str:
    return f"{plural(r['accepted'], 'target')}, {plural(r['proposals'], 'proposal')}"


def count_calls(monkeypatch, obj, name: str) -> list:
    calls: list = []
    original = getattr(obj, name)

    def spy(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(obj, name, spy)
    return calls


def test_the_default_layout_follows_with_what_is_on_screen(window):
    """Label workspace at 1366x768: the docks one sees follow; the tab behind (Team) and the
    docks of other workspaces (inspector, BAG-CP, statistics) do not."""
    live = {name for name in ("dock_objects", "dock_navigator", "dock_team", "InspectorDock",
                              "BagcpPreviewDock", "StatsDock")
            if gate_of(dock(window, name).widget()).live()}  # fmt: skip
    assert live == {"dock_objects", "dock_navigator"}
    assert dock(window, "dock_objects").isVisible() and dock(window, "dock_navigator").isVisible()


def test_visible_panels_show_the_visited_image_in_the_same_call(window, app_project_dir):
    target = other_image(window, app_project_dir)
    window.goto_image(target)  # no event loop turn below: the same call
    truth = row(app_project_dir, target)
    assert window.object_list.widget.summary.text() == summary(truth)
    assert window.navigator.widget._frame == truth["size"]


def test_a_closed_dock_does_nothing_on_a_visit_and_shows_the_image_when_opened(
    window, app_project_dir, qtbot, monkeypatch
):
    objects = window.object_list
    d = dock(window, "dock_objects")
    shown_before = objects.widget.summary.text()
    d.close()
    assert not gate_of(objects.widget).live()
    calls = count_calls(monkeypatch, objects.widget, "set_targets")
    target = other_image(window, app_project_dir)
    window.goto_image(target)
    assert calls == [] and objects.widget.summary.text() == shown_before
    assert gate_of(objects.widget).stale()
    window.show_dock(d)
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=5000)
    assert objects.widget.summary.text() == summary(row(app_project_dir, target))
    assert not gate_of(objects.widget).stale()
    window.goto_image(window.list_model.ids()[0])  # shown again: follows in the same call
    assert len(calls) == 2


def test_a_closed_dock_does_nothing_on_an_edit_and_lists_the_stored_targets_when_opened(
    window, app_project_dir, qtbot, monkeypatch
):
    objects = window.object_list
    image_id = window.current_image_id
    before = row(app_project_dir, image_id)
    d = dock(window, "dock_objects")
    d.close()
    calls = count_calls(monkeypatch, objects.widget, "set_targets")
    window.apply_edit(window.document.add_target_edit(Target(point=(5.5, 5.5), box=(4, 4, 7, 7))))
    qtbot.waitUntil(lambda: row(app_project_dir, image_id)["accepted"] == before["accepted"] + 1,
                    timeout=10_000)  # fmt: skip
    assert calls == [] and objects.widget.summary.text() == summary(before)
    window.show_dock(d)
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=5000)
    assert objects.widget.summary.text() == summary(row(app_project_dir, image_id))


def test_a_tab_behind_another_does_nothing_and_says_the_open_image_when_raised(
    window, app_project_dir, qtbot, monkeypatch
):
    team = window.team_panel
    d = dock(window, "dock_team")
    assert d.isVisible() and not gate_of(team).live()  # Qt calls it visible: it is a tab behind
    calls = count_calls(monkeypatch, team.holder_label, "setText")
    target = other_image(window, app_project_dir)
    window.goto_image(target)
    assert calls == []
    d.raise_()
    qtbot.waitUntil(lambda: gate_of(team).live(), timeout=5000)
    truth = row(app_project_dir, target)
    assert truth["assignee"] is None
    assert team.holder_label.text().startswith(f"{truth['name']}: held by nobody")


def test_outlines_go_with_the_image_they_were_drawn_on_whoever_drew_them(window):
    """The inspector's and BAG-CP's outlines: their docks may be hidden at the next visit."""
    window.canvas.set_highlight_boxes([(2.0, 2.0, 9.0, 9.0)], "#ff4040")
    assert not window.canvas.highlight_item.boundingRect().adjusted(10, 10, -10, -10).isEmpty()
    window.goto_image(window.image_list.neighbour_id(1))
    assert window.canvas.highlight_item.boundingRect().adjusted(10, 10, -10, -10).isEmpty()


def test_the_last_image_is_remembered_once_stepping_pauses_and_before_a_close(
    window, app_project_dir, qtbot
):
    location = window.project.location
    first = window.image_list.neighbour_id(1)
    window.goto_image(first)
    name = row(app_project_dir, first)["name"]
    qtbot.waitUntil(lambda: window.settings.last_image(location) == name, timeout=5000)
    second = window.image_list.neighbour_id(1)
    window.goto_image(second)
    window.close_project()  # before the timer: the pending write lands first
    assert window.settings.last_image(location) == row(app_project_dir, second)["name"]


def test_the_review_queue_listens_to_rows_only_while_the_list_is_sorted_by_it(window):
    queue = window.review_queue
    n = window.rows.observer_count()
    queue.set_sorted(True)
    assert window.rows.observer_count() == n + 1
    queue.set_sorted(False)
    assert window.rows.observer_count() == n


def test_the_open_image_is_never_prefetched(window, qtbot):
    """Its labels are the document's: an edit has no prefetched copy to forget."""
    current, neighbour = window.current_image_id, window.image_list.neighbour_id(1)
    window.prefetcher.forget(neighbour)
    window.prefetcher.prefetch([current, neighbour])  # one worker: in this order, if at all
    qtbot.waitUntil(lambda: window.prefetcher.is_ready(neighbour), timeout=20_000)
    assert not window.prefetcher.is_ready(current)


def test_a_tool_that_keeps_work_or_follows_the_sky_says_so():
    """The canvas calls ``reset`` / ``sky_changed`` only on tools declaring them."""
    tools, todo = set(), [CanvasTool]
    while todo:
        cls = todo.pop()
        tools.add(cls)
        todo.extend(cls.__subclasses__())
    assert {TargetsTool, DrawSkyTool, EditSkyTool} <= tools
    for cls in tools:
        assert (cls.reset is not CanvasTool.reset) <= cls.keeps_draft, cls.__name__
        assert (cls.sky_changed is not CanvasTool.sky_changed) <= cls.follows_sky, cls.__name__
    assert DrawSkyTool.keeps_draft and EditSkyTool.follows_sky
