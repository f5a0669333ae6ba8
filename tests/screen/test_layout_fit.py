"""The default layout on a 1366x768 and a 1400x900 screen, in the real app under Xvfb (issue 19).

With proposals on the open image: the canvas takes at least 60 % of the window, "Mark reviewed &
next" is on screen (its pixels are a button's, not the canvas's), and in every workspace (Alt+1,
Alt+2, Alt+3 through the X server), with every tabbed dock brought to the front by a click on its
tab, no control of a shown dock is cut off and no form panel scrolls. Geometry comes from the
probe (app/layout_probe.py); the keys and clicks go through X; the button is checked on the grab.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from app.layout_probe import LAYOUT_ENV
from core.domain import Source, Target, TargetState
from core.store.project import Project
from tests._support.labels import replace_proposals
from tests.screen.conftest import SWITCH
from tests.screen.harness import APT_LINE, AppUnderTest, XServer, missing_tools

SIZES = [(1366, 768), (1400, 900)]
WORKSPACES = {"label": "alt+1", "train": "alt+2", "inspect": "alt+3"}
LABEL_DOCKS = {"dock_images", "dock_navigator", "dock_image", "dock_objects", "PreannotateDock"}
SHOTS_ENV = "SIRST_LAYOUT_SHOTS"  # a folder to keep the grabs in (to look at them)


@pytest.fixture
def review_project(demo_project_dir: Path, tmp_path: Path) -> Path:
    """The demo project with four proposals (scores 0.9 .. 0.6) on every image."""
    root = tmp_path / "demo"
    shutil.copytree(demo_project_dir, root, ignore=shutil.ignore_patterns(".cache"))
    with Project.open(root) as project:
        for info in project.list_images():
            proposals = [
                Target(point=(30.0 + 20 * k, 40.0), box=(29.0 + 20 * k, 39.0, 32.0 + 20 * k, 42.0),
                       source=Source.MODEL, score=0.9 - 0.1 * k, state=TargetState.PROPOSAL)
                for k in range(4)
            ]  # fmt: skip
            replace_proposals(project, info.id, proposals, None)
    return root


def _layout(app: AppUnderTest, what: str, check) -> dict:
    return app.wait_for(lambda s: "layout" in s and check(s["layout"]), 60, what)["layout"]


def _shown(layout: dict) -> dict[str, dict]:
    return {d["name"]: d for d in layout["docks"] if d["shown"]}


def _check_docks(layout: dict, where: str) -> None:
    for dock in _shown(layout).values():
        assert not dock["floating"], f"{where}: {dock['title']} floats"
        assert dock["problems"] == [], f"{where}: {dock['title']}: {dock['problems']}"


def _keep(app: AppUnderTest, name: str) -> None:
    folder = os.environ.get(SHOTS_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(app.work / "screen.png", Path(folder) / f"{name}.png")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_default_layout_fits_the_screen(size, review_project, tmp_path, monkeypatch) -> None:
    if os.environ.get(SWITCH, "1") == "0":
        pytest.skip(f"screen-level tests switched off ({SWITCH}=0)")
    if missing_tools():  # as tests/screen/conftest.py: CI must not pass by skipping
        pytest.fail(
            f"screen-level tests need {', '.join(missing_tools())}: {APT_LINE}", pytrace=False
        )
    monkeypatch.setenv(LAYOUT_ENV, "1")
    server = XServer(tmp_path, size)
    work = tmp_path / "app"
    work.mkdir()
    app = AppUnderTest(server.display, review_project, work)
    try:
        state = app.wait_for(
            lambda s: s.get("image") and s.get("layout", {}).get("proposals_shown", 0) >= 4,
            60, "the first image with its proposals",
        )  # fmt: skip
        width, height = size
        assert state["window"] == [0, 0, width, height]  # the default window fits the screen
        layout = state["layout"]
        assert layout["workspace"] == "label"
        assert set(_shown(layout)) == LABEL_DOCKS
        cx, cy, cw, ch = layout["canvas"]
        assert cw * ch >= 0.6 * width * height, f"canvas {cw}x{ch} in a {width}x{height} window"

        # "Mark reviewed & next": inside the window and the Image dock, drawn as a button.
        bx, by, bw, bh = layout["review_button"]
        dx, dy, dw, dh = _shown(layout)["dock_image"]["rect"]
        assert dx <= bx and bx + bw <= dx + dw and dy <= by and by + bh <= dy + dh
        assert by + bh <= height
        screen = app.grab()
        _keep(app, f"label_{width}x{height}")
        button = screen[by + 2 : by + bh - 2, bx + 2 : bx + bw - 2].mean(axis=2)
        assert button.mean() > 150, "the button area is dark (the canvas, or nothing)"
        assert (button < 110).mean() > 0.01, "no text on the button"

        app.focus()
        for workspace, key in WORKSPACES.items():
            app.key(key)
            layout = _layout(
                app, f"the {workspace} workspace", lambda s, w=workspace: s["workspace"] == w
            )
            _check_docks(layout, f"{workspace} at {width}x{height}")
            app.grab()
            _keep(app, f"{workspace}_{width}x{height}")
            members = [d for d in layout["docks"] if not d["shown"]]
            for dock in members:
                tab = next((t for t in layout["tabs"] if t["title"] == dock["title"]), None)
                if tab is None:
                    continue  # not part of this workspace
                x, y, w, h = tab["rect"]
                app.click(x + w / 2, y + h / 2)
                time.sleep(0.3)
                raised = _layout(app, f"{dock['title']} raised",
                                 lambda s, n=dock["name"]: n in _shown(s))  # fmt: skip
                _check_docks(raised, f"{dock['title']} in {workspace} at {width}x{height}")
                app.grab()
                _keep(app, f"{workspace}_{dock['name']}_{width}x{height}")
    finally:
        app.close()
        server.stop()
