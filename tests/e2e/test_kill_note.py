"""A note typed just before a crash is not lost (issue 19): SIGKILL right after the last keystroke,
with the cursor still in the note field, and the reopened project holds the whole note.

As tests/e2e/test_kill_gui.py, this file doubles as the driver run inside the GUI process
(``python -m tests.e2e.test_kill_note PROJECT MARKER``): it types into the real note field with
QTest and writes MARKER at once, in the same turn of the event loop (no idle time, no focus change).
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests._support import killed_gui

pytestmark = killed_gui.KILL_MARKS
NOTE = "typed right before the crash"


def test_sigkill_right_after_typing_a_note_keeps_it(demo_project_dir, tmp_path):
    from core.store.project import Project

    root = killed_gui.copied_project(demo_project_dir, tmp_path)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "SIRST_STUDIO_DATA_DIR": str(tmp_path / "data"),
           "SIRST_STUDIO_WARM_MODEL": "0"}  # fmt: skip
    # Asserts that SIGKILL ended the GUI (still running when killed).
    done = killed_gui.kill_after_marker(__file__, root, tmp_path / "typed.json", env, "type the note", poll_s=0.02)
    assert done["focus_in_note"] is True  # nothing but the keystrokes could have saved it
    with Project.open(root) as p:
        assert p.get_image(done["image_id"]).note == done["before"] + NOTE


def _drive(window, marker: Path) -> None:
    from PySide6.QtTest import QTest

    note = window.image_panel.note_edit
    before = note.toPlainText()
    note.setFocus()
    note.moveCursor(note.textCursor().MoveOperation.End)
    QTest.keyClicks(note, NOTE)
    result = {"image_id": window.current_image_id, "before": before,
              "focus_in_note": note.hasFocus() or window.focusWidget() is note}  # fmt: skip
    killed_gui.write_marker(marker, result)  # then the test kills this process at once


if __name__ == "__main__":
    sys.exit(killed_gui.launch_driver(sys.argv, _drive))
