"""GUI responsiveness while training runs in the background (goal: max event-loop stall < 100 ms).

A QTimer ticks every 10 ms in the GUI thread while the Training dock runs the real
`main.py train --events-jsonl` on a small labelled project and parses its events into the live
plot. A stall is the time between two ticks beyond the 10 ms interval; the script prints the
largest, the 99th percentile and how many events arrived.

    .venv/bin/python benchmarks/bench_gui_stall.py --epochs 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TICK_MS = 10


class StallMeter:
    """Records the gaps between the ticks of a 10 ms QTimer."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def stalls_ms(self) -> list[float]:
        return sorted(max(0.0, 1000 * g - TICK_MS) for g in self.gaps)


def make_window(project):
    """The real MainWindow when it starts, else the contract-only FakeWindow."""
    try:
        from app.main_window import MainWindow
        from app.settings import AppSettings

        window = MainWindow(AppSettings(), install_panels=False)
        window.set_project(project)
    except ImportError:
        from tests.gui.test_preannotate_support import FakeWindow

        window = FakeWindow(project)
    window.show()
    return window


def run(args: argparse.Namespace) -> None:
    from app import training_panel
    from app.application import create_application
    from tests.gui.test_preannotate_support import make_labelled_project

    app = create_application(exception_hook=False)  # with the app's GC rule (ADR 0023)
    with tempfile.TemporaryDirectory() as d:
        project, _ = make_labelled_project(Path(d), n_train=args.images, n_val=2)
        window = make_window(project)
        training_panel.install(window)
        panel = window.findChild(training_panel.TrainingPanel)
        flags = ("--crop", "32", "--batch", "2", "--threads", str(args.threads))

        def builder(root, run_dir, opts):
            return training_panel.default_command(
                root, run_dir, replace(opts, extra=opts.extra + flags)
            )

        panel.command_builder = builder
        panel.epochs.setValue(args.epochs)
        events: list[str] = []
        panel.process.event_received.connect(lambda ev: events.append(ev["event"]))
        # Same machine load, no training: the stalls the OS scheduler alone causes.
        baseline = StallMeter()
        baseline.start()
        end = time.perf_counter() + args.baseline_s
        _spin(app, lambda: time.perf_counter() < end)
        baseline.timer.stop()
        meter = StallMeter()
        meter.start()
        t0 = time.perf_counter()
        panel.start_training()
        _spin(app, lambda: panel.process.is_running() or time.perf_counter() - t0 < 0.5)
        meter.timer.stop()
        elapsed = time.perf_counter() - t0
        print(f"training process: {elapsed:.1f} s, {len(events)} events "
              f"({events.count('step')} steps, {events.count('epoch')} epochs); plot points: "
              f"{len(panel.plot.loss_points('total'))} loss, "
              f"{len(panel.plot.metric_points('mAP07'))} val; "
              f"model versions registered: {len(project.list_model_versions())}")  # fmt: skip
        if panel.error_box.isVisibleTo(panel):
            print("training failed:", panel.error_box.toPlainText()[:500])
        _print_stalls(f"idle baseline ({args.baseline_s:g} s)", baseline.stalls_ms())
        _print_stalls("while training (goal: max < 100 ms)", meter.stalls_ms())
        window.close()
        window.deleteLater()
        app.processEvents()
        project.close()


def _spin(app, keep_going) -> None:
    """Run the event loop while ``keep_going()``."""
    while keep_going():
        app.processEvents()
        time.sleep(0.002)  # yield, then re-poll: a stall still shows as a late timer tick


def _print_stalls(label: str, stalls: list[float]) -> None:
    p99 = stalls[int(0.99 * (len(stalls) - 1))] if stalls else 0.0
    top = stalls[-1] if stalls else 0.0
    print(f"{label}: {len(stalls)} ticks of {TICK_MS} ms, max stall {top:.1f} ms, p99 {p99:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--images", type=int, default=8, help="training images (48x64 each)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the train process")
    ap.add_argument("--baseline-s", type=float, default=5.0, help="idle measurement first")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
