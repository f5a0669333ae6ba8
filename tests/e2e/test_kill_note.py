"""A note typed just before a crash is not lost (issue 19): SIGKILL right after the last keystroke,
with the cursor still in the note field, and the reopened project holds the whole note.

As tests/e2e/test_kill_gui.py, this file doubles as the driver run inside the GUI process
(``python tests/e2e/test_kill_note.py PROJECT MARKER``): it types into the real note field with
QTest and writes MARKER at once, in the same turn of the event loop (no idle time, no focus change).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTE = "typed right before the crash"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_right_after_typing_a_note_keeps_it(demo_project_dir, tmp_path):
    from core.store.project import Project
    from tests._support.killed_gui import kill_after_marker  # not at the top: this file is a script

    root = tmp_path / "project"
    shutil.copytree(demo_project_dir, root, ignore=shutil.ignore_patterns(".cache"))
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "SIRST_STUDIO_DATA_DIR": str(tmp_path / "data"),
           "SIRST_STUDIO_WARM_MODEL": "0"}  # fmt: skip
    # Asserts that SIGKILL ended the GUI (still running when killed).
    done = kill_after_marker(__file__, root, tmp_path / "typed.json", env, "type the note", poll_s=0.02)
    assert done["focus_in_note"] is True  # nothing but the keystrokes could have saved it
    with Project.open(root) as p:
        assert p.get_image(done["image_id"]).note == done["before"] + NOTE


def _drive(window, marker: Path) -> None:
    from PySide6.QtTest import QTest

    from tests._support.killed_gui import write_marker

    note = window.image_panel.note_edit
    before = note.toPlainText()
    note.setFocus()
    note.moveCursor(note.textCursor().MoveOperation.End)
    QTest.keyClicks(note, NOTE)
    result = {"image_id": window.current_image_id, "before": before,
              "focus_in_note": note.hasFocus() or window.focusWidget() is note}  # fmt: skip
    write_marker(marker, result)  # then the test kills this process at once


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    from tests._support.killed_gui import launch_driver

    sys.exit(launch_driver(sys.argv, _drive))
