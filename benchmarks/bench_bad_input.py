"""Issue 11 figures: polygon fill and point/box pairing before/after (near-linear), and what
the PNG data check adds to import's probe (vs. a full decode). Prints figures; no assertions.

    .venv/bin/python benchmarks/bench_bad_input.py [--densesirst ROOT] [--images 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import imageio  # noqa: E402
from core.formats import _pairing  # noqa: E402
from core.formats._polygons import polygons_to_mask  # noqa: E402


def _old_fill(ring: np.ndarray, h: int, w: int) -> np.ndarray:
    """The previous polygon fill: one pass over the whole crop per edge."""
    cy, cx = np.mgrid[0:h, 0:w] + 0.5
    inside = np.zeros((h, w), bool)
    for (xa, ya), (xb, yb) in zip(ring, np.roll(ring, -1, axis=0), strict=True):
        if ya == yb:
            continue
        crosses = (ya > cy) != (yb > cy)
        inside ^= crosses & (cx < xa + (cy - ya) * (xb - xa) / (yb - ya))
    return inside


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def bench_polygons() -> None:
    print("polygon fill, circle r=100 in a 300x400 image (seconds)")
    print(f"{'vertices':>9} {'old':>9} {'new':>9} {'old/new':>8}")
    for n in (200, 2_000, 20_000, 200_000):
        th = np.linspace(0, 2 * np.pi, n, endpoint=False)
        ring = np.stack([200 + 100 * np.cos(th), 150 + 100 * np.sin(th)], 1)
        new = _timed(polygons_to_mask, [ring.ravel().tolist()], 300, 400)
        old = _timed(_old_fill, ring, 300, 400) if n <= 20_000 else float("nan")
        print(f"{n:>9} {old:>9.3f} {new:>9.4f} {old / new:>8.0f}")


def bench_pairing() -> None:
    print("\npairing N overlapping boxes with N points (seconds)")
    print(f"{'N':>6} {'exact':>9} {'current':>9} {'ratio':>7}")
    rng = np.random.default_rng(0)
    for n in (100, 500, 2000):
        boxes = [(int(x), int(y), int(x) + 20, int(y) + 20) for x, y in rng.integers(0, 8, (n, 2))]
        points = [(b[0] + 10.0, b[1] + 10.0) for b in boxes]
        cur = _timed(_pairing.pair_points_boxes, points, boxes)
        exact = float("nan")
        if n <= 500:
            saved, _pairing.EXACT_LIMIT = _pairing.EXACT_LIMIT, 10**9
            exact = _timed(_pairing.pair_points_boxes, points, boxes)
            _pairing.EXACT_LIMIT = saved
        print(f"{n:>6} {exact:>9.3f} {cur:>9.3f} {exact / cur:>7.1f}")


def bench_probe(root: Path, n: int) -> None:
    import hashlib
    import struct
    import zlib

    import cv2

    files = sorted((root / "PNGImages").glob("*.png"))[:n]
    crc_only = probe = decode = 0.0
    for path in files:
        data = path.read_bytes()
        t = time.perf_counter()
        hashlib.sha256(data).hexdigest()
        pos = 8
        while pos + 12 <= len(data):  # chunk CRCs only: what probe_file did before
            (length,) = struct.unpack(">I", data[pos : pos + 4])
            zlib.crc32(data[pos + 4 : pos + 8 + length])
            pos += 12 + length
        crc_only += time.perf_counter() - t
        probe += _timed(imageio.probe_file, path)
        decode += _timed(cv2.imdecode, np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    k = len(files)
    print(f"\nprobe per image over {k} DenseSIRST PNGs (ms): CRC+sha only {crc_only / k * 1e3:.1f}, "
          f"probe_file now {probe / k * 1e3:.1f}, full decode {decode / k * 1e3:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--densesirst", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared/datasets/DenseSIRST/SIRSTdevkit")
    ap.add_argument("--images", type=int, default=100)
    args = ap.parse_args()
    bench_polygons()
    bench_pairing()
    if (args.densesirst / "PNGImages").is_dir():
        bench_probe(args.densesirst, args.images)


if __name__ == "__main__":
    main()
