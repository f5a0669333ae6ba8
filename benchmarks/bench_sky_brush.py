"""What one sky-brush stroke costs on the GUI thread: ``core.geometry.apply_brush`` (the mask the
stroke leaves, computed on release) for strokes of a given number of mouse positions and radius,
on a 1280x1024 frame (the largest DenseSIRST frames).

    python benchmarks/bench_sky_brush.py [--points 60,300] [--radii 2,6,30,120,256] [--repeats 5]

A stroke is a wavy drag across the frame, its positions as dense as mouse events come (a 5 s drag
gives about 300). Prints the median milliseconds per stroke of ``repeats`` runs, as shipped and
with the exact rule at every radius (``BRUSH_WIDE`` lifted), side by side in one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import geometry  # noqa: E402
from core.geometry import apply_brush  # noqa: E402

H, W = 1024, 1280


def stroke(n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    return np.stack([100 + 1000 * t, 500 + 150 * np.sin(6 * np.pi * t)], axis=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", default="60,300")
    ap.add_argument("--radii", default="2,6,30,120,256")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    sky = np.zeros((H, W), bool)
    sky[:400] = True
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'points':>6} {'radius':>6} {'shipped ms':>11} {'exact ms':>9}")
    wide = geometry.BRUSH_WIDE
    for n in (int(v) for v in args.points.split(",")):
        for r in (float(v) for v in args.radii.split(",")):
            row = []
            for limit in (wide, float("inf")):
                geometry.BRUSH_WIDE = limit
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    apply_brush(sky, stroke(n), r, "add", H, W)
                    times.append((time.perf_counter() - t0) * 1000)
                row.append(statistics.median(times))
            geometry.BRUSH_WIDE = wide
            print(f"{n:>6} {r:>6g} {row[0]:11.1f} {row[1]:9.1f}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
