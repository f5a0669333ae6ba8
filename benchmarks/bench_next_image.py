"""Time from "next image" to the canvas ready for input, on heavy frames.

A project of 1280x1024 16-bit images, each with 30 targets and a ~2,000-vertex sky polygon. For
each step: MainWindow.step_image(1) (decode or prefetched pixels, set_image, targets, sky, list and
dock updates) followed by processEvents (so the paint is done). Goal: < 100 ms per step.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_next_image.py [--images 12]

Prints mean / median / p95 / max with prefetch (normal use: the next image was decoded in the background
while the user looked at the current one) and without (cache dropped before each step).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.domain import ImageAnnotation, Target, TargetMask  # noqa: E402
from core.store.new_image import NewImage  # noqa: E402
from core.store.project import Project  # noqa: E402

W, H = 1280, 1024


def horizon_sky(rng: np.random.Generator) -> np.ndarray:
    """Sky above a jagged random-walk horizon: many direction changes, ~2,000 ring vertices."""
    steps = rng.integers(-3, 4, size=W)
    horizon = np.clip(560 + np.cumsum(steps), 200, 900)
    rows = np.arange(H)[:, None]
    return rows < horizon[None, :]


def frame(rng: np.random.Generator, sky: np.ndarray) -> tuple[np.ndarray, list[Target]]:
    img = rng.normal(9000, 120, size=(H, W))
    img[~sky] += 3000  # warm ground
    targets = []
    ys, xs = np.nonzero(sky[40:-40, 40:-40])
    for k in rng.choice(len(xs), size=30, replace=False):
        x, y = int(xs[k]) + 40, int(ys[k]) + 40
        img[y - 1 : y + 2, x - 1 : x + 2] += 2500
        mask = TargetMask(x - 1, y - 1, np.ones((3, 3), bool))
        targets.append(Target(point=(x, y), box=(x - 1, y - 1, x + 2, y + 2), mask=mask))
    return np.clip(img, 0, 65535).astype(np.uint16), targets


def build_project(root: Path, n: int) -> Project:
    rng = np.random.default_rng(7)
    images = root / "images"
    images.mkdir(parents=True)
    items = []
    for i in range(n):
        sky = horizon_sky(rng)
        img, targets = frame(rng, sky)
        path = images / f"frame_{i:03d}.png"
        cv2.imwrite(str(path), img)
        items.append(NewImage(path, annotation=ImageAnnotation(targets=targets, sky=sky)))
    project = Project.create(root / "project")
    project.add_images(items)
    return project


def look(window, app, seconds: float = 0.3, limit: float = 10.0) -> None:
    """The user looks at the image for ``seconds``: the event loop runs (the prefetch timer fires,
    thumbnails arrive) while the prefetch thread loads both neighbours; on a busy machine, wait
    until those loads have finished (up to ``limit``), so the step measures a prefetched switch
    and no background load competes with it."""
    start = time.monotonic()
    neighbours = [n for n in (window.image_list.neighbour_id(k) for k in (1, -1)) if n is not None]
    while time.monotonic() - start < limit:
        app.processEvents()
        ready = all(window.prefetcher.is_ready(n) for n in neighbours)
        if time.monotonic() - start >= seconds and ready:
            return
        time.sleep(0.01)


def measure(window, app, n_steps: int, prefetch: bool) -> tuple[list[float], list[float]]:
    """Wall-clock and GUI-thread CPU milliseconds per step (CPU time is what the step costs on an
    idle machine; wall time also counts waiting for a core on a busy one)."""
    ids = window.list_model.ids()
    window.goto_image(ids[0])
    app.processEvents()
    times, cpu = [], []
    for _ in range(n_steps):
        if not prefetch:
            window.prefetcher.forget(window.image_list.neighbour_id(1))
        else:
            look(window, app)
        t0, c0 = time.perf_counter(), time.thread_time()
        window.step_image(1)
        app.processEvents()
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
    return times, cpu


def report(label: str, measured: tuple[list[float], list[float]]) -> None:
    for kind, times in zip(("wall", "GUI-thread CPU"), measured, strict=True):
        p95 = float(np.percentile(times, 95))
        print(f"{label:<18} {kind:<15} n={len(times):3d}  mean {statistics.mean(times):6.1f} ms  "
              f"median {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms  "
              f"max {max(times):6.1f} ms")  # fmt: skip


def shown_window(project, settings_dir: str):
    """(app, window): the real main window without extension panels, 1600x1000, on ``project``,
    its settings kept in ``settings_dir`` (never the user's). Also used by bench_sky_edit.py."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings

    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
    app = create_application(exception_hook=False)
    window = MainWindow(AppSettings(), install_panels=False)
    window.resize(1600, 1000)
    window.show()
    window.set_project(project)
    return app, window


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12)
    args = parser.parse_args()
    from core.geometry import mask_to_rings

    with tempfile.TemporaryDirectory() as tmp:
        project = build_project(Path(tmp), args.images)
        first = project.list_images()[0].id
        n_vertices = sum(len(r.points) for r in mask_to_rings(project.sky_mask(first)))
        print(f"{args.images} images {W}x{H} uint16, 30 targets each, sky vertices: {n_vertices}")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times grow "
              "with it; GUI-thread CPU does not)")  # fmt: skip
        app, window = shown_window(project, tmp)
        deadline = time.monotonic() + 10  # let the list thumbnails finish: not part of a step
        while time.monotonic() < deadline and not all(
            window.thumbnails.get(window.list_model.info(i)) for i in window.list_model.ids()
        ):
            app.processEvents()
            time.sleep(0.05)
        steps = args.images - 1
        report("with prefetch", measure(window, app, steps, prefetch=True))
        report("without prefetch", measure(window, app, steps, prefetch=False))
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
