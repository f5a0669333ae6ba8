"""The label-noise queue and "next by attention" on a real X screen (issue 20).

Ctrl+Shift+L scans the reviewed images: the app jumps to the strongest dispute's image and outlines
it in the queue's colour (#ffb000) on screen at the label's mapped position; K keeps the label and M
takes the model's view, both checked in project.sqlite (sqlite3, while the app runs); Shift+N opens
the unreviewed image the image_attention rows put first. Truth: the stored rows and the
label's image coordinates; the app only says where the image lies on screen (the probe)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np

from core.domain import ReviewStatus, Source, Target, TargetState
from core.store.new_image import NewImage
from core.store.project import Project
from tests._support.labels import add_target, set_status
from tests.screen.conftest import test_pattern, write_image

HIT_RGB = np.array([255, 176, 0])  # app/noise_panel.py HIT_COLOR


def sql(path: Path, query: str, *args) -> list[tuple]:
    con = sqlite3.connect(path, timeout=10)
    try:
        return con.execute(query, args).fetchall()
    finally:
        con.close()


def hit_pixels(screen: np.ndarray, x0: float, y0: float, x1: float, y1: float, pad: int = 4) -> int:
    patch = screen[int(y0) - pad : int(y1) + pad, int(x0) - pad : int(x1) + pad].astype(int)
    return int((np.abs(patch - HIT_RGB).max(axis=2) <= 40).sum())


def scene(project: Project, image_id: int, k: int) -> None:
    """Labels at (10, 10) (confirmed), (30, 30) (scored 0.08), (50, 50) (nothing near it); an
    unlabelled 0.7 detection at (78, 78); k proposals near 0.5; skies that agree."""
    for x, y in ((10, 10), (30, 30), (50, 50)):
        add_target(project, image_id, Target(box=(x, y, x + 4, y + 4)))
    spec = [(11, 10, 0.9), (30, 32, 0.08), (78, 78, 0.7)] + [(60 + 5 * j, 90, 0.45) for j in range(k)]
    project.propose(image_id, [Target(box=(x, y, x + 4, y + 4), source=Source.MODEL, score=s,
                                      state=TargetState.PROPOSAL) for x, y, s in spec], None)  # fmt: skip
    project.record_attention(image_id, operating=0.5)


def test_noise_queue_and_next_by_attention_on_screen(run_app, tmp_path: Path):
    folder = tmp_path / "images"
    folder.mkdir()
    names = ["a_new", "b_rev", "c_rev", "d_new"]
    root = tmp_path / "project"
    with Project.create(root) as project:
        infos = project.add_images([NewImage(path=write_image(folder / f"{n}.png",
                                                               test_pattern(100, 100, np.uint8, seed=k)))
                                    for k, n in enumerate(names)])  # fmt: skip
        for k, info in enumerate(infos):
            scene(project, info.id, [1, 0, 0, 3][k])
            if info.name.endswith("_rev"):
                set_status(project, info.id, ReviewStatus.REVIEWED)
    db = root / "project.sqlite"
    ids = {i.name: i.id for i in infos}

    app = run_app(root)
    app.wait_image("a_new", timeout=240)  # app start on a loaded machine
    app.focus()
    app.key("ctrl+shift+l")
    state = app.wait_image("b_rev", timeout=60)  # the first reviewed image with the strongest dispute
    (ox, oy), (cx, cy) = state["image_origin"], state["image_corner"]
    sx, sy = (cx - ox) / 100, (cy - oy) / 100
    assert sx > 3, f"the dispute is not zoomed in: {state}"
    # the strongest dispute: the label at (50, 50)-(54, 54) that nothing is proposed near
    box = (ox + 50 * sx, oy + 50 * sy, ox + 54 * sx, oy + 54 * sy)
    shot = app.grab()
    assert hit_pixels(shot, *box) >= 12, f"no outline around the disputed label; {state}"
    far = (ox + 30 * sx, oy + 70 * sy, ox + 34 * sx, oy + 74 * sy)  # nothing there
    assert hit_pixels(shot, *far, pad=0) == 0

    app.focus()
    app.key("k")  # keep the label
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not sql(db, "SELECT * FROM label_verdicts"):
        time.sleep(0.2)
    assert sql(db, "SELECT image_id, key, verdict FROM label_verdicts") == [
        (ids["b_rev"], "doubtful:52:52", "kept")]
    label2 = sql(db, "SELECT id FROM targets WHERE image_id = ? AND state = 'accepted' AND x0 = 30",
                 ids["b_rev"])[0][0]  # fmt: skip
    app.key("m")  # the next entry, the label scored 0.08: the model's view deletes it
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sql(db, "SELECT id FROM targets WHERE id = ?", label2):
        time.sleep(0.2)
    assert sql(db, "SELECT id FROM targets WHERE id = ?", label2) == []
    app.wait_for(lambda s: s.get("image") == "b_rev", timeout=10)
    app.grab()  # the state after the answers (the README screenshot is taken from a run like this)

    app.key("shift+n")  # next unreviewed by attention: the rows say d_new (3 near-threshold) first
    expected = sql(db, "SELECT i.name FROM image_attention a JOIN images i ON i.id = a.image_id "
                   "WHERE i.status != 'reviewed' ORDER BY a.score DESC, a.image_id")  # fmt: skip
    assert [n for (n,) in expected] == ["d_new", "a_new"]
    app.wait_image("d_new", timeout=30)
