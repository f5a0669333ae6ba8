"""YOLO (Ultralytics / Darknet) export: ``images/<split>/<file>`` (copied byte for byte),
``labels/<split>/<name>.txt`` with one ``class cx cy w h`` line per target (normalised to
[0, 1] by the image size; class 0 = target), ``classes.txt`` and ``data.yaml``.

Boxes are the DenseSIRST boxes exactly (continuous coordinates, pixel i covering [i, i+1)),
so ``cx = (xmin + xmax) / 2 / W`` and ``w = (xmax - xmin) / W``; 8 decimals keep sub-pixel
precision on 2k-wide images.
"""

from __future__ import annotations

from pathlib import Path

from core.domain import Box, ImageAnnotation, ImageInfo, Split
from core.formats._io import atomic_copy, atomic_write_text, check_id, detection_box

CLASS_NAMES = ["target"]


def label_line(box: Box, width: int, height: int, cls: int = 0) -> str:
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy = (x0 + x1) / 2.0 / width, (y0 + y1) / 2.0 / height
    w, h = (x1 - x0) / width, (y1 - y0) / height
    return f"{cls} {cx:.8f} {cy:.8f} {w:.8f} {h:.8f}"


def parse_label_line(line: str, width: int, height: int) -> tuple[int, Box]:
    """Inverse of ``label_line`` (class, DenseSIRST box in pixels)."""
    cls, cx, cy, w, h = line.split()
    cxp, cyp, wp, hp = float(cx) * width, float(cy) * height, float(w) * width, float(h) * height
    return int(cls), (cxp - wp / 2, cyp - hp / 2, cxp + wp / 2, cyp + hp / 2)


class YoloWriter:
    """Writes image + label file per ``add``; ``classes.txt`` and ``data.yaml`` at ``finish``."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.splits: set[str] = set()
        self.skipped_targets = 0

    def add(self, info: ImageInfo, src: Path, ann: ImageAnnotation) -> None:
        check_id(info.name)
        split = info.split.value
        lines = []
        for t in ann.targets:
            box = detection_box(t)
            if box is None:
                self.skipped_targets += 1
            else:
                lines.append(label_line(box, info.width, info.height))
        atomic_copy(src, self.out / "images" / split / f"{info.name}{src.suffix.lower()}")
        text = "".join(f"{line}\n" for line in lines)
        atomic_write_text(self.out / "labels" / split / f"{info.name}.txt", text)
        self.splits.add(split)

    def finish(self) -> list[Path]:
        classes = self.out / "classes.txt"
        atomic_write_text(classes, "".join(f"{n}\n" for n in CLASS_NAMES), fsync=True)
        data = self.out / "data.yaml"
        atomic_write_text(data, data_yaml(self.out, self.splits), fsync=True)
        return [classes, data]


def data_yaml(out: Path, splits: set[str]) -> str:
    """Ultralytics dataset file. Unassigned images train when there is no train split.
    No ``path:`` key: Ultralytics then takes the folder holding data.yaml as the root, so the
    export keeps working when it is moved (an absolute path would break; a relative one is
    resolved against Ultralytics' own datasets folder)."""
    lines = ["# dataset root: the folder holding this file"]
    train = Split.TRAIN.value if Split.TRAIN.value in splits else None
    if train is None and Split.UNASSIGNED.value in splits:
        train = Split.UNASSIGNED.value
    for key, split in (("train", train), ("val", Split.VAL.value), ("test", Split.TEST.value)):
        if split is not None and split in splits:
            lines.append(f"{key}: images/{split}")
    if "val" not in {line.split(":")[0] for line in lines} and train is not None:
        lines.append(f"val: images/{train}")  # trainers insist on a val set
    lines.append(f"nc: {len(CLASS_NAMES)}")
    lines.append("names:")
    lines += [f"  {i}: {n}" for i, n in enumerate(CLASS_NAMES)]
    return "\n".join(lines) + "\n"
