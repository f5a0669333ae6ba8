"""The demo project: small synthetic infrared scenes, labelled like DenseSIRST, built in seconds.

Each 320x256 frame has a sky gradient brightening towards a wavy horizon, drifting clouds,
textured ground clutter with hot spots (distractors, not labelled), and clusters of 3-5 px
Gaussian targets in the sky. Everything is seeded, so two builds give the same pixels.

``create_demo(root)`` writes ``root/demo_data/SIRSTdevkit`` (the labelled frames in DenseSIRST
layout, with sky masks and splits) and ``root/demo_data/unlabelled`` (two frames without labels),
then imports both into the project at ``root``: 10 REVIEWED images (train 6 / val 2 / test 2,
one of them 16-bit with 14-bit data) and 2 NEW, unassigned images to pre-annotate.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from core import imageio
from core.domain import ImageAnnotation, Target, TargetMask
from core.errors import ProjectError
from core.formats import densesirst as ds
from core.formats._io import atomic_write_bytes
from core.store.project import Project

WIDTH, HEIGHT = 320, 256
N_LABELLED, N_UNLABELLED = 10, 2
SPLITS = {"train": range(1, 7), "val": range(7, 9), "test": range(9, 11)}
SIXTEEN_BIT = 5  # demo-05 is a 16-bit frame holding 14-bit data
DATA_DIR = "demo_data"


def image_id(index: int) -> str:
    return f"demo-{index:02d}"


# ---------------------------------------------------------------------------- scene synthesis
def _smooth_noise(rng: np.random.Generator, sigma: float) -> np.ndarray:
    field = cv2.GaussianBlur(rng.standard_normal((HEIGHT, WIDTH)).astype(np.float32), (0, 0), sigma)
    return field / (np.abs(field).max() + 1e-6)


def _background(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(radiance float32 [H, W] in ~[0, 255], sky bool mask)."""
    cols = np.arange(WIDTH)
    base = rng.uniform(0.55, 0.75) * HEIGHT
    horizon = (
        base
        + 8 * np.sin(cols / rng.uniform(25, 60) + rng.uniform(0, 6))
        + 5 * _smooth_noise(rng, 12)[0]
    )
    rows = np.arange(HEIGHT)[:, None]
    sky = rows < horizon[None, :]
    # IR sky radiance grows towards the horizon (longer path through warm air).
    gradient = 55 + 55 * (rows / horizon.max()) ** 2
    clouds = np.clip(_smooth_noise(rng, rng.uniform(8, 16)), 0, None) * rng.uniform(25, 45)
    ground = 125 + 25 * _smooth_noise(rng, 3) + 15 * _smooth_noise(rng, 15)
    img = np.where(sky, gradient + clouds, ground).astype(np.float32)
    for _ in range(rng.integers(4, 9)):  # hot spots on the ground: distractors, not targets
        y, x = int(rng.uniform(horizon.max() + 4, HEIGHT - 3)), int(rng.uniform(3, WIDTH - 3))
        if y < HEIGHT - 3:
            _add_gaussian(img, x + 0.5, y + 0.5, rng.uniform(0.8, 1.6), rng.uniform(40, 80))
    return img, sky


def _add_gaussian(img: np.ndarray, cx: float, cy: float, sigma: float, amp: float) -> np.ndarray:
    """Add a Gaussian spot; return its contribution over a small window (same shape as img)."""
    r = int(np.ceil(3 * sigma)) + 1
    x0, x1 = max(int(cx) - r, 0), min(int(cx) + r + 1, WIDTH)
    y0, y1 = max(int(cy) - r, 0), min(int(cy) + r + 1, HEIGHT)
    yy, xx = np.mgrid[y0:y1, x0:x1] + 0.5
    spot = amp * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    img[y0:y1, x0:x1] += spot
    out = np.zeros_like(img)
    out[y0:y1, x0:x1] = spot
    return out


def _targets(rng: np.random.Generator, img: np.ndarray, sky: np.ndarray) -> list[Target]:
    """1-3 clusters of targets in the sky; mask = pixels above 30 % of the peak."""
    targets: list[Target] = []
    taken = np.zeros_like(sky)
    for _ in range(rng.integers(1, 4)):
        cx, cy = rng.uniform(30, WIDTH - 30), rng.uniform(20, HEIGHT * 0.45)
        for _ in range(rng.integers(3, 8)):
            x, y = cx + rng.normal(0, 9), cy + rng.normal(0, 6)
            xi, yi = int(x), int(y)
            if not (3 <= xi < WIDTH - 3 and 3 <= yi < HEIGHT - 3) or not sky[yi, xi]:
                continue
            if taken[yi - 3 : yi + 4, xi - 3 : xi + 4].any():
                continue  # keep targets apart so each box holds one target
            amp = rng.uniform(35, 90)
            spot = _add_gaussian(img, xi + 0.5, yi + 0.5, rng.uniform(0.5, 0.9), amp)
            mask = spot > 0.3 * amp
            ys, xs = np.nonzero(mask)
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            taken[y0:y1, x0:x1] = True
            targets.append(Target(point=(xi, yi), box=(x0, y0, x1, y1),
                                  mask=TargetMask(int(x0), int(y0), mask[y0:y1, x0:x1])))  # fmt: skip
    return targets


def render(index: int, seed: int = 0) -> tuple[np.ndarray, ImageAnnotation]:
    """One demo frame (uint8, or uint16 with 14-bit data for SIXTEEN_BIT) and its labels."""
    rng = np.random.default_rng([seed, index])
    img, sky = _background(rng)
    targets = _targets(rng, img, sky)
    img += rng.normal(0, 2.0, img.shape).astype(np.float32)  # sensor noise
    if index == SIXTEEN_BIT:
        pixels = np.clip(img * 48 + 1500, 0, 16383).astype(np.uint16)
    else:
        pixels = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return pixels, ImageAnnotation(targets=targets, sky=sky)


# ---------------------------------------------------------------------------- project
def write_demo_data(
    root: Path, seed: int = 0, progress: Callable[..., object] | None = None
) -> Path:
    """Write the demo frames under ``root/demo_data``; returns the DenseSIRST folder."""
    dense = root / DATA_DIR / "SIRSTdevkit"
    total = N_LABELLED + N_UNLABELLED
    for index in range(1, total + 1):
        unlabelled = root / DATA_DIR / "unlabelled" / f"{image_id(index)}.png"
        done = (dense / ds.IMAGES / f"{image_id(index)}.png").exists() or unlabelled.exists()
        if done:  # deterministic: an existing file already holds these pixels
            continue
        pixels, ann = render(index, seed)
        if index <= N_LABELLED:
            ds.write_sample(dense, image_id(index), pixels, ann, WIDTH, HEIGHT)
        else:
            atomic_write_bytes(unlabelled, imageio.encode_png(pixels))
        if progress is not None:
            progress(index, total * 2, f"writing {image_id(index)}")
    for name, indices in SPLITS.items():
        ds.write_split(dense, name, [image_id(i) for i in indices])
    return dense


def create_demo(
    root: Path | str, progress: Callable[..., object] | None = None, seed: int = 0
) -> Project:
    """Build (or complete) the demo project at ``root`` and return it open."""
    from core.services.importer import import_densesirst, import_images

    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{root} is a file; choose an empty folder for the demo")
    if root.exists() and any(root.iterdir()) and not (root / "project.sqlite").exists():
        raise ProjectError(
            f"{root} is not empty and not a project; choose an empty folder for the demo"
        )
    project = Project.open_or_create(root)
    if not _is_demo(project):
        project.close()
        raise ProjectError(
            f"{root} holds a project that is not the demo; the demo never adds its synthetic "
            "images to a real project: choose an empty folder"
        )
    try:
        dense = write_demo_data(root, seed, progress)
        total = N_LABELLED + N_UNLABELLED
        step = (
            (lambda done, n, *rest: progress(total + done, total * 2, *rest)) if progress else None
        )
        for report in (
            import_densesirst(project, dense, progress=step),
            import_images(project, root / DATA_DIR / "unlabelled", progress=step),
        ):
            if report.errors:
                raise ProjectError(f"demo import failed: {report.errors[0][1]}")
    except BaseException:
        project.close()
        raise
    return project


def _is_demo(project: Project) -> bool:
    """Empty (a demo killed before its first image) or every image under ``demo_data/``."""
    data = (project.root / DATA_DIR).resolve()
    return all(
        project.resolve_path(info).resolve().is_relative_to(data) for info in project.list_images()
    )


def build_demo_project(root: Path | str, seed: int = 0) -> Path:
    """Build the demo project and close it; returns its folder (for tests and scripts)."""
    create_demo(root, seed=seed).close()
    return Path(root)
