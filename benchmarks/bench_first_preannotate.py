"""The first pre-annotation of a session, timed in a real window from the key press (issue 19).

    nice -n 10 .venv/bin/python benchmarks/bench_first_preannotate.py [--image 202105-Enhance-1]

What it does, as a user would: imports one 640x512 DenseSIRST frame into a temporary project
(``main.py import``), starts ``main.py gui PROJECT`` on an Xvfb of its own (tests/screen/harness.py),
presses Pre-annotate Current Image (Ctrl+Shift+P) through xdotool and times, from just before the
key press, until

- *stored*: the model's proposals are rows of project.sqlite (read with plain sqlite3), and
- *on screen*: the canvas draws them (the screen probe, app/screen_probe.py, written every 20 ms
  here, reports the number of targets drawn; its granularity is in the figures).

Then it undoes the run (Ctrl+Z: the proposals leave the canvas) and presses the key again: the
*second* pre-annotation of the same session.

Sessions, each a new app process on a new copy of the project:

1. ``cold cache``: an empty model cache (``SIRST_STUDIO_CACHE``), as on a fresh install; the key is
   pressed as soon as the image is shown;
2. ``no warm-up``: the cache of session 1, background loading switched off
   (``SIRST_STUDIO_WARM_MODEL=0``): what every first pre-annotation cost before the warm model;
3. ``key at once``: the cache of session 1, key pressed as soon as the image is shown (the model is
   still loading in the background);
4. ``after warm-up``: the cache of session 1, key pressed once the status bar says the model is
   ready.

Prints one line per session and ``uptime`` before and after; on a loaded machine the figures are
not results on their own, compare the sessions of one run. Needs Xvfb, xdotool and ImageMagick.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.screen.harness import APT_LINE, AppUnderTest, XServer, missing_tools  # noqa: E402

# The checkout's sibling "shared" folder (a git worktree sits one level deeper).
DATA = next((d / "shared/datasets/DenseSIRST/SIRSTdevkit/PNGImages" for d in REPO.parents[:2]
             if (d / "shared/datasets").is_dir()), REPO.parent / "shared/datasets")
DEFAULT_IMAGE = "202105-Enhance-1"  # 640x512
PREANNOTATE_KEY = "ctrl+shift+p"  # app/preannotate_panel.py: Pre-annotate Current Image
UNDO_KEY = "ctrl+z"
PROBE_MS = 20
POLL_S = 0.01
RUN_TIMEOUT_S = 600.0


@dataclass
class Session:
    name: str
    warm_model: bool
    wait_ready: bool
    fresh_cache: bool


SESSIONS = (
    Session("cold cache", True, False, True),
    Session("no warm-up", False, False, False),
    Session("key at once", True, False, False),
    Session("after warm-up", True, True, False),
)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def build_project(work: Path, frame: Path) -> Path:
    images = work / "images"
    images.mkdir()
    shutil.copy2(frame, images / frame.name)
    project = work / "project"
    cmd = [sys.executable, str(REPO / "main.py"), "import", "--format", "images", "--split",
           "val", str(images), str(project)]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        sys.exit(f"main.py import failed ({done.returncode}): {done.stderr.strip()}")
    return project


def model_rows(project: Path) -> int | None:
    """Number of model-made targets in project.sqlite (None while the app holds a write lock)."""
    con = sqlite3.connect(f"file:{project / 'project.sqlite'}?mode=ro", uri=True, timeout=0.05)
    try:
        return con.execute("SELECT COUNT(*) FROM targets WHERE source = 'model'").fetchone()[0]
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()


def time_run(app: AppUnderTest, project: Path, before_rows: int) -> tuple[float, float, int]:
    """Press the key; seconds until the proposals are stored and until they are drawn."""
    app.focus()
    t0 = time.monotonic()
    app.key(PREANNOTATE_KEY)
    stored = drawn = None
    count = 0
    while time.monotonic() - t0 < RUN_TIMEOUT_S:
        if app.proc.poll() is not None:
            sys.exit(f"the app exited ({app.proc.returncode}):\n{app.log_text()}")
        now = time.monotonic() - t0
        if stored is None:
            rows = model_rows(project)
            if rows is not None and rows > before_rows:
                stored = now
        if drawn is None:
            count = int(app.probe().get("drawn_targets") or 0)
            if count > 0:
                drawn = now
        if stored is not None and drawn is not None:
            return stored, drawn, count
        time.sleep(POLL_S)
    sys.exit(f"no proposals after {RUN_TIMEOUT_S:.0f} s:\n{app.log_text()}")


def run_session(server: XServer, frame: Path, work: Path, cache: Path, s: Session) -> str:
    work.mkdir()
    project = build_project(work, frame)
    if s.fresh_cache and cache.exists():
        shutil.rmtree(cache)
    os.environ["SIRST_STUDIO_CACHE"] = str(cache)
    os.environ["SIRST_SCREEN_PROBE_MS"] = str(PROBE_MS)
    os.environ["SIRST_STUDIO_WARM_MODEL"] = "1" if s.warm_model else "0"
    (work / "app").mkdir()
    started = time.monotonic()
    app = AppUnderTest(server.display, project, work / "app")
    try:
        app.wait_image(frame.stem, timeout=120)
        shown = time.monotonic() - started
        ready = ""
        if s.wait_ready:
            app.wait_for(lambda st: st.get("model") == "ready", RUN_TIMEOUT_S, "the model")
            ready = f", model ready {time.monotonic() - started:.1f} s after start"
        first_stored, first_drawn, n = time_run(app, project, 0)
        app.key(UNDO_KEY)
        app.wait_for(lambda st: st.get("drawn_targets") == 0, 60, "the undo")
        second_stored, second_drawn, _ = time_run(app, project, 0)
    finally:
        app.close()
    return (f"{s.name:>13}: first {first_drawn:6.2f} s on screen ({first_stored:6.2f} s stored), "
            f"second {second_drawn:5.2f} s on screen ({second_stored:5.2f} s stored); "
            f"{n} proposals drawn; image shown {shown:.1f} s after start{ready}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image", default=DEFAULT_IMAGE, help="DenseSIRST frame id (640x512)")
    ap.add_argument("--data", type=Path, default=DATA, help="folder of DenseSIRST PNG images")
    ap.add_argument("--sessions", default=",".join(s.name for s in SESSIONS),
                    help="comma-separated subset of the sessions, in order")  # fmt: skip
    args = ap.parse_args(argv)
    missing = missing_tools()
    if missing:
        sys.exit(f"needs {', '.join(missing)}: {APT_LINE}")
    frame = args.data / f"{args.image}.png"
    if not frame.is_file():
        sys.exit(f"no frame {frame}")
    wanted = [n.strip() for n in args.sessions.split(",")]
    chosen = [s for n in wanted for s in SESSIONS if s.name == n]
    if len(chosen) != len(wanted):
        sys.exit(f"unknown session in {args.sessions!r}; known: {[s.name for s in SESSIONS]}")
    print(f"uptime before: {uptime()}")
    with tempfile.TemporaryDirectory(prefix="bench_first_") as tmp:
        server = XServer(Path(tmp))
        try:
            cache = Path(tmp) / "cache"
            for k, s in enumerate(chosen):
                print(run_session(server, frame, Path(tmp) / f"s{k}", cache, s), flush=True)
        finally:
            server.stop()
    print(f"uptime after:  {uptime()}")
    print(f"(screen probe every {PROBE_MS} ms: 'on screen' is late by up to that much)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
