"""Run the real GUI in a subprocess, let a driver script act in it, then SIGKILL it.

Used by tests/e2e/test_kill_*.py: each of those modules is both the test and the driver run inside
the GUI process (``python -m tests.e2e.test_kill_x PROJECT MARKER``, from the repository root). The driver writes MARKER
(atomically) when its actions are done; the test then kills the process at once, so nothing that
was not already on disk can be saved after the marker.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Every kill test: a real GUI process (slow), and SIGKILL exists on POSIX only.
KILL_MARKS = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")]


def copied_project(project: Path, tmp_path: Path) -> Path:
    """A private copy of ``project`` (its .cache left behind) that the GUI may edit and the test
    then reopens."""
    root = tmp_path / "project"
    shutil.copytree(project, root, ignore=shutil.ignore_patterns(".cache"))
    return root


def kill_after_marker(script: str, project: Path, marker: Path, env: dict[str, str], what: str,
                      poll_s: float = 0.1) -> dict:
    """Start the driver ``script`` (a test file, run as a module) on ``project``, wait (120 s at most) for ``marker``, SIGKILL the process
    while it is still running and return the marker's JSON. ``what`` completes "the GUI did not
    ... within 120 s"."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", **env)
    module = ".".join(Path(script).resolve().relative_to(REPO).with_suffix("").parts)
    proc = subprocess.Popen([sys.executable, "-m", module, str(project), str(marker)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"GUI exited early:\n{proc.stdout.read().decode(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail(f"the GUI did not {what} within 120 s")
            time.sleep(poll_s)
        assert proc.poll() is None, "the GUI must still be running when it is killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return json.loads(marker.read_text())


def write_marker(marker: Path, result: dict) -> None:
    """The driver's last act: the result, atomically (the test may kill the process at once)."""
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, marker)


def launch_driver(argv: list[str], drive: Callable[[object, Path], None]) -> int:
    """The GUI process: open PROJECT (argv[1]) and call ``drive(window, MARKER)`` once it shows."""
    from PySide6.QtCore import QTimer

    from app.cli.gui import launch

    project, marker = Path(argv[1]), Path(argv[2])
    return launch(project, on_ready=lambda win: QTimer.singleShot(200, lambda: drive(win, marker)))
