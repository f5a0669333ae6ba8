"""GUI-thread pauses caused by running Python's garbage collector there (app/gui_gc.py,
``GuiThreadGarbageCollector``), in a full app: every panel, the demo project open, torch loaded.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_crashproof_gc.py [--steps 40]

Prints the time of one collection of each generation (median of 5), then browses the demo
project image by image with the event loop running and reports what the collector's timer did:
how many collections of each generation, and the longest one. Goal: the longest pause < 100 ms.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def open_window(root: Path):
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings
    from core.services.demo import build_demo_project

    app = create_application(exception_hook=False)
    build_demo_project(root)
    window = MainWindow(AppSettings())
    window.show()
    assert window.open_project(root), "the demo project did not open"
    app.processEvents()
    return app, window


def collection_ms(generation: int, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        gc.collect(generation)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def browse(app, window, collector, steps: int) -> tuple[dict[int, int], float]:
    """Step through images with the event loop running; time every timer-driven collection."""
    counts, longest = {0: 0, 1: 0, 2: 0}, 0.0

    def timed_check() -> int:
        nonlocal longest
        before = gc.get_stats()
        t = time.perf_counter()
        found = original()
        longest = max(longest, (time.perf_counter() - t) * 1000)
        for generation, (a, b) in enumerate(zip(before, gc.get_stats(), strict=True)):
            counts[generation] += b["collections"] - a["collections"]
        return found

    original = collector.check
    collector._timer.timeout.disconnect()
    collector._timer.timeout.connect(timed_check)
    for k in range(steps):
        window.step_image(1 if (k // 10) % 2 == 0 else -1)
        end = time.perf_counter() + 0.1
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.005)
    return counts, longest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    import torch  # noqa: F401  (loaded in the real app once a model runs: many tracked objects)

    from app.gui_gc import ensure_gui_thread_gc

    with tempfile.TemporaryDirectory() as tmp:
        app, window = open_window(Path(tmp) / "demo")
        collector = ensure_gui_thread_gc()
        print(f"objects tracked by the collector: {len(gc.get_objects()):,}")
        for generation in (0, 1, 2):
            print(f"one generation-{generation} collection: {collection_ms(generation):.1f} ms")
        counts, longest = browse(app, window, collector, args.steps)
        print(f"{args.steps} image steps, event loop running: collections per generation "
              f"{counts}, longest {longest:.1f} ms, automatic collection on: {gc.isenabled()}")
        window.close()


if __name__ == "__main__":
    main()
