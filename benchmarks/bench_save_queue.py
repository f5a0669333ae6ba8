"""What an edit costs the GUI thread (ADR 0022): write-through vs. the save queue, and during a
stall (a peer SIGSTOPped while holding the image's lock), in one run, side by side.

For each mode: N "nudge" edits of one target through the window's document (``apply``), timed on
the calling thread; then how long the queue takes to land everything once the peer is gone.
Write-through during a stall is not run: it would block for the lock/busy timeout per edit.

    .venv/bin/python benchmarks/bench_save_queue.py                 # SQLite in a temp folder
    .venv/bin/python benchmarks/bench_save_queue.py --server        # a throw-away PostgreSQL
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QCoreApplication  # noqa: E402

from app.save_queue import SaveQueue  # noqa: E402
from app.saving_document import SavingDocument  # noqa: E402
from core.document import AnnotationDocument  # noqa: E402
from core.domain import Target  # noqa: E402
from core.edits import AnnotationEdit, TargetChange  # noqa: E402
from core.machine import MachineSettings  # noqa: E402
from core.store.new_image import NewImage  # noqa: E402
from core.store.project import Project  # noqa: E402
from tests.gui.test_save_off_gui_thread import PG_PEER, SQLITE_PEER  # noqa: E402


def nudges(doc, n: int) -> list[float]:
    """Milliseconds per ``apply`` on this thread, for n one-pixel moves of the first target."""
    out = []
    for _ in range(n):
        t = doc.targets[0]
        edit = doc.edit_targets_edit([replace(t, point=(t.point[0] + 1, t.point[1]))], "Nudge")
        t0 = time.perf_counter()
        doc.apply(edit)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def stats(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return f"p50 {q[49]:.2f} ms, p95 {q[94]:.2f} ms, max {max(ms):.2f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", action="store_true", help="on a throw-away PostgreSQL")
    ap.add_argument("--edits", type=int, default=200)
    args = ap.parse_args()
    QCoreApplication([])
    server = None
    if args.server:
        from tests.pgserver import start_server

        server = start_server()
        where = server.create_database()
    else:
        where = str(Path(tempfile.mkdtemp()) / "proj")
    try:
        header = SimpleNamespace(width=64, height=64, bit_depth=8, channels=1)
        with Project.create(where, machine=MachineSettings("ann")) as p:
            (info,) = p.add_images([NewImage("/x/a.png", name="a", header=header, sha256="a")])
            p.apply_edit(AnnotationEdit(info.id, "Add target", (TargetChange(None, Target(point=(1.0, 1.0))),)))
        with Project.open(where, machine=MachineSettings("ann")) as p:
            doc = AnnotationDocument(p)
            doc.load(info.id)
            through = nudges(doc, args.edits)
            queue = SaveQueue(p)
            doc = SavingDocument(p, queue)
            doc.load(info.id)
            idle = nudges(doc, args.edits)
            peer_args = [PG_PEER, where, str(info.id)] if server else \
                [SQLITE_PEER, str(Path(where) / "project.sqlite")]  # fmt: skip
            peer = subprocess.Popen([sys.executable, "-c", *peer_args], cwd=ROOT,
                                    stdout=subprocess.PIPE, text=True)  # fmt: skip
            assert peer.stdout.readline().strip() == "locked"
            os.kill(peer.pid, signal.SIGSTOP)
            stalled = nudges(doc, args.edits)
            pending = len(queue.unsaved())  # nothing can land while the peer holds the lock
            peer.kill()
            peer.wait(30)
            t0 = time.perf_counter()
            assert queue.flush(600)
            drained = time.perf_counter() - t0
            queue.close()
            stored = p.targets(info.id)[0].point[0]
        name = "postgresql" if server else "sqlite"
        print(f"{name}: {args.edits} nudges per mode, time on the calling (GUI) thread per edit")
        print(f"  write-through (before ADR 0022): {stats(through)}")
        print(f"  save queue, idle (grace wait):   {stats(idle)}")
        print(f"  save queue, peer stalled:        {stats(stalled)}")
        print(f"  after the peer died: the {pending} pending edits landed in {drained:.2f} s; "
              f"stored x = {stored:.0f} (expected {1 + 3 * args.edits})")
        return 0 if stored == 1 + 3 * args.edits else 1
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
