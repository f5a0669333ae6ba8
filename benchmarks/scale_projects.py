"""Synthetic projects of 1k / 100k / 1M images for benchmarks/bench_scale.py (issue 22).

Built through ``Project.add_images`` (header and sha256 given, so no file is read) in batches
of 20k, and kept on disk for later runs. Every image points at one real PNG (nothing is missing),
names are "Enhance-<n>" style in shuffled order (natural sort has work to do), statuses and splits
are mixed, and one image in 20 has two scored proposals and an accepted target.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.domain import ImageAnnotation, ReviewStatus, Split, Target, TargetState  # noqa: E402
from core.store.new_image import NewImage  # noqa: E402
from core.store.project import Project  # noqa: E402

BATCH = 20_000
PREFIXES = ("Enhance", "Misc", "seq_a/frame", "Night")
STATUSES = (ReviewStatus.NEW, ReviewStatus.NEW, ReviewStatus.PRE_ANNOTATED, ReviewStatus.REVIEWED)
SPLITS = (Split.TRAIN, Split.TRAIN, Split.VAL, Split.UNASSIGNED, Split.TEST)
HEADER = SimpleNamespace(width=256, height=256, bit_depth=8, channels=1)


def frame_file(folder: Path) -> Path:
    """The one small PNG every synthetic image points at."""
    import cv2

    path = folder / "frame.png"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((256, 256), 40, np.uint8))
    return path


def _annotation(i: int) -> ImageAnnotation | None:
    if i % 20:
        return None
    targets = [Target(point=(10.0, 10.0), box=(8, 8, 12, 12), state=TargetState.ACCEPTED)]
    targets += [Target(point=(50.0 + k, 40.0), box=(48 + k, 38, 52 + k, 42),
                       state=TargetState.PROPOSAL, score=0.3 + 0.4 * k) for k in (0, 1)]  # fmt: skip
    return ImageAnnotation(targets=targets)


def items(n: int, frame: Path, start: int, stop: int, order: np.ndarray):
    for k in range(start, stop):
        i = int(order[k])
        name = f"{PREFIXES[i % len(PREFIXES)]}-{i // len(PREFIXES) + 1}"
        ann = _annotation(i)
        yield NewImage(path=frame, name=name, split=SPLITS[i % len(SPLITS)], annotation=ann,
                       status=STATUSES[(i // 3) % len(STATUSES)], header=HEADER,
                       sha256=f"{i:064x}")  # fmt: skip


def build(target: Path | str, n: int, frame: Path, log=print) -> float:
    """Create (or complete) a project of ``n`` images; seconds taken."""
    t0 = time.perf_counter()
    order = np.random.default_rng(0).permutation(n)
    with Project.open_or_create(target) as project:
        have = project.count_images()
        if have >= n:
            return time.perf_counter() - t0
        for start in range(have - have % BATCH, n, BATCH):
            project.add_images(items(n, frame, start, min(start + BATCH, n), order))
            if start % (5 * BATCH) == 0:
                log(f"  built {min(start + BATCH, n):,} / {n:,} ({time.perf_counter() - t0:.0f} s)")
    return time.perf_counter() - t0
