"""Inspection speed and the paper's Fig. 3 facts, measured on DenseSIRST train_v2.

Prints, for --images images of a split:
- dataset statistics (core.services.inspection.DatasetStats.add_image): ms per image, and the measured
  Fig. 3 figures (most common size, share of targets with local contrast < 2, share of targets
  that are their image's brightest pixel);
- false-alarm inspection (inspect_image + 48x48 crops) with simulated detections (every
  ground-truth box shifted by 0 or 1 px, plus 5 random false alarms per image): ms per image;
- gallery build (widgets.fa_gallery, offscreen Qt) for 600 cards: ms.
Goal: both per-image costs far below the 0.24-0.7 s a CPU model needs per image, so an inspection
run is limited by the model, and a statistics pass over 768 images takes seconds.

    .venv/bin/python benchmarks/bench_inspect.py [--root PATH] [--split train_v2] [--images 120]
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.formats import densesirst  # noqa: E402
from core.imageio import read_image  # noqa: E402
from core.services.inspection import (  # noqa: E402
    DatasetStats,
    as_gray,
    crop_around,
    inspect_image,
    summarize,
)

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared/datasets/DenseSIRST/SIRSTdevkit"


def load(root: Path, split: str, n: int) -> list[tuple[str, np.ndarray, object]]:
    ids = densesirst.read_split(root, split)[:n]
    out = []
    for image_id in ids:
        sample = densesirst.read_sample(root, image_id)
        out.append((image_id, read_image(sample.image_path), sample.annotation))
    return out


def bench_stats(samples) -> DatasetStats:
    stats = DatasetStats()
    grays = [as_gray(img) for _, img, _ in samples]
    t0 = time.perf_counter()
    for gray, (_, _, ann) in zip(grays, samples, strict=True):
        stats.add_image(gray, ann)
    dt = time.perf_counter() - t0
    print(f"statistics: {1000 * dt / len(samples):.1f} ms/image over {len(samples)} images "
          f"({stats.n_targets} targets)")  # fmt: skip
    a = stats.arrays()
    sizes = Counter(zip(a["width"].astype(int), a["height"].astype(int), strict=True))
    (w, h), count = sizes.most_common(1)[0]
    print(f"  most common box {w}x{h} px ({100 * count / len(a['width']):.0f}% of targets); "
          f"median box {np.median(a['width']):g}x{np.median(a['height']):g}")  # fmt: skip
    print(f"  local contrast < 2: {100 * np.mean(a['contrast'] < 2):.0f}% of targets "
          f"(paper: about 90%); min {a['contrast'].min():.2f}")  # fmt: skip
    print(f"  brightest pixel of its image: {100 * np.mean(a['rank'] == 0):.0f}% of targets; "
          f"median rank {np.median(a['rank']):.2f}% of pixels brighter")  # fmt: skip
    print(f"  targets per image: median {np.median(a['targets_per_image']):g}; "
          f"sky fraction median {np.median(a['sky_fraction']):.2f}")  # fmt: skip
    return stats


def simulated_detections(ann, shape, rng) -> tuple[np.ndarray, np.ndarray]:
    boxes = [t.box for t in ann.targets if t.box is not None]
    gt = np.asarray(boxes, np.float64).reshape(-1, 4) + rng.integers(0, 2, size=(len(boxes), 1))
    h, w = shape[:2]
    xy = rng.uniform(0, [w - 4, h - 4], size=(5, 2))
    fa = np.concatenate([xy, xy + 3], axis=1)
    boxes = np.concatenate([gt, fa])
    return boxes, rng.uniform(0.05, 1.0, size=len(boxes))


def bench_inspection(samples) -> list:
    rng = np.random.default_rng(0)
    prepared = [(i, as_gray(img), ann, *simulated_detections(ann, img.shape, rng))
                for i, (_, img, ann) in enumerate(samples)]  # fmt: skip
    cards = []
    t0 = time.perf_counter()
    results = []
    for i, gray, ann, boxes, scores in prepared:
        res = inspect_image(i, gray, ann.sky, ann.targets, boxes, scores, 0.3)
        results.append(res)
        cards.extend((item, *crop_around(gray, item.center, 48)) for item in res.items)
    dt = time.perf_counter() - t0
    s = summarize(results, "simulated", 0.3)
    print(f"inspection: {1000 * dt / len(samples):.1f} ms/image (match + measures + crops); "
          f"{s.false_alarms} FA ({s.fa_sky} sky / {s.fa_non_sky} non-sky), {s.misses} misses")  # fmt: skip
    return cards


def bench_gallery(cards) -> None:
    from PySide6.QtWidgets import QApplication

    from widgets.fa_gallery import MAX_CARDS, FaGallery, GalleryCard

    app = QApplication.instance() or QApplication([])
    gallery_cards = [GalleryCard(it.kind, it.image_id, str(it.image_id), it.box, it.score,
                                 it.background, it.contrast, crop, (x0, y0))
                     for it, crop, x0, y0 in cards[:MAX_CARDS]]  # fmt: skip
    gallery = FaGallery()
    t0 = time.perf_counter()
    gallery.set_cards(gallery_cards)
    app.processEvents()
    dt = time.perf_counter() - t0
    print(f"gallery: {1000 * dt:.0f} ms to build {len(gallery_cards)} cards")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--split", default="train_v2")
    ap.add_argument("--images", type=int, default=120)
    args = ap.parse_args()
    if not args.root.is_dir():
        sys.exit(f"DenseSIRST not found at {args.root}; pass --root")
    samples = load(args.root, args.split, args.images)
    bench_stats(samples)
    cards = bench_inspection(samples)
    bench_gallery(cards)


if __name__ == "__main__":
    main()
