"""A small project of real DenseSIRST frames, and model figures computed without model.compare:
`main.py predict` writes the files, `main.py evaluate` scores them, ../shared/tools/effort.py
counts the corrections (each a separate process)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

from tests._support.cli import cli

FRAME_DIRS = ("PNGImages", "SIRST", "SkySeg")


def png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as f:
        return struct.unpack(">II", f.read(24)[16:24])


def small_frames(root: Path, split: str, n: int, max_pixels: int = 320 * 240) -> list[str]:
    """The first ``n`` frames of a split with at most ``max_pixels`` pixels (cheap to train on)."""
    from core.formats.densesirst import read_split

    out = []
    for image_id in read_split(root, split):
        w, h = png_size(root / "PNGImages" / f"{image_id}.png")
        if w * h <= max_pixels:
            out.append(image_id)
        if len(out) == n:
            break
    return out


def mini_root(dest: Path, source: Path, splits: dict[str, list[str]]) -> Path:
    """A DenseSIRST root of links to ``source``'s folders with its own split files."""
    (dest / "Splits").mkdir(parents=True)
    for name in FRAME_DIRS:
        (dest / name).symlink_to(source / name)
    for name, ids in splits.items():
        (dest / "Splits" / f"{name}.txt").write_text("\n".join(ids))
    return dest


def mini_project(dest: Path, root: Path) -> Path:
    """A project holding every frame of ``root``'s splits, reviewed, in the train / val splits."""
    from core.services.importer import import_densesirst
    from core.store.project import Project

    with Project.create(dest) as project:
        for split in ("train", "val"):
            report = import_densesirst(project, root, split=split)
            assert report.added and not report.errors, report.errors
    return dest


def independent_figures(weights: Path, gt_root: Path, split: str, work: Path, tool: Path) -> dict:
    """mAP07, Pd, FA/img, sky IoU (predict + evaluate) and corrections per image (the tool)."""
    from core.formats.densesirst import read_split

    images = work / "images"
    images.mkdir(parents=True)
    for image_id in read_split(gt_root, split):
        (images / f"{image_id}.png").symlink_to(gt_root / "PNGImages" / f"{image_id}.png")
    pred = work / "pred"
    r = cli("predict", images, pred, "--weights", weights, "--backend", "onnx", "--threads", "1", timeout=300)
    assert r.returncode == 0, r.stderr
    r = cli("evaluate", gt_root, split, pred, "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    out = subprocess.run([sys.executable, str(tool), str(gt_root), split, str(pred)], capture_output=True,
                         text=True, check=True)  # fmt: skip
    effort = json.loads(out.stdout)
    return {"mAP07": ev["mAP07"], "pd": ev["pd"], "fa_per_image": ev["fa_per_image"], "sky_iou": ev["sky_iou"],
            "corrections_per_image": effort["actions_per_img_assisted"]}
