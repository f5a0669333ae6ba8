"""How fast BAG-CP synthesises in memory (goal: >= 100 images of 640x512 per second, one core).

Builds a target library from DenseSIRST train_v2 (first --library-images images) and times
``synthesize`` on the 640x512 backgrounds with sky masks, for every Table III strategy and once at
1280x1024. Falls back to synthetic backgrounds and patches when the dataset is absent.

    .venv/bin/python benchmarks/bench_bagcp.py [--root PATH] [--images 300] [--library-images 60]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as promised; set before numpy loads

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.bagcp import BagcpConfig, synthesize  # noqa: E402
from core.domain import Target  # noqa: E402
from core.target_library import TargetLibrary, TargetPatch  # noqa: E402

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared/datasets/DenseSIRST/SIRSTdevkit"
Scene = tuple[np.ndarray, np.ndarray, list[Target]]


def real_data(root: Path, n_lib: int, n_bg: int) -> tuple[TargetLibrary, list[Scene]]:
    """Library from the first n_lib train_v2 images; up to n_bg 640x512 backgrounds with sky."""
    from core.formats import densesirst
    from core.imageio import read_image

    ids = densesirst.read_split(root, "train_v2")
    lib, scenes = TargetLibrary(), []
    for i, image_id in enumerate(ids):
        sample = densesirst.read_sample(root, image_id)
        if i >= n_lib and (sample.width, sample.height) != (640, 512):
            continue
        image = read_image(sample.image_path)
        if i < n_lib:
            lib.add_image(image, sample.annotation, image_id)
        sky = sample.annotation.sky
        if image.shape[:2] == (512, 640) and sky is not None and sky.any():
            scenes.append((image, sky, sample.annotation.targets))
        if i >= n_lib and len(scenes) >= n_bg:
            break
    return lib, scenes


def synthetic_data(n_bg: int) -> tuple[TargetLibrary, list[Scene]]:
    rng = np.random.default_rng(0)
    patches = []
    for _ in range(500):
        h, w = (int(v) for v in rng.integers(2, 7, size=2))
        contrast = rng.uniform(10, 80, size=(h, w)).astype(np.float32)
        patches.append(TargetPatch(contrast, np.ones((h, w), bool), 50.0, 0.0, 255.0))
    sky = np.zeros((512, 640), bool)
    sky[:300] = True
    scenes = [(rng.integers(30, 90, size=(512, 640)).astype(np.uint8), sky, []) for _ in range(8)]
    return TargetLibrary(patches), scenes[:n_bg]


def rate(lib: TargetLibrary, scenes: list[Scene], cfg: BagcpConfig, n: int) -> tuple[float, float]:
    """(images per second, mean targets pasted per image) over n synthesised images."""
    rng = np.random.default_rng(0)
    synthesize(*scenes[0], lib, cfg, rng)  # warm the fitted-patch cache
    pasted = 0
    t0 = time.perf_counter()
    for k in range(n):
        pasted += len(synthesize(*scenes[k % len(scenes)], lib, cfg, rng).targets)
    return n / (time.perf_counter() - t0), pasted / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--images", type=int, default=300, help="images synthesised per figure")
    ap.add_argument("--library-images", type=int, default=60)
    ap.add_argument("--backgrounds", type=int, default=40)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    t0 = time.perf_counter()
    if (args.root / "PNGImages").is_dir():
        lib, scenes = real_data(args.root, args.library_images, args.backgrounds)
        what = f"DenseSIRST train_v2 ({args.library_images} images)"
    else:
        lib, scenes = synthetic_data(args.backgrounds)
        what = "synthetic patches (dataset not found)"
    print(f"library: {len(lib)} patches from {what}, built in {time.perf_counter() - t0:.1f} s")
    print(f"backgrounds: {len(scenes)} images of 640x512 with sky; {args.images} per figure")
    names = {
        "b": "copy-paste",
        "c": "+cluster",
        "d": "+gaussian",
        "e": "+cluster+gaussian",
        "f": "BAG-CP",
    }
    for letter, name in names.items():
        per_s, per_img = rate(lib, scenes, BagcpConfig.strategy(letter), args.images)
        print(
            f"  ({letter}) {name:<18} {per_s:7.1f} images/s  {1000 / per_s:6.2f} ms/image  "
            f"{per_img:5.1f} targets/image"
        )
    big = [
        (cv2.resize(im, (1280, 1024)), cv2.resize(sk.astype(np.uint8), (1280, 1024)) > 0, [])
        for im, sk, _ in scenes[:8]
    ]
    per_s, _ = rate(lib, big, BagcpConfig(), max(args.images // 3, 10))
    print(f"  (f) BAG-CP at 1280x1024  {per_s:7.1f} images/s  {1000 / per_s:6.2f} ms/image")


if __name__ == "__main__":
    main()
