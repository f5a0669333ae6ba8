"""What the image list asks the project for: a filter and a sort order (the natural sort key of a
name is core.natural_order).

Plain values (no SQLAlchemy, no Qt): the widgets build an :class:`ImageQuery`, ``core.store.listing``
turns it into SQL. A sort order is one entry of :data:`SORTS` (label + the columns it orders by),
so a new order is one enum member and one table row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.domain import ReviewStatus, Split


class ImageSort(StrEnum):
    """Orders of the image list; the default is NAME (natural order)."""

    NAME = "name"
    NAME_DESC = "name_desc"
    IMPORTED = "imported"
    STATUS = "status"
    SPLIT = "split"
    ATTENTION = "attention"  # the review queue's score (issue 20), most first; unranked last


ATTENTION = "attention"  # the one order column that is not an images column


@dataclass(frozen=True)
class SortSpec:
    label: str
    # (images column, descending); the id always ends the order so that it is total and stable
    columns: tuple[tuple[str, bool], ...]


SORTS: dict[ImageSort, SortSpec] = {
    ImageSort.NAME: SortSpec("Name (1, 2, ... 10)", (("sort_key", False),)),
    ImageSort.NAME_DESC: SortSpec("Name, descending", (("sort_key", True),)),
    ImageSort.IMPORTED: SortSpec("Import order", ()),
    ImageSort.STATUS: SortSpec("Status, then name", (("status", False), ("sort_key", False))),
    ImageSort.SPLIT: SortSpec("Split, then name", (("split", False), ("sort_key", False))),
    # "attention": image_attention.score (core.store.listing joins it; -1 for an image never ranked)
    ImageSort.ATTENTION: SortSpec("Needs attention", ((ATTENTION, True), ("sort_key", False))),
}


@dataclass(frozen=True)
class ImageQuery:
    """One state of the list's filters. ``holder``: None = anyone; otherwise only images held by
    ``holder[0]`` ("" = by nobody)."""

    search: str = ""  # case-insensitive substring of the name
    status: ReviewStatus | None = None
    split: Split | None = None
    holder: tuple[str] | None = None
    sort: ImageSort = ImageSort.NAME

    @property
    def is_everything(self) -> bool:
        """True when no filter is set (the list holds every image)."""
        return not self.search and self.status is None and self.split is None and self.holder is None

    def uses(self, field: str) -> bool:
        """Whether a change of images column ``field`` can move a row in or out of, or within,
        the result (then the list re-runs the query)."""
        filtered = {"status": self.status is not None, "split": self.split is not None,
                    "assignee": self.holder is not None}  # fmt: skip
        return filtered.get(field, False) or any(c == field for c, _ in SORTS[self.sort].columns)
