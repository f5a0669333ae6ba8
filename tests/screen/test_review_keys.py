"""A keyboard-only review of pre-annotated images in the real app on a real X screen, after a
click in the image list: next proposal, accept, reject, mark reviewed & next, accept above the
threshold on an image with hand labels. Every step is checked in project.sqlite with sqlite3."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.domain import Source, Target, TargetState
from core.services.importer import import_images
from core.store.project import Project
from tests._support.labels import add_target
from tests._support.sqlite_rows import project_rows as rows
from tests.screen.conftest import write_image

H, W = 240, 320
# frame_a: proposals only, (x, y, score)
A_PROPOSALS = [(60, 50, 0.6), (200, 40, 0.9), (250, 150, 0.75)]
# frame_b: two hand labels, a proposal on the first (0.95), a new one (0.85), a low one (0.3)
B_LABELS = [(80, 80), (220, 180)]
B_PROPOSALS = [(80.3, 80.2, 0.95), (150, 60, 0.85), (40, 200, 0.3)]


def box_target(x: float, y: float, score: float | None, state: TargetState) -> Target:
    src = Source.MODEL if state == TargetState.PROPOSAL else Source.MANUAL
    return Target(point=(float(x), float(y)), box=(x - 1, y - 1, x + 2, y + 2), score=score,
                  source=src, state=state)  # fmt: skip


@pytest.fixture
def review_project(tmp_path: Path) -> Path:
    yy, xx = np.mgrid[0:H, 0:W]
    folder = tmp_path / "images"
    folder.mkdir()
    for name, spots in (("frame_a", [p[:2] for p in A_PROPOSALS]),
                        ("frame_b", B_LABELS + [p[:2] for p in B_PROPOSALS])):  # fmt: skip
        img = 3000.0 + 4.0 * xx
        for x, y in spots:
            img += 5000.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 0.9**2))
        write_image(folder / f"{name}.png", np.round(img).astype(np.uint16))
    root = tmp_path / "project"
    with Project.create(root) as project:
        import_images(project, folder)
        a, b = sorted(project.list_images(), key=lambda i: i.name)
        project.propose(a.id, [box_target(*p, TargetState.PROPOSAL) for p in A_PROPOSALS], None)
        project.propose(b.id, [box_target(*p, TargetState.PROPOSAL) for p in B_PROPOSALS], None)
        for x, y in B_LABELS:  # hand labels drawn after the pre-annotation, one on a proposal
            add_target(project, b.id, box_target(x, y, None, TargetState.ACCEPTED))
    return root


def wait_db(check, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except sqlite3.Error:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the database never showed: {what}")
        time.sleep(0.1)


def test_keyboard_only_review_after_a_click_in_the_image_list(run_app, review_project, tmp_path):
    root = review_project
    ids = dict(rows(root, "SELECT name, id FROM images"))

    def targets(name: str) -> dict[tuple[float, float], tuple[int, str, float | None]]:
        found = rows(root, "SELECT id, x0, y0, state, score FROM targets WHERE image_id = ?",
                     ids[name])  # fmt: skip
        return {(x0 + 1, y0 + 1): (tid, state, score) for tid, x0, y0, state, score in found}

    a0 = targets("frame_a")
    by_score = {s: a0[(x, y)][0] for x, y, s in A_PROPOSALS}
    app = run_app(root)
    state = app.wait_for(lambda s: s.get("image") == "frame_a" and s.get("list_row"),
                         timeout=60, what="frame_a and its list row")  # fmt: skip
    app.focus()
    x, y, *_ = state["list_row"]
    app.click(x, y)  # the image list takes the focus
    app.wait_for(lambda s: s.get("focus") not in (None, "QGraphicsView") and
                 s["image"] == "frame_a", what="focus in the image list")  # fmt: skip
    focus_after_click = app.probe()["focus"]

    # Tab: the best proposal (0.9) is selected and centred.
    app.key("Tab")
    s = app.wait_for(lambda s: s["selected"] == [by_score[0.9]], what="the 0.9 proposal selected")
    vx, vy, vw, vh = s["viewport"]
    (ox, oy), (cx, _cy) = s["image_origin"], s["image_corner"]
    scale = (cx - ox) / W
    sx, sy = ox + 200.5 * scale, oy + 40.5 * scale  # the proposal's centre on screen
    assert abs(sx - (vx + vw / 2)) <= scale and abs(sy - (vy + vh / 2)) <= scale
    assert scale >= 6.0 - 1e-6
    shot = app.grab()
    Image.fromarray(shot).save(tmp_path / "review_tab.png")

    # A accepts it and steps to 0.75; R rejects that and steps to 0.6.
    app.key("a")
    wait_db(lambda: targets("frame_a")[(200, 40)][1] == "accepted", "0.9 accepted")
    app.wait_for(lambda s: s["selected"] == [by_score[0.75]], what="stepped to 0.75")
    app.key("r")
    wait_db(lambda: (250, 150) not in targets("frame_a"), "0.75 rejected (deleted)")
    app.wait_for(lambda s: s["selected"] == [by_score[0.6]], what="stepped to 0.6")
    assert {k: v[1] for k, v in targets("frame_a").items()} == {
        (200, 40): "accepted", (60, 50): "proposal"}  # fmt: skip

    # Mark reviewed & next: frame_a reviewed, frame_b opens.
    app.key("ctrl+Return")
    wait_db(lambda: rows(root, "SELECT status FROM images WHERE id = ?", ids["frame_a"])
            == [("reviewed",)], "frame_a reviewed")  # fmt: skip
    app.wait_image("frame_b")

    # Accept above the threshold (0.5): 0.95 lies on a hand label and is rejected, 0.85 is
    # accepted, 0.3 stays a proposal: no duplicate label.
    app.key("ctrl+shift+a")
    b = wait_db(lambda: (t := targets("frame_b")) and (150, 60) in t and t[(150, 60)][1] ==
                "accepted" and t, "accept above the threshold")  # fmt: skip
    assert sorted((k, v[1]) for k, v in b.items()) == [
        ((40, 200), "proposal"), ((80, 80), "accepted"), ((150, 60), "accepted"),
        ((220, 180), "accepted")]  # fmt: skip
    assert focus_after_click != "QGraphicsView"  # all of it without giving the canvas focus

    # Zoom keys as X sends them ("plus" is Shift+equal on this keymap): 1:1, in, out, in.
    for keysym, zoom in (("0", "1.00x"), ("plus", "1.50x"), ("minus", "1.00x"), ("equal", "1.50x")):
        app.key(keysym)
        app.wait_for(lambda s, z=zoom: s["zoom_label"].endswith(f"zoom {z}"), what=f"zoom {zoom}")
