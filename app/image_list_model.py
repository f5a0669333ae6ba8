"""The image list's item model: a window onto the project database, not a copy of it.

``set_query`` runs the filter and sort in SQL on a background thread (``app.list_queries``); the
GUI thread swaps in the answer, the ids in order (8 bytes per row). Rows are read a page at a
time when the view first paints them and kept in a bounded cache; proposal counts at or above
the score threshold come with each page. Missing files are checked in the background, rows on
screen first. After an edit the window pushes the row (``update_image``); a change that moves
it in or out of the filter, or within the order, re-runs the query.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from app.list_queries import FileChecker, ListResult, QueryRunner
from app.thumbnails import ThumbnailCache
from core.domain import ImageInfo, ReviewStatus
from core.errors import ProjectError
from core.image_query import ImageQuery
from widgets.image_list import ImageRole

PAGE = 128  # rows read per query when the view paints rows not cached yet
CACHE_ROWS = 16_384  # rows kept (the oldest read are dropped first)

_ROLE_GETTERS = {
    int(Qt.ItemDataRole.DisplayRole): lambda i: i.name,
    int(ImageRole.ID): lambda i: i.id,
    int(ImageRole.STATUS): lambda i: i.status.value,
    int(ImageRole.SPLIT): lambda i: i.split.value,
    int(ImageRole.N_TARGETS): lambda i: i.n_targets,
    int(ImageRole.MISSING): lambda i: i.missing,
    int(ImageRole.ASSIGNEE): lambda i: i.assignee,
    int(Qt.ItemDataRole.ToolTipRole): lambda i: _tooltip(i),
}
_EMPTY = np.empty(0, np.int64)


def _tooltip(info: ImageInfo) -> str:
    lines = [
        info.name,
        f"{info.width}x{info.height}, {info.bit_depth}-bit, {info.channels} channel(s)",
        info.path,
    ]
    if info.missing:
        lines.append("The file is missing: move it back or re-import the folder.")
    if info.note:
        lines.append(f"Note: {info.note}")
    return "\n".join(lines)


def matches(info: ImageInfo, query: ImageQuery) -> bool:
    """``info`` passes the filters of ``query`` (the SQL of core.store.listing, for one row)."""
    if query.status is not None and info.status != query.status:
        return False
    if query.split is not None and info.split != query.split:
        return False
    if query.holder is not None and (info.assignee or "") != query.holder[0]:
        return False
    return not query.search or query.search.casefold() in info.name.casefold()


class ImageListModel(QAbstractListModel):
    """One row per image of the current query; thumbnails come from a ThumbnailCache."""

    result_swapped = Signal()  # a query's answer is shown (rows, order and counts are new)
    files_checked = Signal()  # every image's file was checked once (missing_ids() is complete)
    query_failed = Signal(str)  # the database refused the list's query (the list is empty)

    def __init__(self, thumbnails: ThumbnailCache | None = None, parent=None) -> None:
        super().__init__(parent)
        self.project = None
        self._query = ImageQuery()
        self._generation = 0
        self._applied = 0
        self._ids = self._sorted = self._rows_of_sorted = _EMPTY
        self._total, self._total_known = 0, False
        self._rows = 0  # len(self._ids), or the count while only the top rows' ids are known
        self._partial = 0  # generation whose top rows are shown (its whole answer is coming)
        self._infos: OrderedDict[int, ImageInfo] = OrderedDict()
        self._shown: dict[int, int] = {}  # image id -> proposals at or above the threshold
        self._threshold = 0.0
        self._missing: set[int] = set()
        self._files_complete = False
        self._runner = QueryRunner(self)
        self._runner.result_ready.connect(self._swap)
        self._checker: FileChecker | None = None
        self.pages_read = 0  # page queries run for painting (tests, benchmarks)
        self.thumbnails = thumbnails
        if thumbnails is not None:
            thumbnails.thumbnail_ready.connect(self._on_thumbnail)

    # ---------------------------------------------------------------- Qt model
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else self._rows

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> object:
        # rows past the ids known yet (the top of the list is shown before the rest arrives)
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        if role == ImageRole.ID:
            return int(self._ids[index.row()])
        info = self._info_at(index.row())
        if info is None:
            return None
        if role == Qt.ItemDataRole.DecorationRole:
            # Only rows the view paints ask for this, so thumbnails are made for visible rows only.
            return self.thumbnails.get(info) if self.thumbnails is not None else None
        if role == ImageRole.N_PROPOSALS:
            return self.proposals_shown(info)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(info) + self._attention_line(info.id)
        getter = _ROLE_GETTERS.get(int(role))
        return getter(info) if getter is not None else None

    def _attention_line(self, image_id: int) -> str:
        """The review queue's reason for this image (issue 20), read when a tooltip asks."""
        attention_of = getattr(self.project, "attention_of", None)
        entry = attention_of(int(image_id)) if attention_of is not None else None
        if entry is None:
            return ""
        score, reason = entry
        return f"\nNeeds attention {score:.1f}: {reason or 'nothing left to check'}"

    def _info_at(self, row: int) -> ImageInfo | None:
        image_id = int(self._ids[row])
        info = self._infos.get(image_id)
        if info is None and self.project is not None:
            start = row - row % PAGE
            self._read(self._ids[start : start + PAGE].tolist())
            info = self._infos.get(image_id)
        if info is not None:
            info.missing = image_id in self._missing
        return info

    def _read(self, ids: list[int]) -> None:
        """Cache the rows of ``ids`` (those not cached yet) with their counts."""
        ids = [i for i in ids if i not in self._infos]
        if not ids:
            return
        self.pages_read += 1
        self._store(self.project.images_by_id(ids))

    def _store(self, infos: list[ImageInfo], shown: dict[int, int] | None = None) -> None:
        ids = [int(i.id) for i in infos]
        if shown is None:
            shown = dict.fromkeys(ids, 0)
            shown.update(self.project.proposals_at_or_above(ids, self._threshold))
        self._shown.update(shown)
        for info in infos:
            self._infos[int(info.id)] = info
        while len(self._infos) > CACHE_ROWS:
            old, _ = self._infos.popitem(last=False)
            self._shown.pop(old, None)
        if self._checker is not None:
            self._checker.prioritize(ids)

    # ---------------------------------------------------------------- project and query
    def set_project(self, project) -> None:
        """Show ``project``'s images (None: nothing); the query runs in the background."""
        if self._checker is not None:
            self._checker.close()
            self._checker = None
        self.beginResetModel()
        self.project = project
        self._ids = self._sorted = self._rows_of_sorted = _EMPTY
        self._total, self._total_known = 0, False
        self._rows = 0
        self._infos.clear()
        self._shown.clear()
        self._missing.clear()
        self._files_complete = False
        self.endResetModel()
        if project is not None:
            self._checker = FileChecker(project, parent=self)
            self._checker.checked.connect(self._on_checked)
            self._checker.pass_done.connect(self._on_pass_done)
            self._start_query()
        else:
            self._generation += 1
            self._applied = self._generation

    def set_query(self, query: ImageQuery) -> None:
        """Filter and order the list; the answer is swapped in when it is ready."""
        if query == self._query and self._applied == self._generation:
            return
        self._query = query
        self._start_query()

    def query(self) -> ImageQuery:
        return self._query

    def refresh(self) -> None:
        """Re-read everything (after images were added or changed outside the window)."""
        self._total_known = False
        self._infos.clear()
        self._shown.clear()
        self._start_query()

    def _start_query(self) -> None:
        if self.project is None:
            return
        self._generation += 1
        known = self._total if self._total_known else None  # images added: refresh() forgets
        self._runner.request(self.project, self._generation, self._query, self._threshold, known)

    def pending(self) -> bool:
        """True while a query's answer is not shown yet."""
        return self.project is not None and self._applied != self._generation

    def sync(self) -> None:
        """Wait for the pending query and show its answer (navigation, tests, scripts)."""
        if self.pending():
            result = self._runner.wait_for(self._generation)
            if result is not None:
                self._swap(result)

    @property
    def queries_run(self) -> int:
        return self._runner.queries_run

    def _swap(self, result: ListResult) -> None:
        if result.generation != self._generation or self._applied == self._generation:
            return  # an answer to an older question (typing went on), or already shown
        if not result.complete and self._partial == result.generation:
            return
        self.beginResetModel()
        if result.complete:
            self._applied = result.generation
        else:
            self._partial = result.generation
        self._rows = len(result.ids) if result.complete else result.total
        self._ids, self._sorted, self._rows_of_sorted = (
            result.ids, result.sorted_ids, result.rows_of_sorted)  # fmt: skip
        self._total = result.total
        self._total_known = not result.error
        if self.project is not None and result.first:
            # counts read with the result are stale if the threshold moved meanwhile
            fresh = result.threshold == self._threshold
            self._store(result.first, result.first_shown if fresh else None)
        self.endResetModel()
        if self._checker is not None and result.complete:
            self._checker.start_full_pass()  # the list is shown: now every file, gently
        if result.error:
            self.query_failed.emit(f"The image list could not be read: {result.error}")
        self.result_swapped.emit()

    def close(self) -> None:
        """Stop the background threads (the window is closing)."""
        self.set_project(None)
        self._runner.close()

    # ---------------------------------------------------------------- proposal counts
    def proposals_shown(self, info: ImageInfo) -> int:
        """Proposals of ``info`` at or above the threshold."""
        image_id = int(info.id)
        if image_id not in self._shown:
            if self.project is None:
                return info.n_proposals
            row = self.row_of(image_id, wait=False)  # counted for its whole page at once
            ids = [image_id] if row is None else self._ids[row - row % PAGE :][:PAGE].tolist()
            try:
                counts = self.project.proposals_at_or_above(ids, self._threshold)
            except ProjectError:  # the server is away (a paint must not raise): asked again later
                return info.n_proposals
            self._shown.update(dict.fromkeys(ids, 0))
            self._shown.update(counts)
        return self._shown[image_id]

    def set_threshold(self, threshold: float) -> None:
        """Counts at the new threshold are read for the rows painted next, a page per query."""
        self._threshold = float(threshold)
        self._shown.clear()
        self._all_changed()

    def threshold(self) -> float:
        return self._threshold

    def _all_changed(self) -> None:
        if self._rows:
            self.dataChanged.emit(self.index(0), self.index(self._rows - 1))

    # ---------------------------------------------------------------- missing files
    def _on_checked(self, missing: list[int], present: list[int]) -> None:
        changed = [i for i in missing if i not in self._missing]
        changed += [i for i in present if i in self._missing]
        self._missing.update(missing)
        self._missing.difference_update(present)
        for image_id in changed:
            self._row_changed(image_id)

    def missing_ids(self) -> set[int]:
        """Images whose file was found missing so far (complete once ``files_checked``)."""
        return set(self._missing)

    def _on_pass_done(self) -> None:
        self._files_complete = True  # after every batch's result: signals arrive in order
        self.files_checked.emit()

    def files_complete(self) -> bool:
        """Every image's file was checked once (``missing_ids()`` is complete)."""
        return self._files_complete

    # ---------------------------------------------------------------- rows
    def set_thumbnails(self, thumbnails: ThumbnailCache | None) -> None:
        """Switch thumbnail source (one per project); None shows placeholders."""
        if self.thumbnails is not None:
            self.thumbnails.thumbnail_ready.disconnect(self._on_thumbnail)
        self.thumbnails = thumbnails
        if thumbnails is not None:
            thumbnails.thumbnail_ready.connect(self._on_thumbnail)

    def update_image(self, info: ImageInfo) -> None:
        """The row of ``info`` after an edit (its ``missing`` flag included); re-runs the query
        when the change moves the row in or out of the list, or within its order."""
        image_id = int(info.id)
        old = self._infos.get(image_id)
        self._infos[image_id] = info
        self._infos.move_to_end(image_id)
        self._shown.pop(image_id, None)
        if info.missing:
            self._missing.add(image_id)
        else:
            self._missing.discard(image_id)
        listed = self.row_of(image_id, wait=False) is not None
        moved = old is not None and any(
            getattr(old, f) != getattr(info, f) and self._query.uses(f)
            for f in ("status", "split", "assignee")
        )
        if listed != matches(info, self._query) or moved:
            if old is None and not listed:
                self._total_known = False  # maybe a new image: count again
            self._start_query()
        else:
            self._row_changed(image_id)

    def info(self, image_id: int) -> ImageInfo | None:
        """The image's row: cached, else read (also for images the filter hides); None when it
        is not in the project."""
        image_id = int(image_id)
        info = self._infos.get(image_id)
        if info is None and self.project is not None:
            self._read([image_id])
            info = self._infos.get(image_id)
        if info is not None:
            info.missing = image_id in self._missing
        return info

    def cached(self, image_id: int) -> ImageInfo | None:
        """The row as the list holds it (None when not read yet: then the database has it)."""
        info = self._infos.get(int(image_id))
        if info is not None:
            info.missing = int(image_id) in self._missing
        return info

    def is_missing(self, image_id: int) -> bool:
        return int(image_id) in self._missing

    def row_of(self, image_id: int, wait: bool = True) -> int | None:
        """The row of an image in the current list (None: not listed)."""
        if wait:
            self.sync()
        k = int(np.searchsorted(self._sorted, int(image_id)))
        if k < len(self._sorted) and self._sorted[k] == int(image_id):
            return int(self._rows_of_sorted[k])
        return None

    def id_at(self, row: int) -> int | None:
        return int(self._ids[row]) if 0 <= row < len(self._ids) else None

    def ids(self) -> list[int]:
        """Every listed id, in list order (waits for a pending query)."""
        self.sync()
        return self._ids.tolist()

    def ids_between(self, first: int, last: int) -> list[int]:
        return self._ids[first : last + 1].tolist()

    def total_count(self) -> int:
        """Images in the project (the list shows those matching the filters)."""
        return self._total

    def next_unreviewed(self, current: int | None, user: str | None) -> int | None:
        """The first listed image after ``current`` (wrapping) that is not reviewed and held by
        nobody or ``user``."""
        self.sync()
        if self.project is None or not len(self._ids):
            return None
        start = self.row_of(current) if current is not None else None
        start = -1 if start is None else start
        ahead = self._ids[start + 1 : start + 1 + PAGE].tolist()
        for info in self.project.images_by_id(ahead):  # the common case: one short query
            if info.status != ReviewStatus.REVIEWED and info.assignee in (None, "", user):
                return int(info.id)
        candidates = self.project.unreviewed_ids(self._query, user)
        candidates = candidates[candidates != (current if current is not None else -1)]
        if not len(candidates):
            return None
        k = np.searchsorted(self._sorted, candidates)
        rows = self._rows_of_sorted[np.minimum(k, len(self._sorted) - 1)]
        rows = rows[self._sorted[np.minimum(k, len(self._sorted) - 1)] == candidates]
        if not len(rows):
            return None
        after = rows[rows > start]
        return int(self._ids[int(after.min() if len(after) else rows.min())])

    def _row_changed(self, image_id: int) -> None:
        row = self.row_of(image_id, wait=False)
        if row is not None:
            self.dataChanged.emit(self.index(row), self.index(row))

    def _on_thumbnail(self, image_id: int) -> None:
        row = self.row_of(image_id, wait=False)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])
