"""What counting proposals above the score threshold costs on a big project.

Builds a project of 10,000 images with 100 proposals each (1M rows, inserted with sqlite3), then
times ``Project.proposal_scores()`` (run once per project open, off the GUI thread, by
app/image_actions.py) beside ``Project.list_images()`` (run on the GUI thread at open), and the
per-threshold recount the image list does in memory.

    .venv/bin/python benchmarks/bench_proposal_counts.py [--images 10000] [--per-image 100]
"""

from __future__ import annotations

import argparse
import bisect
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.store.project import Project  # noqa: E402


def build(root: Path, n_images: int, per_image: int) -> None:
    Project.create(root).close()
    con = sqlite3.connect(root / "project.sqlite")
    con.executemany(
        "INSERT INTO images (id, name, path, width, height, bit_depth, channels, sha256, split, "
        "status, note, created) VALUES (?, ?, ?, 640, 512, 8, 1, '', 'unassigned', "
        "'pre-annotated', '', 'now')",
        [(i, f"im{i:05d}", f"im{i:05d}.png") for i in range(1, n_images + 1)],
    )
    rng = random.Random(0)
    con.executemany(
        "INSERT INTO targets (image_id, px, py, x0, y0, x1, y1, source, score, state) "
        "VALUES (?, 1, 1, 0, 0, 3, 3, 'model', ?, 'proposal')",
        [(i, rng.random()) for i in range(1, n_images + 1) for _ in range(per_image)],
    )
    con.commit()
    con.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--per-image", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        build(root, args.images, args.per_image)
        with Project.open(root) as project:
            t0 = time.perf_counter()
            infos = project.list_images()
            t_list = time.perf_counter() - t0
            t0 = time.perf_counter()
            scores = project.proposal_scores()
            t_scores = time.perf_counter() - t0
        sorted_scores = {k: sorted(v) for k, v in scores.items()}
        t0 = time.perf_counter()
        counts = [len(v) - bisect.bisect_left(v, 0.5) for v in sorted_scores.values()]
        t_recount = time.perf_counter() - t0
    n = sum(map(len, scores.values()))
    print(f"{len(infos)} images, {n} proposals")
    print(f"list_images (GUI thread at open):        {t_list:6.2f} s")
    print(f"proposal_scores (background at open):    {t_scores:6.2f} s  "
          f"({t_scores / max(t_list, 1e-9):.1f}x list_images)")  # fmt: skip
    print(f"recount at a new threshold (in memory):  {t_recount * 1000:6.1f} ms "
          f"(all {len(counts)} rows)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
