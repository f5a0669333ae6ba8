"""A dock behind another tab does nothing on a visit and says the open image once its tab is
clicked; a dock on screen follows at once (issue 24, app/views.py), in the real app under Xvfb.

The demo project at the default size: the Team dock is a tab behind Pre-annotation. The image
is changed with the D key and the Team tab clicked through the X server; what the docks say comes
from the probe (app/screen_probe.py "views"), what they must say from project.sqlite (sqlite3
while the app runs).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from app.layout_probe import LAYOUT_ENV
from tests.screen.test_review_queue import sql
from widgets.text import plural


def stored_summary(db: Path, name: str) -> str:
    (accepted, proposals), = sql(db, "SELECT SUM(t.state = 'accepted'), SUM(t.state = 'proposal') "
                                     "FROM images i LEFT JOIN targets t ON t.image_id = i.id "
                                     "WHERE i.name = ?", name)  # fmt: skip
    return f"{plural(accepted or 0, 'target')}, {plural(proposals or 0, 'proposal')}"


def test_a_tab_behind_catches_up_when_clicked(run_app, demo_project_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(LAYOUT_ENV, "1")  # the probe lists the dock tabs (where to click)
    root = tmp_path / "demo"
    shutil.copytree(demo_project_dir, root, ignore=shutil.ignore_patterns(".cache"))
    db = root / "project.sqlite"
    app = run_app(root)
    state = app.wait_for(lambda s: s.get("image") and "layout" in s and "views" in s, 240,
                         "the first image")  # fmt: skip
    first = state["image"]
    docks = state["views"]["docks"]
    assert docks["dock_objects"]["live"] and docks["dock_navigator"]["live"]
    assert not docks["dock_team"]["live"], "the Team dock should be a tab behind Pre-annotation"
    assert state["views"]["objects_summary"] == stored_summary(db, first)

    app.focus()
    app.key("d")  # next image
    state = app.wait_for(lambda s: s.get("image") not in (None, first), 60, "the next image")
    second = state["image"]
    views = state["views"]
    assert views["objects_summary"] == stored_summary(db, second)  # on screen: followed
    assert views["docks"]["dock_team"] == {"live": False, "stale": True}
    assert not (views["team_holder"] or "").startswith(f"{second}:")  # behind: nothing done

    tab = next(t for t in state["layout"]["tabs"] if t["title"] == "Team")
    x, y, w, h = tab["rect"]
    app.click(x + w / 2, y + h / 2)
    state = app.wait_for(lambda s: s["views"]["docks"]["dock_team"]["live"], 30, "the Team tab")
    (assignee,), = sql(db, "SELECT assignee FROM images WHERE name = ?", second)  # fmt: skip
    holder = state["views"]["team_holder"]
    assert holder.startswith(f"{second}: held by {assignee or 'nobody'}"), holder
    assert state["views"]["docks"]["dock_team"]["stale"] is False
    assert "dock_team" in {d["name"] for d in state["layout"]["docks"] if d["shown"]}
    app.grab()  # tests/screen: look at work/screen.png when it fails
