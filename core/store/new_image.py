"""One image to add to a project (``Project.add_images``): the input value of an import.

Apart from core/store/project.py so that an import names what it adds without depending on the
whole ``Project`` (ADR 0025).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.domain import ImageAnnotation, ReviewStatus, Split

if TYPE_CHECKING:
    from core.imageio import ImageHeader


@dataclass
class NewImage:
    """One image to add. ``header`` / ``sha256`` are read from the file when not given."""

    path: Path | str
    name: str | None = None  # default: the file stem
    split: Split = Split.UNASSIGNED
    annotation: ImageAnnotation | None = None
    status: ReviewStatus | None = None
    header: ImageHeader | None = None
    sha256: str | None = None
