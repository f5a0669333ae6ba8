"""Background threads of the image list: the query runner (filter + sort in SQL, newest request
wins) and the file checker (missing files, the rows on screen first, then every image once).

Both hand results to the GUI thread through queued signals; the GUI thread only swaps them in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.domain import ImageInfo
from core.errors import SirstError
from core.image_query import ImageQuery

log = logging.getLogger(__name__)

FIRST_ROWS = 128  # rows fetched with the result, so the first paint needs no query


@dataclass
class ListResult:
    """One query's answer: ids in order, their sorted copy (id -> row), the first rows."""

    generation: int
    query: ImageQuery
    ids: np.ndarray
    sorted_ids: np.ndarray = field(repr=False)
    rows_of_sorted: np.ndarray = field(repr=False)
    total: int
    first: list[ImageInfo]
    first_shown: dict[int, int]  # proposals at or above the threshold of the first rows
    threshold: float = 0.0  # the threshold first_shown counted at
    error: str | None = None
    complete: bool = True  # False: only the first rows' ids (``total`` rows are coming)


def run_head(project, generation: int, query: ImageQuery, threshold: float) -> ListResult:
    """The first rows and the count, before the whole id list: an index read of a few rows,
    so a million-image project shows its list at once (only for the unfiltered list, where
    the count is cheap)."""
    ids = project.image_ids(query, limit=FIRST_ROWS)
    order = np.argsort(ids, kind="stable")
    head = ids.tolist()
    shown = dict.fromkeys(head, 0)
    shown.update(project.proposals_at_or_above(head, threshold))
    return ListResult(generation, query, ids, ids[order], order, project.count_images(),
                      project.images_by_id(head), shown, threshold, complete=False)  # fmt: skip


def run_query(project, generation: int, query: ImageQuery, threshold: float,
              total: int | None = None, first_rows: int = FIRST_ROWS) -> ListResult:  # fmt: skip
    """``total``: the project's image count when known (no count query then)."""
    ids = project.image_ids(query)
    order = np.argsort(ids, kind="stable")
    if query.is_everything:
        total = len(ids)
    elif total is None:
        total = project.count_images()
    head = ids[:first_rows].tolist()
    shown = dict.fromkeys(head, 0)
    shown.update(project.proposals_at_or_above(head, threshold))
    return ListResult(generation, query, ids, ids[order], order, total,
                      project.images_by_id(head), shown, threshold)  # fmt: skip


class QueryRunner(QObject):
    """One thread; ``request`` replaces any request not started yet (typing fast runs one query
    for the last keystroke). ``result_ready(ListResult)`` arrives on the GUI thread."""

    result_ready = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cond = threading.Condition()
        self._request: tuple | None = None
        self._done: ListResult | None = None
        self._running = 0  # generation being run
        self._stopped = False
        self.queries_run = 0
        self._thread: threading.Thread | None = None

    def request(self, project, generation: int, query: ImageQuery, threshold: float = 0.0,
                total: int | None = None) -> None:  # fmt: skip
        with self._cond:
            if self._thread is None:  # started on first use, again after close()
                self._stopped = False
                self._thread = threading.Thread(target=self._run, name="list-queries", daemon=True)
                self._thread.start()
            self._request = (project, generation, query, threshold, total)
            self._cond.notify_all()

    def wait_for(self, generation: int, timeout: float = 120.0) -> ListResult | None:
        """Block until the result of ``generation`` (or a newer one) is computed."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._stopped or (self._done is not None and self._done.generation >= generation),
                timeout,
            )
            return self._done

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._request = None
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopped or self._request is not None)
                if self._stopped:
                    return
                (project, generation, query, threshold, total), self._request = self._request, None
            try:
                if query.is_everything and total is None:  # opening: show the top at once
                    self.result_ready.emit(run_head(project, generation, query, threshold))
                result = run_query(project, generation, query, threshold, total)
            except (SirstError, OSError) as exc:
                empty = np.empty(0, np.int64)
                result = ListResult(generation, query, empty, empty, empty, 0, [], {}, threshold,
                                    str(exc))
            with self._cond:
                self.queries_run += 1
                self._done = result
                self._cond.notify_all()
            self.result_ready.emit(result)


class FileChecker(QObject):
    """Stats each image's file once per session: ids asked for (rows on screen) first, then
    every image in id order. ``checked(missing ids, present ids)`` per batch; ``pass_done``
    when every image was checked."""

    checked = Signal(object, object)
    pass_done = Signal()
    BATCH = 500
    # The full pass gives way: it rests as long as each batch took (stat loops hold the GIL
    # between calls, and the list's own query and the GUI thread come first).
    REST = 1.0

    def __init__(self, project, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._project = project
        self._full_pass = False  # start_full_pass(): once the list is shown
        self._cond = threading.Condition()
        self._wanted: OrderedDict[int, None] = OrderedDict()
        self._seen: set[int] = set()
        self._stopped = False
        self.done = False
        self._thread = threading.Thread(target=self._run, name="file-checks", daemon=True)
        self._thread.start()

    def prioritize(self, ids) -> None:
        with self._cond:
            for i in ids:
                if int(i) not in self._seen:
                    self._wanted[int(i)] = None
            self._cond.notify_all()

    def start_full_pass(self) -> None:
        with self._cond:
            self._full_pass = True
            self._cond.notify_all()

    def forget(self, image_id: int) -> None:
        """Check this image again (its file was found missing, or back, by someone else)."""
        with self._cond:
            self._seen.discard(int(image_id))

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=10)

    def _next_wanted(self) -> list[int]:
        out = []
        while self._wanted and len(out) < self.BATCH:
            i, _ = self._wanted.popitem(last=False)
            if i not in self._seen:
                out.append(i)
        return out

    def _run(self) -> None:
        after = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopped or self._wanted or
                                    (self._full_pass and not self.done))  # fmt: skip
                if self._stopped:
                    return
                wanted = self._next_wanted()
            started = time.perf_counter()
            try:
                if wanted:
                    rows = self._project.image_paths(wanted)
                else:
                    rows = self._project.image_paths(after=after, limit=self.BATCH)
                    if not rows:
                        self.done = True
                        self.pass_done.emit()
                        continue
                    after = rows[-1][0]
                with self._cond:
                    rows = [r for r in rows if r[0] not in self._seen]
                missing = self._project.missing_paths(rows)
            except (SirstError, OSError) as exc:  # a closed or unreachable project: stop quietly
                log.info("file checks stopped: %s", exc)
                return
            with self._cond:
                self._seen.update(i for i, _ in rows)
            gone = set(missing)
            self.checked.emit(missing, [i for i, _ in rows if i not in gone])
            if not wanted:
                time.sleep(max(0.002, self.REST * (time.perf_counter() - started)))
