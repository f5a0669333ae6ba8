"""A note typed just before a crash is not lost (issue 19): SIGKILL right after the last keystroke,
with the cursor still in the note field, and the reopened project holds the whole note.

As tests/e2e/test_kill_gui.py, this file doubles as the driver run inside the GUI process
(``python tests/e2e/test_kill_note.py PROJECT MARKER``): it types into the real note field with
QTest and writes MARKER at once, in the same turn of the event loop (no idle time, no focus change).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTE = "typed right before the crash"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_right_after_typing_a_note_keeps_it(demo_project_dir, tmp_path):
    from core.store.project import Project

    root = tmp_path / "project"
    shutil.copytree(demo_project_dir, root, ignore=shutil.ignore_patterns(".cache"))
    marker = tmp_path / "typed.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               SIRST_STUDIO_DATA_DIR=str(tmp_path / "data"), SIRST_STUDIO_WARM_MODEL="0")  # fmt: skip
    proc = subprocess.Popen([sys.executable, __file__, str(root), str(marker)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"GUI exited early:\n{proc.stdout.read().decode(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail("the GUI did not type the note within 120 s")
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done = json.loads(marker.read_text())
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
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, marker)  # then the test kills this process at once


def _main(project: str, marker: str) -> int:
    sys.path.insert(0, str(REPO))
    from PySide6.QtCore import QTimer

    from app.cli.gui import launch

    return launch(
        Path(project),
        on_ready=lambda win: QTimer.singleShot(200, lambda: _drive(win, Path(marker))),
    )


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1], sys.argv[2]))
