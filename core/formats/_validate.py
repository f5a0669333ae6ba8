"""Checks every importer applies to labels before they reach a project.

A label that no exporter could write correctly must not be imported silently:
- a box partly outside the image is clipped to it (with a warning naming the box);
- a box or point entirely outside the image, or with a non-finite coordinate, refuses the
  image (FormatError naming the file): it means the labels belong to another image size;
- more than ``MAX_TARGETS`` targets in one image refuses the image (real scenes hold tens; a
  crafted file with millions would exhaust memory in pairing and display).
"""

from __future__ import annotations

import math
from dataclasses import replace

from core.domain import Box, Point, Target
from core.errors import FormatError

MAX_TARGETS = 2500


def check_count(source: object, n: int, what: str) -> None:
    if n > MAX_TARGETS:
        raise FormatError(
            source, f"{n} {what} in one image, more than the {MAX_TARGETS} this app accepts"
        )


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def clip_box(source: object, box: Box, width: int, height: int) -> tuple[Box, str | None]:
    """(box clipped to the image, warning or None); FormatError if nothing is left."""
    if not all(math.isfinite(float(v)) for v in box):
        raise FormatError(source, f"box {box} has a non-finite coordinate")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise FormatError(source, f"box {_fmt((x0, y0, x1, y1))} is empty or inverted")
    cx0, cy0 = min(max(x0, 0.0), width), min(max(y0, 0.0), height)
    cx1, cy1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
    if not (cx1 > cx0 and cy1 > cy0):
        raise FormatError(
            source,
            f"box {_fmt((x0, y0, x1, y1))} lies outside the {width}x{height} image; "
            "the labels do not belong to this image",
        )
    clipped = tuple(int(v) if float(v).is_integer() else v for v in (cx0, cy0, cx1, cy1))
    if clipped == (x0, y0, x1, y1):
        return box, None
    return clipped, (  # type: ignore[return-value]
        f"box {_fmt((x0, y0, x1, y1))} reaches outside the {width}x{height} image; "
        f"clipped to {_fmt(clipped)}"  # type: ignore[arg-type]
    )


def check_point(source: object, point: Point, width: int, height: int) -> Point:
    x, y = (float(v) for v in point)
    if not (math.isfinite(x) and math.isfinite(y)):
        raise FormatError(source, f"point ({x}, {y}) is not finite")
    if not (0 <= x < width and 0 <= y < height):
        raise FormatError(
            source,
            f"point ({x:g}, {y:g}) lies outside the {width}x{height} image; "
            "the labels do not belong to this image",
        )
    return point


def validate_targets(
    source: object, targets: list[Target], width: int, height: int
) -> tuple[list[Target], list[str]]:
    """Targets with boxes clipped to the image, and the warnings saying so."""
    check_count(source, len(targets), "targets")
    out, warnings = [], []
    for t in targets:
        box = t.box
        if box is not None:
            box, warning = clip_box(source, box, width, height)
            if warning:
                warnings.append(warning)
        if t.point is not None:
            check_point(source, t.point, width, height)
        out.append(replace(t, box=box) if box is not t.box else t)
    return out, warnings
