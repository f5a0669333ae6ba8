"""COCO detection JSON (as read by mmdetection / pycocotools), reading and writing.

Layout written by ``CocoWriter``: ``images/<file>`` (copied byte for byte),
``annotations/instances_<split>.json`` (one per split present), ``sky/<name>.png`` (0/255).

Choices:
- One category, ``{"id": 1, "name": "target"}``. The sky is not a COCO category: it is a
  segmentation of the background, not an object, and a detector trained on this JSON would
  otherwise learn to output "sky" boxes. The sky mask goes to ``sky/<name>.png`` instead and the
  image entry names it in an extra ``sky_mask`` key (relative to the JSON file); trainers ignore
  unknown keys. On import, a category named "sky" is still understood (other tools write one).
- ``bbox`` is ``[xmin, ymin, xmax - xmin, ymax - ymin]`` of the DenseSIRST box, exactly (COCO
  boxes are continuous ``[x, y, w, h]`` with pixel i covering [i, i+1), the same convention).
- ``segmentation`` holds pixel-edge polygons of the target mask (mmdetection's most portable
  form; exact for hole-free masks), ``area`` the mask's pixel count (box area without a mask),
  ``iscrowd`` 0. The target's point is kept in an extra ``point`` key ``[x, y]``.
- Only boxes are COCO objects: a target without box gets one from its mask; a bare point
  cannot be written and is counted as skipped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from core import fileio, maskcodec
from core.domain import Box, ImageAnnotation, ImageInfo, Split, Target, TargetMask
from core.errors import FormatError
from core.formats._io import (
    atomic_copy,
    atomic_write_bytes,
    atomic_write_text,
    check_id,
    detection_box,
)
from core.formats._polygons import mask_to_polygons, polygons_to_mask, rle_to_mask
from core.formats._validate import validate_targets
from core.formats.densesirst import read_mask

CATEGORY = {"id": 1, "name": "target", "supercategory": "target"}
MAX_JSON_BYTES = 1 << 30


@dataclass
class CocoEntry:
    """One image of a COCO file with its raw annotations."""

    name: str
    file_name: str
    width: int
    height: int
    split: Split | None = None
    annotations: list[dict] = field(default_factory=list)
    sky_file: Path | None = None
    sky_category_ids: set[int] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)  # filled by build_annotation


# ---------------------------------------------------------------------------- reading
def read_coco(json_path: Path | str) -> list[CocoEntry]:
    """Parse a COCO JSON into one entry per image (FormatError when the file is unusable).
    Every field is type-checked here, so a crafted file gets a message, never a traceback."""
    json_path = Path(json_path)
    data = _load(json_path)
    categories = _list_of_dicts(json_path, data, "categories")
    sky_ids = {
        _int(json_path, c.get("id"), f"category {c.get('name')!r} id")
        for c in categories
        if str(c.get("name", "")).lower() == "sky"
    }
    file_split = split_from_name(json_path.stem)
    entries: dict[int, CocoEntry] = {}
    for img in _list_of_dicts(json_path, data, "images"):
        if "file_name" not in img or not isinstance(img["file_name"], str):
            raise FormatError(json_path, f"image entry {_short(img)} has no file_name string")
        file_name = img["file_name"]
        image_id = _int(json_path, img.get("id"), f"image {file_name!r} id")
        width = _int(json_path, img.get("width"), f"image {file_name!r} width", positive=True)
        height = _int(json_path, img.get("height"), f"image {file_name!r} height", positive=True)
        if image_id in entries:
            raise FormatError(json_path, f"image id {image_id} is used twice")
        split = _split_value(img.get("split")) or file_split
        sky = json_path.parent / img["sky_mask"] if isinstance(img.get("sky_mask"), str) else None
        entries[image_id] = CocoEntry(
            Path(file_name).stem, file_name, width, height, split, [], sky, sky_ids
        )
    for ann in _list_of_dicts(json_path, data, "annotations"):
        ref = ann.get("image_id")
        entry = entries.get(ref) if isinstance(ref, int) and not isinstance(ref, bool) else None
        if entry is None:
            raise FormatError(
                json_path, f"annotation {_short(ann.get('id'))} refers to no image ({_short(ref)})"
            )
        entry.annotations.append(ann)
    return list(entries.values())


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _list_of_dicts(json_path: Path, data: dict, key: str) -> list[dict]:
    items = data.get(key, [])
    if not isinstance(items, list):
        raise FormatError(json_path, f"'{key}' must be a list, not {type(items).__name__}")
    for item in items:
        if not isinstance(item, dict):
            raise FormatError(json_path, f"every entry of '{key}' must be an object: {_short(item)}")
    return items


def _int(json_path: Path, value: object, what: str, positive: bool = False) -> int:
    """An integral JSON number (``3`` or ``3.0``), finite; FormatError otherwise."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and isinstance(value, float):
        ok = math.isfinite(value) and value.is_integer()
    if ok and positive:
        ok = value > 0
    if not ok:
        kind = "a positive integer" if positive else "an integer"
        raise FormatError(json_path, f"{what} is {_short(value)}, not {kind}")
    return int(value)


def _load(json_path: Path) -> dict:
    try:
        text = fileio.read_regular_text(json_path, MAX_JSON_BYTES)
        data = json.loads(text)
    except FileNotFoundError:
        raise FormatError(json_path, "COCO JSON file not found") from None
    except RecursionError:
        raise FormatError(json_path, "not a COCO file: JSON nested too deeply") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FormatError(json_path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise FormatError(json_path, "not a COCO file: no 'images' list at the top level")
    return data


def split_from_name(stem: str) -> Split | None:
    """``instances_train`` -> TRAIN etc.; None when the name says nothing."""
    low = stem.lower()
    if "trainval" in low:  # a union of two splits: the name cannot say which image is which
        return None
    for key, split in (("train", Split.TRAIN), ("val", Split.VAL), ("test", Split.TEST)):
        if key in low:
            return split
    return None


def _split_value(value: object) -> Split | None:
    try:
        return Split(str(value)) if value is not None else None
    except ValueError:
        return None


def build_annotation(entry: CocoEntry, width: int, height: int, json_path: Path) -> ImageAnnotation:
    """Targets (and sky) of one entry; FormatError names the JSON and the bad annotation."""
    if (entry.width, entry.height) != (width, height):
        raise FormatError(
            json_path,
            f"{entry.file_name}: JSON says {entry.width}x{entry.height}, the file is {width}x{height}",
        )
    targets: list[Target] = []
    sky: np.ndarray | None = None
    for ann in entry.annotations:
        try:
            if ann.get("category_id", -1) in entry.sky_category_ids:
                part = _segmentation_mask(ann.get("segmentation"), height, width)
                if part is not None:
                    sky = (sky if sky is not None else np.zeros((height, width), bool)) | part
                continue
            targets.append(_target(ann, height, width))
        except (TypeError, ValueError, KeyError, OverflowError, IndexError) as exc:
            raise FormatError(
                json_path,
                f"{entry.file_name}: annotation {_short(ann.get('id'))} is invalid ({exc})",
            ) from None
    targets, warnings = validate_targets(
        f"{json_path} ({entry.file_name})", targets, width, height
    )
    entry.warnings = warnings
    if entry.sky_file is not None:
        sky = read_mask(entry.sky_file, width, height, entry.warnings)
    return ImageAnnotation(targets=targets, sky=sky)


def _target(ann: dict, height: int, width: int) -> Target:
    bbox = ann["bbox"]
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise ValueError(f"bbox {_short(bbox)} is not [x, y, w, h]")
    x, y, w, h = (_float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise ValueError(f"bbox {ann['bbox']} is not a positive finite [x, y, w, h]")
    mask = _segmentation_target_mask(ann.get("segmentation"), height, width)
    point = ann.get("point")
    pt = (
        (_float(point[0]), _float(point[1]))
        if isinstance(point, list | tuple) and len(point) == 2
        else None
    )
    return Target(point=pt, box=_clean_box((x, y, x + w, y + h)), mask=mask)


def _float(value: object) -> float:
    """A JSON number as float; strings and booleans are refused (float("1e3") would pass)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{_short(value)} is not a number")
    return float(value)


def _clean_box(box: tuple[float, float, float, float]) -> Box:
    """x + w in floating point can land a hair off an integer; snap those back."""
    return tuple(float(round(v)) if abs(v - round(v)) < 1e-6 else v for v in box)  # type: ignore[return-value]


def _segmentation_target_mask(seg: object, height: int, width: int) -> TargetMask | None:
    if isinstance(seg, list):
        return polygons_to_mask(_polygons(seg), height, width)
    full = _segmentation_mask(seg, height, width)
    if full is None or not full.any():
        return None
    ys, xs = np.nonzero(full)
    return TargetMask(
        int(xs.min()), int(ys.min()), full[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    )


def _segmentation_mask(seg: object, height: int, width: int) -> np.ndarray | None:
    if not seg:
        return None
    if isinstance(seg, dict):
        return rle_to_mask(seg, height, width)
    if isinstance(seg, list):
        out = np.zeros((height, width), bool)
        part = polygons_to_mask(_polygons(seg), height, width)
        if part is not None:
            part.paste_into(out)
        return out
    raise ValueError(f"segmentation of type {type(seg).__name__} is neither polygons nor RLE")


def _polygons(seg: list) -> list[list[float]]:
    if not all(isinstance(p, list) for p in seg):
        raise ValueError("segmentation polygons must be lists of numbers")
    return [[_float(v) for v in p] for p in seg]


# ---------------------------------------------------------------------------- writing
class CocoWriter:
    """Collects images and writes one ``instances_<split>.json`` per split at ``finish``."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.docs: dict[str, dict] = {}
        self.next_ann = 1
        self.next_image = 1
        self.skipped_targets = 0

    def add(self, info: ImageInfo, src: Path, ann: ImageAnnotation) -> None:
        """Copy the image, write its sky mask, and record its entry and targets."""
        check_id(info.name)
        file_name = f"{info.name}{src.suffix.lower()}"
        atomic_copy(src, self.out / "images" / file_name)
        image = {"id": self.next_image, "file_name": file_name, "width": info.width,
                 "height": info.height, "split": info.split.value}  # fmt: skip
        if ann.sky is not None:
            atomic_write_bytes(
                self.out / "sky" / f"{info.name}.png",
                maskcodec.encode_png(ann.sky),
            )
            image["sky_mask"] = f"../sky/{info.name}.png"
        doc = self.docs.setdefault(info.split.value, _empty_doc())
        doc["images"].append(image)
        for t in ann.targets:
            entry = self._annotation(t, self.next_image)
            if entry is None:
                self.skipped_targets += 1
                continue
            doc["annotations"].append(entry)
        self.next_image += 1

    def _annotation(self, t: Target, image_id: int) -> dict | None:
        box = detection_box(t)
        if box is None:
            return None
        x0, y0, x1, y1 = (float(v) for v in box)
        entry = {"id": self.next_ann, "image_id": image_id, "category_id": CATEGORY["id"],
                 "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                 "iscrowd": 0, "segmentation": []}  # fmt: skip
        if t.mask is not None and t.mask.pixels.any():
            entry["segmentation"] = mask_to_polygons(t.mask)
            entry["area"] = float(t.mask.pixels.sum())
        if t.point is not None:
            entry["point"] = [float(t.point[0]), float(t.point[1])]
        self.next_ann += 1
        return entry

    def finish(self) -> list[Path]:
        """Write the JSON files; returns their paths."""
        written = []
        for split, doc in sorted(self.docs.items()):
            path = self.out / "annotations" / f"instances_{split}.json"
            atomic_write_text(path, json.dumps(doc, separators=(",", ":")), fsync=True)
            written.append(path)
        return written


def _empty_doc() -> dict:
    return {
        "info": {
            "description": "exported by SIRST Studio",
            "date_created": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "licenses": [],
        "images": [],
        "annotations": [],
        "categories": [dict(CATEGORY)],
    }
