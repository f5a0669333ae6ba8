"""How fast a 10,000-image project opens and lists (goal: open + list_images < 1 s).

Builds a synthetic project once (3-30 targets per image with pixel masks, sky masks on some
images) in a temp folder and reuses it on later runs; prints the figures.

    .venv/bin/python benchmarks/bench_project_open.py [--images 10000] [--dir PATH] [--rebuild]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.domain import ImageAnnotation, Split, Target, TargetMask, TargetState  # noqa: E402
from core.store.new_image import NewImage  # noqa: E402
from core.store.project import Project  # noqa: E402

SIZES = [(640, 512), (1280, 1024), (320, 240), (1280, 720)]
SPLITS = [Split.TRAIN, Split.TRAIN, Split.VAL, Split.UNASSIGNED]


def _target(rng: np.random.Generator, w: int, h: int, state: TargetState) -> Target:
    x, y = int(rng.integers(0, w - 6)), int(rng.integers(0, h - 6))
    bw, bh = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    mask = TargetMask(x, y, rng.random((bh, bw)) > 0.3)
    score = float(rng.random()) if state == TargetState.PROPOSAL else None
    return Target(point=(x + bw / 2, y + bh / 2), box=(x, y, x + bw, y + bh), mask=mask,
                  state=state, score=score)  # fmt: skip


def _item(i: int, rng: np.random.Generator) -> NewImage:
    w, h = SIZES[i % len(SIZES)]
    n = int(rng.integers(3, 31))
    states = [
        TargetState.PROPOSAL if rng.random() < 0.2 else TargetState.ACCEPTED for _ in range(n)
    ]
    sky = None
    if i % 3 == 0:  # a third of the images carry a sky mask with a wavy horizon
        horizon = (h * (0.5 + 0.1 * np.sin(np.arange(w) / 40.0 + i))).astype(int)
        sky = np.arange(h)[:, None] < horizon[None, :]
    ann = ImageAnnotation(targets=[_target(rng, w, h, s) for s in states], sky=sky)
    header = SimpleNamespace(width=w, height=h, bit_depth=8, channels=1)
    return NewImage(path=f"/data/ir/seq_{i // 100:03d}/frame_{i:05d}.png", name=f"frame_{i:05d}",
                    split=SPLITS[i % 4], annotation=ann, header=header, sha256=f"{i:064x}")  # fmt: skip


def build(root: Path, n_images: int) -> float:
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    with Project.create(root) as project:
        for start in range(0, n_images, 250):
            stop = min(start + 250, n_images)
            project.add_images([_item(i, rng) for i in range(start, stop)])
            print(f"\r  built {stop}/{n_images}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return time.perf_counter() - t0


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """(median s, max s, last result) over ``repeat`` calls."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), max(times), result


def _open_and_list(root: Path) -> int:
    with Project.open(root) as project:
        return len(project.list_images())


def run(root: Path, n_images: int) -> None:
    med, worst, n = _timed(lambda: _open_and_list(root), 5)
    print(
        f"Project.open + list_images ({n} images):     median {med * 1e3:7.1f} ms   max {worst * 1e3:7.1f} ms   (goal < 1000 ms)"
    )
    with Project.open(root) as p:
        cases = {
            "list_images()": lambda: p.list_images(),
            "list_images(split=val)": lambda: p.list_images(split=Split.VAL),
            "list_images(split=train, status=reviewed)": lambda: p.list_images(split="train", status="reviewed"),
            "list_images(search='00042')": lambda: p.list_images(search="00042"),
            "list_images(check_files=True)": lambda: p.list_images(check_files=True),
        }  # fmt: skip
        for label, fn in cases.items():
            med, worst, res = _timed(fn, 5)
            print(
                f"{label:<45} median {med * 1e3:7.1f} ms   max {worst * 1e3:7.1f} ms   -> {len(res)} images"
            )
        ids = [i.id for i in p.list_images()]
        pick = np.random.default_rng(1).choice(ids, size=50, replace=False)
        it = iter(np.tile(pick, 2))
        med, worst, ann = _timed(
            lambda: p.annotation(int(next(it)), states=("accepted", "proposal")), 100
        )
        print(
            f"{'annotation(one image, targets + sky)':<45} median {med * 1e3:7.2f} ms   max {worst * 1e3:7.2f} ms"
        )
        it = iter(np.tile(pick, 2))
        med, worst, _ = _timed(lambda: p.get_image(int(next(it))), 100)
        print(
            f"{'get_image(one image)':<45} median {med * 1e3:7.2f} ms   max {worst * 1e3:7.2f} ms"
        )
        size = (root / "project.sqlite").stat().st_size
        st = p.stats(check_files=False)
        print(f"database: {size / 2**20:.1f} MiB, {st.n_images} images, {st.n_targets} accepted targets, "
              f"{st.n_proposals} proposals, {st.n_with_sky} sky masks")  # fmt: skip


def _count(root: Path) -> int:
    try:
        with Project.open(root) as p:
            return p.stats(check_files=False).n_images
    except Exception:  # any unusable leftover gets rebuilt
        return -1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--dir", type=Path, default=None, help="project folder to build or reuse")
    ap.add_argument("--rebuild", action="store_true", help="rebuild even if the folder exists")
    args = ap.parse_args()
    root = args.dir or Path(tempfile.gettempdir()) / f"sirst_bench_project_{args.images}"
    if root.exists() and (args.rebuild or _count(root) != args.images):
        shutil.rmtree(root)  # asked for, or left incomplete by an interrupted build
    if not (root / "project.sqlite").exists():
        print(f"building a synthetic {args.images}-image project in {root} ...", file=sys.stderr)
        print(f"build time: {build(root, args.images):.1f} s ({args.images} images)")
    else:
        print(f"reusing {root} (pass --rebuild to start afresh)")
    run(root, args.images)


if __name__ == "__main__":
    main()
