"""Kill the GUI with SIGKILL right after some edits: reopening the project finds every edit.

The test starts the real GUI (`app.cli.gui.launch`, the code behind `python main.py gui PROJECT`)
in a subprocess, offscreen. This file doubles as the driver run inside that process
(``python -m tests.e2e.test_kill_gui PROJECT MARKER``): it clicks and types with QTest on the real
widgets, waits until each edit is on screen, writes MARKER and keeps the app running until killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tests._support import killed_gui

pytestmark = killed_gui.KILL_MARKS
NOTE = "checked after the kill"


def test_sigkill_after_edits_loses_nothing(demo_project_dir, tmp_path):
    from core.domain import TargetState
    from core.store.project import Project
    from tests._support.labels import set_status

    root = killed_gui.copied_project(demo_project_dir, tmp_path)
    with Project.open(root) as p:
        for info in p.list_images():
            set_status(p, info.id, "new")  # so that marking reviewed is a real change
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "SIRST_STUDIO_DATA_DIR": str(tmp_path / "data"),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    # Asserts the GUI was still running when killed, and that SIGKILL ended it.
    done = killed_gui.kill_after_marker(__file__, root, tmp_path / "edits.json", env, "finish its edits")
    with Project.open(root) as p:
        info = p.get_image(done["image_id"])
        assert info.note == NOTE
        assert info.status.value == "reviewed"
        points = [t.point for t in p.targets(info.id, TargetState.ACCEPTED)]
        assert tuple(done["target_point"]) in points
        assert done["target_id"] not in [
            t.id for t in p.targets(info.id) if t.point != tuple(done["target_point"])
        ]
        sky = p.sky_mask(info.id)
        x, y = done["sky_pixel"]
        assert sky is not None and sky[y, x]
        assert np.count_nonzero(sky) == done["sky_count"]


# ------------------------------------------------------------------ the driver (in the GUI process)
def _drive(window, marker: Path) -> None:
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest

    w = window
    # Window shortcuts (Ctrl+Return below) fire only in the active window; on a busy machine the
    # window may not be active yet 200 ms after it shows.
    w.activateWindow()
    assert QTest.qWaitForWindowActive(w, 20000), "the GUI window never became active"
    # The image with the least sky, so that the sky square below is a real change.
    sky_sizes = {i.id: _sky_size(w.project, i.id) for i in w.project.list_images()}
    image_id = min(sky_sizes, key=sky_sizes.get)
    w.goto_image(image_id)
    info = w.project.get_image(image_id)
    viewport = w.canvas.view.viewport()

    def click(x: float, y: float) -> None:
        QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         w.canvas.image_to_widget(x, y))  # fmt: skip

    def key(k, mod=Qt.KeyboardModifier.NoModifier) -> None:
        viewport.setFocus()
        QTest.keyClick(viewport, k, mod)

    # A target on a flat spot far from the others, then a sky square in a corner.
    boxes = [t.box for t in w.project.targets(image_id)]
    x, y = _free_spot(info.height, info.width, boxes)
    w.canvas.center_on(x, y, 8.0)
    click(x, y)
    assert w.save_queue.flush(60)  # saved off the GUI thread (ADR 0022): wait for "saved"
    added = max(w.project.targets(image_id), key=lambda t: t.id)
    key(Qt.Key.Key_2)
    ox, oy = _ground_square(w.project.sky_mask(image_id), info.height, info.width)
    w.canvas.center_on(ox + 8, oy + 8, 6.0)
    for vx, vy in [(0, 0), (12, 0), (12, 12), (0, 12)]:
        click(ox + vx + 0.5, oy + vy + 0.5)
    key(Qt.Key.Key_Return)
    key(Qt.Key.Key_1)
    note = w.image_panel.note_edit
    note.setFocus()
    QTest.keyClicks(note, NOTE)
    viewport.setFocus()  # focus loss commits the note at once
    key(Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # reviewed, then next image
    assert w.save_queue.flush(60)
    sky = w.project.sky_mask(image_id)

    def finish() -> None:
        if not w.save_queue.idle() or w.project.get_image(image_id).note != NOTE:
            QTimer.singleShot(50, finish)  # the note is committed on focus loss / idle timer
            return
        result = {"image_id": image_id, "target_point": list(added.point), "target_id": added.id,
                  "sky_pixel": [ox + 6, oy + 6], "sky_count": int(np.count_nonzero(sky))}  # fmt: skip
        killed_gui.write_marker(marker, result)  # the test sees the marker only when it is complete

    QTimer.singleShot(0, finish)


def _sky_size(project, image_id: int) -> int:
    sky = project.sky_mask(image_id)
    return 0 if sky is None else int(np.count_nonzero(sky))


def _ground_square(sky, h: int, w: int, size: int = 16) -> tuple[int, int]:
    """Top-left corner of a sky-free size x size block (the top-left corner when there is none)."""
    for oy in range(4, h - size - 4, 4):
        for ox in range(4, w - size - 4, 4):
            if sky is None or not sky[oy : oy + size, ox : ox + size].any():
                return ox, oy
    return 4, 4


def _free_spot(h: int, w: int, boxes, margin: int = 12) -> tuple[float, float]:
    taken = np.zeros((h, w), bool)
    taken[: margin + 16], taken[-margin:], taken[:, : margin + 16], taken[:, -margin:] = (True,) * 4
    for x0, y0, x1, y1 in boxes:
        taken[
            max(int(y0) - margin, 0) : int(y1) + margin, max(int(x0) - margin, 0) : int(x1) + margin
        ] = True
    ys, xs = np.nonzero(~taken)
    return float(xs[len(xs) // 2]) + 0.5, float(ys[len(ys) // 2]) + 0.5


if __name__ == "__main__":
    sys.exit(killed_gui.launch_driver(sys.argv, _drive))
