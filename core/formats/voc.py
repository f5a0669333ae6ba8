"""Pascal VOC export: ``Annotations/<name>.xml`` per image, ``JPEGImages/<file>`` (the original
file, copied byte for byte: not re-encoded to JPEG, which would lose 16-bit data) and
``ImageSets/Main/<split>.txt`` (+ ``trainval.txt`` when train or val images are exported).

Boxes follow the VOC convention, 1-based with inclusive ends: the DenseSIRST box
``[xmin, xmax)`` (0-based) is written ``xmin + 1 .. xmax``. Fractional boxes are rounded outwards
to whole pixels. One class, ``target``; the sky is not a VOC object (see coco.py for why).
``labelmap.txt`` declares the classes for tools such as datumaro.
"""

from __future__ import annotations

import math
from pathlib import Path
from xml.sax.saxutils import escape

from core.domain import Box, ImageAnnotation, ImageInfo, Split
from core.formats._io import atomic_copy, atomic_write_text, check_id, detection_box

CLASS_NAME = "target"
# datumaro's VOC label map ("label:color_rgb:parts:actions"): without it datumaro sees
# "target" as an undeclared label. Colours are the VOC colormap entries 0 and 1.
LABELMAP = f"# label:color_rgb:parts:actions\nbackground:0,0,0::\n{CLASS_NAME}:128,0,0::\n"


def voc_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """1-based inclusive pixel box covering ``box``, clipped to the image."""
    x0, y0, x1, y1 = box
    eps = 1e-6  # float noise must not grow a box by a pixel
    return (
        max(math.floor(x0 + eps), 0) + 1,
        max(math.floor(y0 + eps), 0) + 1,
        min(math.ceil(x1 - eps), width),
        min(math.ceil(y1 - eps), height),
    )


def annotation_xml(info: ImageInfo, file_name: str, boxes: list[Box]) -> str:
    lines = [
        "<annotation>",
        "\t<folder>JPEGImages</folder>",
        f"\t<filename>{escape(file_name)}</filename>",
        "\t<source><database>SIRST Studio</database></source>",
        f"\t<size><width>{info.width}</width><height>{info.height}</height>"
        f"<depth>{info.channels}</depth></size>",
        "\t<segmented>0</segmented>",
    ]
    for box in boxes:
        x0, y0, x1, y1 = voc_box(box, info.width, info.height)
        lines += [
            "\t<object>",
            f"\t\t<name>{CLASS_NAME}</name>",
            "\t\t<pose>Unspecified</pose>",
            "\t\t<truncated>0</truncated>",
            "\t\t<difficult>0</difficult>",
            f"\t\t<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox>",
            "\t</object>",
        ]
    lines.append("</annotation>")
    return "\n".join(lines) + "\n"


class VocWriter:
    """Writes one XML + image per ``add``; the ImageSets files at ``finish``."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.members: dict[str, list[str]] = {}
        self.skipped_targets = 0

    def add(self, info: ImageInfo, src: Path, ann: ImageAnnotation) -> None:
        check_id(info.name)
        file_name = f"{info.name}{src.suffix.lower()}"
        boxes = []
        for t in ann.targets:
            box = detection_box(t)
            if box is None:
                self.skipped_targets += 1
            else:
                boxes.append(box)
        atomic_copy(src, self.out / "JPEGImages" / file_name)
        xml = annotation_xml(info, file_name, boxes)
        atomic_write_text(self.out / "Annotations" / f"{info.name}.xml", xml)
        self.members.setdefault(info.split.value, []).append(info.name)

    def finish(self) -> list[Path]:
        sets = dict(self.members)
        trainval = sets.get(Split.TRAIN.value, []) + sets.get(Split.VAL.value, [])
        if trainval:
            sets["trainval"] = trainval
        labelmap = self.out / "labelmap.txt"
        atomic_write_text(labelmap, LABELMAP, fsync=True)
        written = [labelmap]
        for name, ids in sorted(sets.items()):
            path = self.out / "ImageSets" / "Main" / f"{name}.txt"
            atomic_write_text(path, "".join(f"{i}\n" for i in ids), fsync=True)
            written.append(path)
        return written
