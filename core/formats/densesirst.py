"""DenseSIRST (SIRSTdevkit) reading and writing; the layout is described in docs/DENSESIRST.md.

Reading: boxes from ``SIRST/BBox/<id>.xml`` (the stale ``SIRST/BinaryMask/<id>.xml`` is ignored),
points from ``SIRST/Point_label/<id>_pixels0.txt``, the target mask from
``SIRST/BinaryMask/<id>_pixels0.png`` and the sky from ``SkySeg/BinaryMask/<id>_pixels0.png``.
Points and boxes are paired by assignment; each target keeps the target-mask pixels inside its
box plus the rest of every connected blob its box holds most of (upstream masks are sometimes
offset by a pixel from the box: cutting them to the box would lose target pixels), and mask
pixels no box touches go to ``target_mask_extra`` so that writing reproduces the mask exactly.
Every file is read as a regular file of bounded size (a FIFO or device is refused, never read). Writing produces the full layout (binary + palette masks, XML, points, splits);
every file is written atomically, and ids are checked so no write can leave the output folder.
Targets are written as they are: a point-only target adds a point line and no box, a box-only
target a box and no point (nothing is invented).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element

import cv2
import numpy as np
from defusedxml import ElementTree as SafeET

from core import fileio, imageio, maskcodec
from core.domain import Box, ImageAnnotation, Point, Target, TargetMask
from core.errors import FormatError, ImageReadError
from core.formats._io import atomic_copy, atomic_write_bytes, atomic_write_text, check_id
from core.formats._pairing import pair_points_boxes
from core.formats._palette import encode_palette_png
from core.formats._validate import check_count, check_point, clip_box

IMAGES = "PNGImages"
BBOX = "SIRST/BBox"
TARGET_BIN = "SIRST/BinaryMask"
TARGET_PAL = "SIRST/PaletteMask"
POINTS = "SIRST/Point_label"
SKY_BIN = "SkySeg/BinaryMask"
SKY_PAL = "SkySeg/PaletteMask"
SPLITS = "Splits"


@dataclass
class DenseSample:
    """One DenseSIRST image with its labels (``annotation.targets`` are ACCEPTED / MANUAL)."""

    id: str
    image_path: Path
    width: int
    height: int
    annotation: ImageAnnotation
    warnings: list[str] = field(default_factory=list)  # what was repaired (clipped boxes...)


# ---------------------------------------------------------------------------- listing
def list_ids(root: Path | str) -> list[str]:
    """Image ids (file stems of ``PNGImages/*.png``), sorted."""
    folder = Path(root) / IMAGES
    if not folder.is_dir():
        raise FormatError(
            folder, "no PNGImages folder: this is not a DenseSIRST (SIRSTdevkit) root"
        )
    return sorted(
        p.stem
        for p in folder.iterdir()
        if p.suffix.lower() == ".png" and not p.name.startswith(".") and p.is_file()
    )


def image_path(root: Path | str, image_id: str) -> Path:
    """``PNGImages/<id>.png``, or the file whose extension differs only in case (``.PNG``)."""
    path = Path(root) / IMAGES / f"{image_id}.png"
    if path.exists():
        return path
    for suffix in (".PNG", ".Png", ".pNg", ".pnG", ".PNg", ".PnG", ".pNG"):
        alt = path.with_suffix(suffix)
        if alt.exists():
            return alt
    return path


def list_splits(root: Path | str) -> list[str]:
    """Names of the split files in ``Splits/`` (without ``.txt``), sorted."""
    folder = Path(root) / SPLITS
    if not folder.is_dir():
        return []
    # hidden files are not splits: macOS leaves ``._train_v2.txt`` (binary) beside each file
    return sorted(
        p.stem for p in folder.glob("*.txt") if not p.name.startswith(".") and p.is_file()
    )


def read_split(root: Path | str, name: str) -> list[str]:
    """Ids listed in ``Splits/<name>.txt``, in file order (blank lines ignored); FormatError if
    any id is unsafe (see ``read_split_lenient`` to skip those instead)."""
    ids, bad = read_split_lenient(root, name)
    if bad:
        raise bad[0][1]
    return ids


def read_split_lenient(
    root: Path | str, name: str
) -> tuple[list[str], list[tuple[str, FormatError]]]:
    """(safe ids, [(unsafe id, its FormatError)]) of ``Splits/<name>.txt``."""
    check_id(name, "split name")
    path = Path(root) / SPLITS / f"{name}.txt"
    try:
        text = fileio.read_regular_text(path)
    except FileNotFoundError:
        known = ", ".join(list_splits(root)) or "none"
        raise FormatError(path, f"no such split file (splits available: {known})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(path, f"cannot read the split file ({exc})") from None
    ids: list[str] = []
    bad: list[tuple[str, FormatError]] = []
    for line in text.splitlines():
        image_id = line.strip()
        if not image_id:
            continue
        try:
            ids.append(check_id(image_id, path))
        except FormatError as exc:
            bad.append((image_id, exc))
    return ids, bad


# ---------------------------------------------------------------------------- reading
def read_sample(root: Path | str, image_id: str) -> DenseSample:
    """Read one image's labels; raises FormatError / ImageReadError naming the bad file."""
    root = Path(root)
    check_id(image_id)
    path = image_path(root, image_id)
    header = imageio.read_header(path)
    w, h = header.width, header.height
    warnings: list[str] = []
    bbox_path = root / BBOX / f"{image_id}.xml"
    boxes = []
    for box in read_boxes(bbox_path, w, h):
        box, warning = clip_box(bbox_path, box, w, h)
        boxes.append(box)
        if warning:
            warnings.append(f"{bbox_path.name}: {warning}")
    points_path = root / POINTS / f"{image_id}_pixels0.txt"
    points = [check_point(points_path, p, w, h) for p in read_points(points_path)]
    target_mask = read_mask(root / TARGET_BIN / f"{image_id}_pixels0.png", w, h, warnings)
    sky_path = root / SKY_BIN / f"{image_id}_pixels0.png"
    sky = read_mask(sky_path, w, h, warnings) if sky_path.exists() else None
    targets, extra = build_targets(points, boxes, target_mask)
    ann = ImageAnnotation(targets=targets, sky=sky, target_mask_extra=extra)
    return DenseSample(image_id, path, w, h, ann, warnings)


def _parse_xml(path: Path) -> Element:
    try:
        data = fileio.read_regular_bytes(path)
    except FileNotFoundError:
        raise FormatError(path, "annotation file not found") from None
    except OSError as exc:
        raise FormatError(path, f"cannot read the annotation file ({exc})") from None
    try:
        return SafeET.fromstring(data)
    except Exception as exc:  # ParseError and defusedxml's refusals (entities, DTDs)
        raise FormatError(
            path, f"malformed or unsafe XML ({exc}); fix or remove the file"
        ) from None


def _number(path: Path, node: Element | None, tag: str) -> float:
    child = node.find(tag) if node is not None else None
    text = (child.text or "").strip() if child is not None else ""
    try:
        value = float(text)
    except ValueError:
        raise FormatError(path, f"<{tag}> is {text!r}, not a number") from None
    if not math.isfinite(value):
        raise FormatError(path, f"<{tag}> is {text!r}, not a finite number")
    return int(value) if value.is_integer() else value


def read_boxes(path: Path, width: int, height: int) -> list[Box]:
    """Boxes of a minimal VOC XML, checked against the image size."""
    root = _parse_xml(path)
    if root.tag != "annotation":
        raise FormatError(path, f"root element is <{root.tag[:40]}>, not <annotation>")
    size = root.find("size")
    if size is not None and size.find("width") is not None and size.find("height") is not None:
        xw, xh = _number(path, size, "width"), _number(path, size, "height")
        if (xw, xh) != (width, height):
            raise FormatError(path, f"<size> says {xw}x{xh} but the image is {width}x{height}")
    boxes: list[Box] = []
    objects = list(root.iter("object"))
    check_count(path, len(objects), "objects")
    for k, obj in enumerate(objects):
        bnd = obj.find("bndbox")
        if bnd is None:
            raise FormatError(path, f"object {k + 1} has no <bndbox>")
        box = tuple(_number(path, bnd, t) for t in ("xmin", "ymin", "xmax", "ymax"))
        if not (box[2] > box[0] and box[3] > box[1]):
            raise FormatError(path, f"object {k + 1}: box {box} is empty or inverted")
        boxes.append(box)  # type: ignore[arg-type]
    return boxes


def read_points(path: Path) -> list[Point]:
    """One ``x y`` (column row) per line; blank lines ignored."""
    try:
        text = fileio.read_regular_text(path)
    except FileNotFoundError:
        raise FormatError(
            path, "point file not found (every image needs one, even if empty)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(path, f"cannot read the point file ({exc})") from None
    points: list[Point] = []
    for n, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            x, y = (float(v) for v in parts)
        except ValueError:
            raise FormatError(
                path, f"line {n}: {line.strip()!r} is not two numbers 'x y'"
            ) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise FormatError(path, f"line {n}: {line.strip()!r} is not finite")
        points.append((x, y))
        check_count(path, len(points), "points")
    return points


def read_mask(
    path: Path, width: int, height: int, warnings: list[str] | None = None
) -> np.ndarray:
    """A 0/255 (or 0/1) mask PNG as a bool array; must have the image's size. Other values
    are read as foreground too, and a warning is appended to ``warnings``."""
    try:
        img = imageio.read_image(path)
    except ImageReadError as exc:
        raise FormatError(path, f"mask unreadable: {exc.reason}") from None
    if img.shape[:2] != (height, width):
        raise FormatError(
            path, f"mask is {img.shape[1]}x{img.shape[0]} but the image is {width}x{height}"
        )
    gray = imageio.to_gray(img)
    if warnings is not None and (odd := maskcodec.unusual_values(gray)):
        warnings.append(f"{path.name}: {odd}")
    return maskcodec.from_pixels(gray)


def build_targets(
    points: list[Point], boxes: list[Box], target_mask: np.ndarray | None
) -> tuple[list[Target], np.ndarray | None]:
    """Pair points with boxes, crop each box's mask; return (targets, mask pixels in no box)."""
    pairs, lone_points, lone_boxes = pair_points_boxes(points, boxes)
    owned = _blob_owners(target_mask, boxes)
    targets: list[Target] = []
    for p, b in pairs:
        targets.append(Target(point=points[p], box=boxes[b], mask=_target_mask(owned, b)))
    targets += [Target(box=boxes[b], mask=_target_mask(owned, b)) for b in lone_boxes]
    targets += [Target(point=points[p]) for p in lone_points]
    extra = None
    if target_mask is not None:
        covered = np.zeros_like(target_mask)
        for t in targets:
            if t.mask is not None:
                t.mask.paste_into(covered)
        rest = target_mask & ~covered
        extra = rest if rest.any() else None
    return targets, extra


def _pixel_range(box: Box, h: int, w: int) -> tuple[int, int, int, int]:
    """Pixels touched by a (possibly fractional) box, clipped to the image."""
    x0, y0, x1, y1 = box
    return (
        min(max(math.floor(x0), 0), w),
        min(max(math.floor(y0), 0), h),
        min(max(math.ceil(x1), 0), w),
        min(max(math.ceil(y1), 0), h),
    )


@dataclass
class _Owned:
    mask: np.ndarray  # the target mask
    boxes: list[tuple[int, int, int, int]]  # pixel ranges of the boxes
    labels: np.ndarray | None  # 8-connected blob label of every pixel
    owner: dict[int, int]  # blob label -> index of the box holding most of it
    # cv2 stats per label (left, top, width, height, area): a blob's extent without a pass over
    # the whole image per target (that pass was most of a DenseSIRST import, issue 22)
    stats: np.ndarray | None = None


def _blob_owners(mask: np.ndarray | None, boxes: list[Box]) -> _Owned | None:
    if mask is None:
        return None
    h, w = mask.shape
    ranges = [_pixel_range(b, h, w) for b in boxes]
    if not mask.any() or not boxes:
        return _Owned(mask, ranges, None, {})
    _n, labels, stats, _centroids = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    best: dict[int, tuple[int, int]] = {}  # label -> (pixels inside the box, box index)
    for k, (xa, ya, xb, yb) in enumerate(ranges):
        if xb <= xa or yb <= ya:
            continue
        ids, counts = np.unique(labels[ya:yb, xa:xb], return_counts=True)
        for lab, cnt in zip(ids.tolist(), counts.tolist(), strict=True):
            if lab and cnt > best.get(lab, (0, -1))[0]:
                best[lab] = (cnt, k)
    return _Owned(mask, ranges, labels, {lab: k for lab, (_c, k) in best.items()}, stats)


def _target_mask(owned: _Owned | None, k: int) -> TargetMask | None:
    """Mask pixels inside box ``k`` plus the blobs box ``k`` owns (whole, even past its edge)."""
    if owned is None:
        return None
    h, w = owned.mask.shape
    xa, ya, xb, yb = owned.boxes[k]
    mine = [lab for lab, owner in owned.owner.items() if owner == k]
    if owned.labels is not None and mine:
        st = owned.stats[mine]
        left, top = int(st[:, cv2.CC_STAT_LEFT].min()), int(st[:, cv2.CC_STAT_TOP].min())
        right = int((st[:, cv2.CC_STAT_LEFT] + st[:, cv2.CC_STAT_WIDTH]).max())
        bottom = int((st[:, cv2.CC_STAT_TOP] + st[:, cv2.CC_STAT_HEIGHT]).max())
        if xb > xa and yb > ya:
            xa, ya, xb, yb = min(xa, left), min(ya, top), max(xb, right), max(yb, bottom)
        else:
            xa, ya, xb, yb = left, top, right, bottom
    if xb <= xa or yb <= ya:
        return None
    bx0, by0, bx1, by1 = owned.boxes[k]
    crop = np.zeros((yb - ya, xb - xa), bool)
    if bx1 > bx0 and by1 > by0:
        crop[by0 - ya : by1 - ya, bx0 - xa : bx1 - xa] = owned.mask[by0:by1, bx0:bx1]
    if owned.labels is not None and mine:
        crop |= np.isin(owned.labels[ya:yb, xa:xb], mine)
    return TargetMask(xa, ya, crop) if crop.any() else None


# ---------------------------------------------------------------------------- writing
def write_sample(
    out_root: Path | str,
    image_id: str,
    image_src: Path | np.ndarray,
    annotation: ImageAnnotation,
    width: int,
    height: int,
) -> None:
    """Write every DenseSIRST file of one image (each atomically). A PNG source is copied
    byte for byte; other files and arrays are encoded as PNG at their own depth. The image is
    written last, so an image in PNGImages always has all its label files (even after a kill)."""
    out = Path(out_root)
    check_id(image_id)
    sky = annotation.sky if annotation.sky is not None else np.zeros((height, width), bool)
    if sky.shape != (height, width):
        raise FormatError(
            image_id, f"sky mask is {sky.shape[::-1]} but the image is {width}x{height}"
        )
    image = _encoded_image(image_src, width, height)  # fails before anything is written
    boxes = [t.box for t in annotation.targets if t.box is not None]
    points = [t.point for t in annotation.targets if t.point is not None]
    atomic_write_text(out / BBOX / f"{image_id}.xml", bbox_xml(image_id, width, height, boxes))
    atomic_write_text(out / POINTS / f"{image_id}_pixels0.txt", points_text(points))
    target = annotation.target_mask(height, width)
    _write_mask_pair(out, TARGET_BIN, TARGET_PAL, image_id, target, palette_size=2)
    _write_mask_pair(out, SKY_BIN, SKY_PAL, image_id, sky, palette_size=256)
    atomic_write_text(out / SKY_BIN / f"{image_id}.xml", sky_xml(image_id, width, height, sky))
    dst = out / IMAGES / f"{image_id}.png"
    if isinstance(image, Path):
        atomic_copy(image, dst)
    else:
        atomic_write_bytes(dst, image)


def write_split(out_root: Path | str, split_name: str, ids: list[str]) -> None:
    """``Splits/<name>.txt``: one id per line, no trailing newline (as upstream)."""
    check_id(split_name, "split name")
    for i in ids:
        check_id(i, f"split {split_name}")
    atomic_write_text(Path(out_root) / SPLITS / f"{split_name}.txt", "\n".join(ids), fsync=True)


def _encoded_image(src: Path | np.ndarray, width: int, height: int) -> Path | bytes:
    """A PNG file to copy as is, or PNG bytes of an array / a non-PNG file."""
    if isinstance(src, np.ndarray):
        if src.shape[:2] != (height, width):
            raise FormatError(
                "image array", f"is {src.shape[1]}x{src.shape[0]}, expected {width}x{height}"
            )
        return imageio.encode_png(src)
    src = Path(src)
    if src.suffix.lower() == ".png":
        imageio.read_header(src)  # a missing or non-PNG source fails here, naming the file
        return src
    return imageio.encode_png(imageio.read_image(src))


def _write_mask_pair(
    out: Path, bin_dir: str, pal_dir: str, image_id: str, mask: np.ndarray, palette_size: int
) -> None:
    atomic_write_bytes(out / bin_dir / f"{image_id}_pixels0.png", maskcodec.encode_png(mask))
    indices = mask.astype(np.uint8)
    atomic_write_bytes(out / pal_dir / f"{image_id}.png", encode_palette_png(indices, palette_size))


def _int_coord(v: float, up: bool) -> int:
    """Integer file coordinate: exact for integral values, else the covering pixel edge."""
    r = round(v)
    if abs(v - r) < 1e-6:
        return int(r)
    return math.ceil(v) if up else math.floor(v)


def bbox_xml(image_id: str, width: int, height: int, boxes: list[Box]) -> str:
    """The minimal upstream ``SIRST/BBox`` XML (2-space indent; depth always 1 as upstream)."""
    lines = [
        "<annotation>",
        f"  <filename>{_xml_text(image_id)}</filename>",
        "  <size>",
        f"    <width>{width}</width>",
        f"    <height>{height}</height>",
        "    <depth>1</depth>",
        "  </size>",
    ]
    for x0, y0, x1, y1 in boxes:
        coords = (
            _int_coord(x0, False),
            _int_coord(y0, False),
            _int_coord(x1, True),
            _int_coord(y1, True),
        )
        lines += ["  <object>", "    <name>Target</name>", "    <bndbox>"]
        lines += [
            f"      <{t}>{v}</{t}>"
            for t, v in zip(("xmin", "ymin", "xmax", "ymax"), coords, strict=True)
        ]
        lines += ["    </bndbox>", "  </object>"]
    lines.append("</annotation>")
    return "\n".join(lines) + "\n"


def points_text(points: list[Point]) -> str:
    """``x y`` per line (the pixel holding the point), newline-terminated as upstream."""
    return "".join(f"{math.floor(x + 1e-6)} {math.floor(y + 1e-6)}\n" for x, y in points)


def sky_xml(image_id: str, width: int, height: int, sky: np.ndarray) -> str:
    """``SkySeg/BinaryMask/<id>.xml``: one "Sky" object boxing the sky, in the upstream style
    (4-space indent; xmin/ymin = first sky pixel + 1, xmax/ymax = last sky pixel)."""
    lines = [
        "<annotation>",
        "    <folder>PNGImages</folder>",
        f"    <filename>{_xml_text(image_id)}.png</filename>",
        "    <size>",
        f"        <width>{width}</width>",
        f"        <height>{height}</height>",
        "        <depth>3</depth>",
        "    </size>",
    ]
    lines += ["    <object>", "        <name>Sky</name>", "        <difficult>0</difficult>"]
    lines += ["        <pixels>", "            <id>0</id>", "        </pixels>"]
    rows, cols = np.flatnonzero(sky.any(axis=1)), np.flatnonzero(sky.any(axis=0))
    if cols.size:  # upstream leaves the box out when the image has no sky
        coords = (int(cols[0]) + 1, int(rows[0]) + 1, int(cols[-1]), int(rows[-1]))
        lines.append("        <bndbox>")
        lines += [
            f"            <{t}>{v}</{t}>"
            for t, v in zip(("xmin", "ymin", "xmax", "ymax"), coords, strict=True)
        ]
        lines.append("        </bndbox>")
    lines.append("    </object>")
    lines.append("</annotation>")
    return "\n".join(lines)


def _xml_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
