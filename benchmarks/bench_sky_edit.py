"""Cost of one sky polygon edit, and the hops of one image visit, on heavy frames.

Uses the project of bench_next_image.py (1280x1024 16-bit, 30 targets, ~2,000-vertex sky). Sky
edits go through the window's own request handler (AnnotationController.sky_polygon, what the
canvas's "add polygon" request calls), then processEvents so the redraw is done; undo and redo
through the window's undo group. Counted on every thread while the step runs: database
sessions (transactions begun), PNG decodes / encodes (cv2.imdecode / imencode: the mask codec)
and image file decodes (core.imageio.read_image).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_sky_edit.py [--edits 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_next_image import build_project, shown_window  # noqa: E402


class Hops:
    """Counts the costly hops while ``counting`` is on (thread-safe enough for counters)."""

    def __init__(self, engine) -> None:
        self.counts: Counter = Counter()
        self.on = False
        self._lock = threading.Lock()
        event.listen(engine, "begin", lambda _c: self.hit("sessions"))
        self._patch(cv2, "imdecode", "PNG decodes")
        self._patch(cv2, "imencode", "PNG encodes")
        import core.imageio

        self._patch(core.imageio, "read_image", "image decodes")
        import core.store.project

        self._patch(core.store.project, "read_image", "image decodes", missing_ok=True)

    def hit(self, name: str) -> None:
        if self.on:
            with self._lock:
                self.counts[name] += 1

    def _patch(self, module, attr: str, name: str, missing_ok: bool = False) -> None:
        real = getattr(module, attr, None)
        if real is None and missing_ok:
            return

        def counted(*args, **kwargs):
            self.hit(name)
            return real(*args, **kwargs)

        setattr(module, attr, counted)

    @contextmanager
    def count(self):
        self.counts.clear()
        self.on = True
        try:
            yield self.counts
        finally:
            self.on = False


def square_ring(x0: float, y0: float, size: float) -> np.ndarray:
    return np.array([[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size]], float)


def settle(app, seconds: float = 0.0) -> None:
    end = time.monotonic() + seconds
    app.processEvents()
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def timed(app, fn) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.thread_time()
    fn()
    app.processEvents()
    return (time.perf_counter() - t0) * 1000, (time.thread_time() - c0) * 1000


def report(label: str, walls: list[float], cpus: list[float], counts: list[Counter]) -> None:
    hops = Counter()
    for c in counts:
        hops.update(c)
    per = ", ".join(f"{k} {v / len(counts):.1f}" for k, v in sorted(hops.items()))
    print(f"{label:<22} wall mean {statistics.mean(walls):6.1f} ms  GUI-thread CPU mean "
          f"{statistics.mean(cpus):6.1f} ms  p95 {float(np.percentile(cpus, 95)):6.1f} ms | "
          f"per step: {per}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = build_project(Path(tmp), 4)
        hops = Hops(project._engine)
        app, window = shown_window(project, tmp)
        settle(app, 3.0)  # thumbnails and the first prefetch are not part of a step
        ids = window.list_model.ids()
        # One visit: the next image was prefetched while the user looked at this one.
        walls, cpus, counts = [], [], []
        for image_id in ids[1:]:
            with hops.count() as c:
                window._prefetch_neighbours()
                settle(app, 0.5)  # the prefetch (background) belongs to the visit's hops
                walls_cpu = timed(app, lambda i=image_id: window.goto_image(i))
                counts.append(Counter(c))
            walls.append(walls_cpu[0])
            cpus.append(walls_cpu[1])
        report("image visit", walls, cpus, counts)
        window.goto_image(ids[0])
        settle(app, 0.5)
        results = {"sky polygon edit": ([], [], []), "undo": ([], [], []), "redo": ([], [], [])}
        for k in range(args.edits):
            ring = square_ring(100 + 37 * k, 600 + 11 * k, 30)  # ground: each adds sky
            with hops.count() as c:
                w, cpu = timed(app, lambda r=ring: window.controller.sky_polygon(r, "add"))
            for lst, v in zip(results["sky polygon edit"], (w, cpu, Counter(c)), strict=True):
                lst.append(v)
        for name, action in (("undo", window.undo_stacks.undo), ("redo", window.undo_stacks.redo)):
            for _ in range(args.edits):
                with hops.count() as c:
                    w, cpu = timed(app, action)
                for lst, v in zip(results[name], (w, cpu, Counter(c)), strict=True):
                    lst.append(v)
        for name, (walls, cpus, counts) in results.items():
            report(name, walls, cpus, counts)
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
