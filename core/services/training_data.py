"""The labelled images of a project split, as training and evaluation read them.

``model/`` reads a project's labels here and never opens the project's database itself: the
store (core/store) stays the one owner of the database, and a change to how labels are stored
or listed changes nothing in model/ (docs/adr/0025-core3-three-layers.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.domain import ImageAnnotation, ReviewStatus, Split
from core.store.project import Project


@dataclass(frozen=True)
class LabelledImage:
    """One image of a split: its pixels as stored and its accepted labels."""

    name: str
    pixels: np.ndarray
    annotation: ImageAnnotation  # accepted targets, accepted sky, extra target-mask pixels


def labelled_images(
    root: Path | str, split: Split | str, reviewed_only: bool = False
) -> tuple[int, Iterator[LabelledImage]]:
    """(count, images) of ``split`` in import order, read one at a time as the iterator is used
    (a split larger than RAM streams). ``reviewed_only``: only images whose status is REVIEWED.
    The project is open only while the list is read and while the iterator runs, so an iterator
    left unused holds nothing open."""
    status = ReviewStatus.REVIEWED if reviewed_only else None
    with Project.open(root) as project:
        infos = project.list_images(split=Split(split), status=status)

    def read() -> Iterator[LabelledImage]:
        with Project.open(root) as project:
            for info in infos:
                yield LabelledImage(info.name, project.load_pixels(info.id),
                                    project.annotation(info.id))  # fmt: skip

    return len(infos), read()


def reviewed_since(root: Path | str, since: str | None) -> list[str]:
    """The names of the images reviewed in the app after ``since`` (an ISO time, e.g. a model
    version's ``created``; None: ever), in name order: a fine-tune's newly corrected images
    (ADR 0034). Images that came reviewed (imported with labels) are never among them."""
    from datetime import UTC, datetime

    def when(text: str) -> datetime:
        t = datetime.fromisoformat(text)
        return t if t.tzinfo is not None else t.replace(tzinfo=UTC)

    with Project.open(root) as project:
        times = project.review_times()
    start = when(since) if since else None
    return sorted(n for n, at in times.items() if at and (start is None or when(at) > start))
