"""Frame times of the IR canvas with 2,000 targets and a 2,000-vertex sky polygon.

Each frame = one pan (or zoom) step of the view + a synchronous repaint of the viewport with
offscreen rendering (QT_QPA_PLATFORM=offscreen, so no GPU and no compositor help). Prints the
mean and p95 per scenario, as wall-clock time and as this process's CPU time (on a machine
shared with other jobs the wall time includes waiting for a core), plus hit-test costs.
Goal: < 16 ms per frame.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_canvas.py [--frames 60]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402

from core.domain import Source, Target, TargetState  # noqa: E402
from core.geometry import mask_to_rings  # noqa: E402
from widgets.canvas import IRCanvas  # noqa: E402
from widgets.canvas_hit import edge_at, ring_at, target_at, vertex_at  # noqa: E402
from widgets.canvas_tools import target_arrays  # noqa: E402

H, W = 1024, 1280


def scene(n_targets: int, seed: int = 0):
    """16-bit frame, n targets (60 % accepted, 40 % scored proposals), a jagged sky, a proposal."""
    rng = np.random.default_rng(seed)
    img = (9000 + rng.normal(0, 80, (H, W))).astype(np.uint16)
    xs, ys = rng.uniform(5, W - 10, n_targets), rng.uniform(5, H * 0.7, n_targets)
    targets = []
    for k, (x, y) in enumerate(zip(xs.astype(int), ys.astype(int), strict=True)):
        proposal = k % 5 < 2
        targets.append(
            Target(
                point=(x + 1, y + 1),
                box=(x, y, x + 3, y + 3),
                id=k + 1,
                state=TargetState.PROPOSAL if proposal else TargetState.ACCEPTED,
                source=Source.MODEL if proposal else Source.MANUAL,
                score=float(rng.uniform(0.3, 1.0)) if proposal else None,
            )
        )
    # A horizon whose rows change every column: CHAIN_APPROX_SIMPLE keeps ~2 vertices per column.
    horizon = (0.75 * H + 40 * np.sin(np.arange(W) / 50) + rng.integers(-3, 4, W)).astype(int)
    sky = np.arange(H)[:, None] < horizon[None, :]
    proposal_sky = np.arange(H)[:, None] < (horizon + 15)[None, :]
    return img, targets, sky, proposal_sky


def frames(app, canvas: IRCanvas, step, n: int) -> np.ndarray:
    """Times (ms) of n frames: ``step(i)`` moves the view, then the viewport repaints at once.

    The update that the view change also queued is drained afterwards, outside the timing, so a
    frame is counted once.
    """
    vp = canvas.view.viewport()
    wall, cpu = [], []
    for i in range(n + 3):
        t0, c0 = time.perf_counter(), time.process_time()
        step(i)
        vp.repaint()
        if i >= 3:  # the first frames build caches (paths, LUT, QImage): report steady state
            wall.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        app.processEvents()
    return np.asarray(wall), np.asarray(cpu)


def pan(canvas: IRCanvas, px: float = 7.0):
    def step(i: int) -> None:
        d = px / canvas.zoom() * (1 if (i // 20) % 2 == 0 else -1)
        canvas.viewbox.translateBy(x=d, y=d / 2)

    return step


def zoom(canvas: IRCanvas, cx: float, cy: float):
    def step(i: int) -> None:
        s = 1 / 1.1 if (i // 15) % 2 == 0 else 1.1
        canvas.viewbox.scaleBy((s, s), center=(cx, cy))

    return step


def report(name: str, times: tuple[np.ndarray, np.ndarray]) -> None:
    """Wall-clock and CPU time per frame (CPU time is what the canvas costs on a busy machine)."""
    wall, cpu = times
    print(
        f"{name:<44s} wall mean {wall.mean():6.2f} p95 {np.percentile(wall, 95):6.2f} ms | "
        f"cpu mean {cpu.mean():6.2f} p95 {np.percentile(cpu, 95):6.2f} ms  ({len(wall)} frames)"
    )


def timed(fn, repeat: int = 200) -> float:
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--targets", type=int, default=2000)
    args = parser.parse_args()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv)
    img, targets, sky, proposal_sky = scene(args.targets)
    canvas = IRCanvas()
    canvas.resize(1400, 1000)
    canvas.show()
    app.processEvents()
    t0 = time.perf_counter()
    canvas.set_image(img)
    canvas.set_targets(targets)
    canvas.set_sky(sky, proposal_sky)
    canvas.set_score_threshold(0.5)
    app.processEvents()
    setup = (time.perf_counter() - t0) * 1e3
    n_vertices = sum(len(r) for r in mask_to_rings(sky))
    print(
        f"image {W}x{H} uint16, {len(targets)} targets, sky {n_vertices} vertices, "
        f"viewport {canvas.view.viewport().width()}x{canvas.view.viewport().height()}, "
        f"Qt platform {app.platformName()}"
    )
    print(f"set_image + set_targets + set_sky + threshold: {setup:.1f} ms")
    canvas.select([t.id for t in targets[:50]])
    report(
        "pan, fit to window (all targets in view)", frames(app, canvas, pan(canvas), args.frames)
    )
    report(
        "zoom in/out steps at fit (markers rebuilt)",
        frames(app, canvas, zoom(canvas, 640, 500), args.frames),
    )
    canvas.center_on(640, 400, zoom=4.0)
    report("pan at 4x (score labels drawn)", frames(app, canvas, pan(canvas), args.frames))
    canvas.center_on(640, 780, zoom=2.0)
    canvas.set_mode("edit_sky")
    canvas.sky_item.set_selection(0, None)
    report(
        "pan at 2x, edit_sky, sky ring handles shown", frames(app, canvas, pan(canvas), args.frames)
    )
    canvas.set_mode("edit")
    canvas.fit()

    def window_drag(i: int) -> None:  # dragging the histogram window: re-render + sky tint
        canvas.set_display(levels=(8900 + 5 * (i % 20), 9600 + 5 * (i % 20)))

    report("window/level drag step (re-render + repaint)", frames(app, canvas, window_drag, 30))
    report("grab() of the whole widget at fit", frames(app, canvas, lambda i: canvas.grab(), 20))
    ti = target_arrays(canvas)
    sk = canvas.sky_item.index
    print(
        f"target_at {timed(lambda: target_at(ti, 640.2, 300.7, 1.5)):.3f} ms   "
        f"vertex_at {timed(lambda: vertex_at(sk, 640.2, 770.1, 1.5)):.3f} ms   "
        f"edge_at {timed(lambda: edge_at(sk, 640.2, 770.1, 1.5)):.3f} ms   "
        f"ring_at {timed(lambda: ring_at(sk, 640.2, 300.1)):.3f} ms"
    )
    print(
        f"set_targets({len(targets)}) {timed(lambda: canvas.set_targets(targets), 10):.1f} ms   "
        f"set_sky {timed(lambda: canvas.set_sky(sky, proposal_sky), 10):.1f} ms   "
        f"threshold change {timed(lambda: canvas.set_score_threshold(0.6), 20):.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
