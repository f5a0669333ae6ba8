"""GUI batch pre-annotation against the ``predict`` command on the same images (goal: GUI within 10 %).

Both variants run in this process with the same loaded Predictor (ONNX Runtime, 2 threads), in
interleaved rounds (CLI, GUI, then GUI, CLI, ...) so the shared machine's load hits both alike:

- CLI: ``app.cli.predict.predict_folder`` (what ``main.py predict`` runs: model.pipeline, the
  DenseSIRST files written on its writer thread) over the images as files;
- GUI: the real MainWindow with every panel, the first image open, "Pre-annotate Selected" over
  the same images in a project (model.pipeline inside the PreannotateWorker, DB writes on its
  writer thread, each result one undoable edit), timed from Start to the run-ended signal while
  the GUI thread runs its ordinary event loop.

Images: ``--n`` DenseSIRST frames of mixed sizes (200x150 .. 1280x1024) copied into a temporary
project (``--n`` 14 adds 1280x1024 and 1918x1080). Printed per variant: images/s per round and their median, the median GUI/CLI ratio, and
where the time goes: per-image network time (wall, on the calling thread) and the other stages,
process CPU seconds per image, and for the GUI run the GUI thread's CPU time, paint events and
garbage-collection pauses.

    nice -n 10 .venv/bin/python benchmarks/bench_preannotate_overhead.py --n 12 --rounds 5
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DENSESIRST_IMAGES = (
    Path(__file__).resolve().parents[2] / "shared" / "datasets" / "DenseSIRST" / "SIRSTdevkit" / "PNGImages"
)
# One frame of each size family, in this order, cycled to --n (names of the trainval release).
MIXED = ("202105-Enhance-1.png", "Misc_1.png", "20210725-S4-1.png", "202105-Enhance-11.png", "Misc_106.png",
         "20210725-S2-201.png", "202105-Enhance-30.png", "Misc_3.png", "S20210303_S10_48.png", "Misc_23.png",
         "211_HD_126.png", "S2_52.png", "GAODE_6.png", "20210725-S1-1121.png")


def pick_images(folder: Path, n: int) -> list[Path]:
    """``n`` frames of mixed sizes: the MIXED list first, then more 640x512 / other frames."""
    chosen = [folder / name for name in MIXED if (folder / name).is_file()]
    rest = [p for p in sorted(folder.glob("*.png")) if p not in chosen]
    chosen += rest[: max(0, n - len(chosen))]
    if len(chosen) < n:
        sys.exit(f"need {n} PNG images in {folder}; pass --images DIR")
    return chosen[:n]


class Timed:
    """The predictor with each pipeline stage timed (wall seconds, summed per stage)."""

    def __init__(self, predictor) -> None:
        self._p = predictor
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def reset(self) -> dict[str, float]:
        with self._lock:
            out, self.seconds = dict(self.seconds), defaultdict(float)
        return out

    def _timed(self, stage: str, fn, *args):
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            with self._lock:
                self.seconds[stage] += time.perf_counter() - t

    def prepare(self, image):
        return self._timed("prepare", self._p.prepare, image)

    def run_network(self, prepared):
        return self._timed("network", self._p.run_network, prepared)

    def finish(self, prepared, maps, score_thr=None):
        return self._timed("finish", self._p.finish, prepared, maps, score_thr)

    def targets(self, prediction, score_thr):
        return self._timed("targets", self._p.targets, prediction, score_thr)

    def __getattr__(self, name):
        return getattr(self._p, name)


class GuiProbe:
    """Paint events and garbage-collection pauses on the GUI thread during a run."""

    def __init__(self, app) -> None:
        from PySide6.QtCore import QEvent, QObject

        probe = self

        class Filter(QObject):
            def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
                if event.type() == QEvent.Type.Paint:
                    probe.paints += 1
                return False

        self.paints = 0
        self.gc_s = 0.0
        self._gc_t0 = 0.0
        self._filter = Filter()
        app.installEventFilter(self._filter)
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, _info: dict) -> None:
        if phase == "start":
            self._gc_t0 = time.perf_counter()
        else:
            self.gc_s += time.perf_counter() - self._gc_t0

    def reset(self) -> tuple[int, float]:
        out = (self.paints, self.gc_s)
        self.paints, self.gc_s = 0, 0.0
        return out


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cli_run(predictor, todo, out: Path) -> dict:
    import contextlib
    import io

    from app.cli.predict import ensure_out, predict_folder

    shutil.rmtree(out, ignore_errors=True)
    ensure_out(out)
    c0, t0 = cpu_s(), time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        _rows, failed, _pixels = predict_folder(predictor, todo, out, predictor.operating_threshold, 0.05)
    wall = time.perf_counter() - t0
    if failed:
        sys.exit(f"predict failed on {failed}")
    return {"wall": wall, "cpu": cpu_s() - c0, "stages": predictor.reset()}


def gui_run(window, controller, predictor, probe: GuiProbe, ids: list[int]) -> dict:
    """One "Pre-annotate Selected" run, the GUI thread in its own event loop until run-ended."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    result: dict = {}

    def ended(summary) -> None:
        result["summary"] = summary
        loop.quit()

    controller.run_ended.connect(ended)
    probe.reset()
    c0, g0, t0 = cpu_s(), time.thread_time(), time.perf_counter()
    QTimer.singleShot(0, lambda: controller.start(ids))
    loop.exec()
    wall = time.perf_counter() - t0
    gui_cpu = time.thread_time() - g0
    cpu = cpu_s() - c0
    controller.run_ended.disconnect(ended)
    controller.shutdown()
    summary = result["summary"]
    if summary is None or summary.failed or len(summary.done) != len(ids):
        sys.exit(f"GUI run failed: {summary}")
    paints, gc_s = probe.reset()
    return {"wall": wall, "cpu": cpu, "gui_cpu": gui_cpu, "paints": paints, "gc": gc_s,
            "stages": predictor.reset(), "summary": summary}


def stage_text(run: dict) -> str:
    return "(" + ", ".join(f"{k} {v:.2f}" for k, v in sorted(run["stages"].items())) + f", cpu {run['cpu']:.2f})"


def settle(app, seconds: float) -> None:
    """Let the window finish its start-up work (thumbnails, prefetch) before timing."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.02)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12, help="number of images (mixed sizes)")
    ap.add_argument("--images", type=Path, default=DENSESIRST_IMAGES)
    ap.add_argument("--threads", type=int, default=2, help="network threads (as predict --threads)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds after a warm-up round")
    ap.add_argument("--backend", choices=["onnx", "torch"], default="onnx")
    ap.add_argument("--profile-gui", action="store_true",
                    help="after the rounds, profile the GUI thread during one more GUI run (cProfile, top 25)")
    args = ap.parse_args()

    from PySide6.QtWidgets import QApplication

    from app import preannotate_panel
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings
    from core.store.new_image import NewImage
    from core.store.project import Project
    from model.inference import Predictor

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ.setdefault("SIRST_STUDIO_DATA_DIR", str(tmp / "data"))
        files = tmp / "files"
        files.mkdir()
        for p in pick_images(args.images, args.n):
            shutil.copy2(p, files / p.name)
        todo = [(p.stem, p) for p in sorted(files.iterdir())]
        project = Project.create(tmp / "proj")
        ids = [i.id for i in project.add_images(NewImage(path=p) for _, p in todo)]
        sizes = sorted({f"{i.width}x{i.height}" for i in project.list_images()})
        predictor = Timed(Predictor(None, threads=args.threads, backend=args.backend))

        create_application(exception_hook=False)
        app = QApplication.instance()
        window = MainWindow(AppSettings(), install_panels=True)
        window.set_project(project)
        window.show()
        window.goto_image(ids[0])
        controller = window.findChild(preannotate_panel.PreannotateController)
        controller.predictor_factory = lambda _weights: predictor
        probe = GuiProbe(app)
        settle(app, 2.0)

        cli_runs, gui_runs = [], []
        cli_run(predictor, todo, tmp / "cli_out")  # warm-up: ORT's first run at each shape
        gui_run(window, controller, predictor, probe, ids)
        for r in range(args.rounds):
            order = ("cli", "gui") if r % 2 == 0 else ("gui", "cli")
            for variant in order:
                if variant == "cli":
                    cli_runs.append(cli_run(predictor, todo, tmp / "cli_out"))
                else:
                    gui_runs.append(gui_run(window, controller, predictor, probe, ids))
                settle(app, 0.3)
            c, g = cli_runs[-1], gui_runs[-1]
            print(f"round {r + 1}: CLI {c['wall']:.2f} s {stage_text(c)}; GUI {g['wall']:.2f} s {stage_text(g)}"
                  f" gui-thread {g['gui_cpu']:.2f} s cpu, gc {g['gc']:.2f} s, {g['paints']} paints",
                  file=sys.stderr, flush=True)
        if args.profile_gui:
            import cProfile
            import pstats

            prof = cProfile.Profile()  # profiles the calling (GUI) thread only
            prof.enable()
            gui_run(window, controller, predictor, probe, ids)
            prof.disable()
            pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        window.close()
        project.close()

    n = len(ids)
    med = statistics.median
    if not cli_runs:
        return  # --rounds 0: only the profile
    cli_ips = [n / r["wall"] for r in cli_runs]
    gui_ips = [n / r["wall"] for r in gui_runs]
    ratios = [g["wall"] / c["wall"] for c, g in zip(cli_runs, gui_runs, strict=True)]
    print(f"{n} DenseSIRST frames ({', '.join(sizes)}); shipped model, {args.backend}, "
          f"{args.threads} threads; {args.rounds} interleaved rounds after a warm-up")
    print(f"{'round':>5} {'CLI img/s':>10} {'GUI img/s':>10} {'GUI/CLI time':>13}")
    for k, (c, g, q) in enumerate(zip(cli_ips, gui_ips, ratios, strict=True), 1):
        print(f"{k:>5} {c:>10.2f} {g:>10.2f} {q:>13.3f}")
    print(f"{'median':>5} {med(cli_ips):>10.2f} {med(gui_ips):>10.2f} {med(ratios):>13.3f}"
          f"   GUI throughput = {100 / med(ratios):.1f} % of the CLI's (goal >= 90 %)")

    def per_image(runs: list[dict], key: str) -> float:
        return 1000 * med(r["stages"].get(key, 0.0) for r in runs) / n

    print("\nper image, medians over rounds (ms; stages overlap across threads):")
    print(f"{'':>24} {'CLI':>8} {'GUI':>8}")
    for stage in ("prepare", "network", "finish", "targets"):
        print(f"{stage + ' (wall)':>24} {per_image(cli_runs, stage):>8.1f} {per_image(gui_runs, stage):>8.1f}")
    print(f"{'end to end (wall)':>24} {1000 * med(r['wall'] for r in cli_runs) / n:>8.1f}"
          f" {1000 * med(r['wall'] for r in gui_runs) / n:>8.1f}")
    print(f"{'process CPU':>24} {1000 * med(r['cpu'] for r in cli_runs) / n:>8.1f}"
          f" {1000 * med(r['cpu'] for r in gui_runs) / n:>8.1f}")
    print(f"{'GUI thread CPU':>24} {'':>8} {1000 * med(r['gui_cpu'] for r in gui_runs) / n:>8.1f}")
    print(f"{'GUI garbage collection':>24} {'':>8} {1000 * med(r['gc'] for r in gui_runs) / n:>8.1f}")
    print(f"paint events per GUI run: {' '.join(str(r['paints']) for r in gui_runs)}")


if __name__ == "__main__":
    main()
