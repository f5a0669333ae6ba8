"""A labelling pass with real input events on a real X screen; the database is checked after
every step with plain sqlite3 (and masks decoded with OpenCV), not through the app's Project."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.domain import Source, Target, TargetState
from core.services.importer import import_images
from core.store.project import Project
from tests._support.labels import replace_proposals
from tests._support.sqlite_rows import project_rows
from tests.screen.conftest import write_image
from tests.screen.harness import image_to_screen

H, W = 240, 320
BLOB = (60, 50)  # (x, y) of the bright blob the annotator clicks
PROPOSALS = [((200, 40), 0.9), ((250, 150), 0.7), ((100, 180), 0.3)]  # (point, score)


@pytest.fixture
def blob_project(tmp_path: Path) -> Path:
    yy, xx = np.mgrid[0:H, 0:W]
    img = 3000.0 + 4.0 * xx
    for (x, y), amp in [(BLOB, 6000.0)] + [(p, 5000.0) for p, _ in PROPOSALS]:
        img += amp * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 0.9**2))
    folder = tmp_path / "images"
    folder.mkdir()
    write_image(folder / "frame.png", np.round(img).astype(np.uint16))
    root = tmp_path / "project"
    with Project.create(root) as project:
        import_images(project, folder)
        info = project.list_images()[0]
        proposals = [
            Target(point=(float(x), float(y)), box=(x - 1, y - 1, x + 2, y + 2),
                   source=Source.MODEL, state=TargetState.PROPOSAL, score=s)
            for (x, y), s in PROPOSALS
        ]  # fmt: skip
        replace_proposals(project, info.id, proposals, None)
    return root


class Db:
    """Read-only views of project.sqlite."""

    last: Db | None = None

    def __init__(self, root: Path) -> None:
        self.root = root
        Db.last = self

    def rows(self, sql: str, *args) -> list[tuple]:
        return project_rows(self.root, sql, *args)

    def manual(self) -> list[tuple]:
        return self.rows("SELECT id, px, py, x0, y0, x1, y1 FROM targets "
                         "WHERE source = 'manual' AND state = 'accepted'")  # fmt: skip

    def states(self) -> dict[float, str]:
        return dict(self.rows("SELECT score, state FROM targets WHERE source = 'model'"))

    def sky(self) -> np.ndarray | None:
        rows = self.rows("SELECT mask_png FROM regions WHERE class = 'sky' AND state = 'accepted'")
        if not rows:
            return None
        mask = cv2.imdecode(np.frombuffer(rows[0][0], np.uint8), cv2.IMREAD_UNCHANGED)
        return mask > 0


def wait_db(check, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if isinstance(value, np.ndarray) or value:
                return value
        except (sqlite3.Error, TypeError, IndexError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the database never showed: {what}; manual targets: {Db.last.manual() if Db.last else None}")
        time.sleep(0.1)


def test_labelling_pass_with_input_events(run_app, blob_project):
    db = Db(blob_project)
    app = run_app(blob_project)
    screen = image_to_screen(app.wait_image("frame", timeout=60), W)
    app.focus()
    # Click on the blob: one accepted manual target, snapped to the peak.
    app.click(*screen(BLOB[0] + 1.4, BLOB[1] - 1.2))
    (tid, px, py, x0, y0, x1, y1), = wait_db(db.manual, "the clicked target")
    assert (int(px), int(py)) == BLOB and x0 <= BLOB[0] < x1 and y0 <= BLOB[1] < y1
    box = (x0, y0, x1, y1)

    # Drag its body 12 px right and 5 px down.
    app.drag(screen(BLOB[0] + 0.5, BLOB[1] + 0.5), screen(BLOB[0] + 12.5, BLOB[1] + 5.5))
    moved = wait_db(lambda: [r for r in db.manual() if r[3] == box[0] + 12], f"the dragged box from {box}")
    assert moved[0][3:] == (box[0] + 12, box[1] + 5, box[2] + 12, box[3] + 5)

    # Nudge right with the arrow key, undo, redo.
    app.key("Right")
    wait_db(lambda: db.manual()[0][3] == box[0] + 13, "the nudge")
    app.key("ctrl+z")
    wait_db(lambda: db.manual()[0][3] == box[0] + 12, "undo of the nudge")
    app.key("ctrl+shift+z")
    wait_db(lambda: db.manual()[0][3] == box[0] + 13, "redo of the nudge")

    # Accept the proposals above the threshold (0.5 by default): 0.9 and 0.7, not 0.3.
    app.key("ctrl+shift+a")
    states = wait_db(lambda: (s := db.states()) and s[0.9] == "accepted" and s, "accept above")
    assert states == {0.9: "accepted", 0.7: "accepted", 0.3: "proposal"}

    # Sky: add a rectangle polygon (Enter closes), subtract an inner one (Shift+Enter), undo.
    app.key("2")
    app.wait_for(lambda s: s["mode"] == "draw_sky", what="draw-sky mode")
    for x, y in [(10, 10), (150, 10), (150, 100), (10, 100)]:
        app.click(*screen(x, y))
        time.sleep(0.5)  # not a double-click
    app.key("Return")
    sky = wait_db(db.sky, "the added sky")
    assert sky.shape == (H, W)
    assert sky[12:98, 12:148].all() and not sky[104:].any() and not sky[:, 154:].any()
    assert abs(int(sky.sum()) - 140 * 90) <= 2 * (140 + 90) + 4
    for x, y in [(40, 30), (80, 30), (80, 60), (40, 60)]:
        app.click(*screen(x, y))
        time.sleep(0.5)
    app.key("shift+Return")
    hole = wait_db(lambda: (m := db.sky()) is not None and not m[45, 60] and m, "the subtraction")
    assert not hole[32:58, 42:78].any() and hole[12:28, 12:148].all() and hole[62:98, 12:38].all()
    app.key("ctrl+z")
    wait_db(lambda: db.sky()[32:58, 42:78].all(), "undo of the subtraction")
