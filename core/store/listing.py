"""The image list as queries (issue 22: a million images feel like a thousand).

A mixin of ``core.store.project.Project`` (it uses ``_session`` and ``resolve_path``): the list asks for
the ids of one filter in one order (``image_ids``, a numpy array: 8 bytes per row), then for the
rows it shows, a window at a time (``images_by_id``). Filtering, sorting and counting happen in
the database on the v6 indexes (``core.store.db.SORT_INDEXES``); file checks stat each path once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from itertools import chain

import numpy as np
from sqlalchemy import Select, func, select

from core.domain import ImageInfo, ReviewStatus, TargetState
from core.image_query import ATTENTION, SORTS, ImageQuery
from core.store import db
from core.store.db import ImageAttentionRow, ImageRow, TargetRow

_IN_CHUNK = 900  # below SQLite's bound-parameter limit


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filtered(stmt: Select, query: ImageQuery) -> Select:
    """``stmt`` with the WHERE clauses of ``query`` (no order)."""
    if query.status is not None:
        stmt = stmt.where(ImageRow.status == ReviewStatus(query.status).value)
    if query.split is not None:
        stmt = stmt.where(ImageRow.split == str(query.split))
    if query.holder is not None:
        holder = query.holder[0]
        stmt = stmt.where(ImageRow.assignee.is_(None) if not holder else ImageRow.assignee == holder)
    if query.search:
        stmt = stmt.where(ImageRow.name.ilike(f"%{escape_like(query.search)}%", escape="\\"))
    return stmt


def ordered(stmt: Select, query: ImageQuery, sqlite: bool = False) -> Select:
    """``stmt`` in the order of ``query.sort`` (the id last: a total, stable order).

    With a search on SQLite the order columns are wrapped (``col || ''``, same order): else its
    planner walks the order index and reads every row at random to test the name (11 s at 1M),
    where a scan of the table and a sort of the few matches take a fraction of that."""

    def col(name: str):
        if name == ATTENTION:  # the review queue's score, joined (unranked images: -1, last)
            return func.coalesce(ImageAttentionRow.score, -1.0)
        c = getattr(ImageRow, name)
        return c.op("||")("") if sqlite and query.search and name != "id" else c

    if any(c == ATTENTION for c, _ in SORTS[query.sort].columns):
        stmt = stmt.outerjoin(ImageAttentionRow, ImageAttentionRow.image_id == ImageRow.id)
    cols = [col(c).desc() if desc else col(c) for c, desc in SORTS[query.sort].columns]
    last = ImageRow.id.desc() if any(d for _, d in SORTS[query.sort].columns) else ImageRow.id
    return stmt.order_by(*cols, last)


def fetch_ids(session, stmt: Select) -> np.ndarray:
    """The first column of ``stmt`` as int64, through the DBAPI cursor (no Row objects: a
    million ids in a fraction of a second)."""
    conn = session.connection()
    compiled = stmt.compile(dialect=conn.dialect)
    cursor = conn.connection.driver_connection.cursor()
    try:
        if conn.dialect.paramstyle == "qmark":
            cursor.execute(str(compiled), [compiled.params[k] for k in compiled.positiontup])
        else:
            cursor.execute(str(compiled), compiled.params)
        out = [np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=len(rows))
               for rows in iter(lambda: cursor.fetchmany(65536), [])]  # fmt: skip
    finally:
        cursor.close()
    return np.concatenate(out) if out else np.empty(0, np.int64)


class ImageListing:
    def image_ids(self, query: ImageQuery | None = None, limit: int | None = None) -> np.ndarray:
        """Ids of the images matching ``query``, in its order (int64 array); the first
        ``limit`` only when given."""
        query = query if query is not None else ImageQuery()
        with self._session() as s:
            sqlite = s.get_bind().dialect.name == "sqlite"
            stmt = ordered(filtered(select(ImageRow.id), query), query, sqlite)
            return fetch_ids(s, stmt if limit is None else stmt.limit(int(limit)))

    def count_images(self, query: ImageQuery | None = None) -> int:
        """How many images match ``query`` (all of them for None)."""
        stmt = select(func.count()).select_from(ImageRow)
        with self._session() as s:
            return int(s.scalar(filtered(stmt, query) if query is not None else stmt) or 0)

    def images_by_id(self, ids: Sequence[int]) -> list[ImageInfo]:
        """The listing rows (with counts) of ``ids``, in that order; unknown ids are left out."""
        ids = [int(i) for i in ids]
        found: dict[int, ImageInfo] = {}
        with self._session() as s:
            for k in range(0, len(ids), _IN_CHUNK):
                chunk = ids[k : k + _IN_CHUNK]
                for info in db.infos(s, db.info_select().where(ImageRow.id.in_(chunk))):
                    found[int(info.id)] = info
        return [found[i] for i in ids if i in found]

    def proposals_at_or_above(self, ids: Sequence[int], threshold: float) -> dict[int, int]:
        """{image id: proposals with score >= threshold} for ``ids`` (absent: none). A proposal
        without a score counts as 0."""
        out: dict[int, int] = {}
        ids = [int(i) for i in ids]
        score = func.coalesce(TargetRow.score, 0.0)
        with self._session() as s:
            for k in range(0, len(ids), _IN_CHUNK):
                stmt = (select(TargetRow.image_id, func.count())
                        .where(TargetRow.image_id.in_(ids[k : k + _IN_CHUNK]),
                               TargetRow.state == TargetState.PROPOSAL.value,
                               score >= float(threshold))
                        .group_by(TargetRow.image_id))  # fmt: skip
                out.update({int(i): int(n) for i, n in s.execute(stmt)})
        return out

    def unreviewed_ids(self, query: ImageQuery, user: str | None) -> np.ndarray:
        """Ids matching ``query`` that are not reviewed and held by nobody or ``user`` (what
        *Next unreviewed* may go to), unordered."""
        stmt = filtered(select(ImageRow.id), query).where(
            ImageRow.status != ReviewStatus.REVIEWED.value,
            ImageRow.assignee.is_(None) | (ImageRow.assignee == (user or "")),
        )
        with self._session() as s:
            return fetch_ids(s, stmt)

    def image_paths(self, ids: Iterable[int] | None = None, after: int = 0,
                    limit: int = 10_000) -> list[tuple[int, str]]:  # fmt: skip
        """(id, stored path) of ``ids``, or of the next ``limit`` images with id > ``after``."""
        with self._session() as s:
            if ids is None:
                stmt = (select(ImageRow.id, ImageRow.path).where(ImageRow.id > int(after))
                        .order_by(ImageRow.id).limit(int(limit)))  # fmt: skip
                return [(int(i), p) for i, p in s.execute(stmt)]
            ids = [int(i) for i in ids]
            out = []
            for k in range(0, len(ids), _IN_CHUNK):
                stmt = select(ImageRow.id, ImageRow.path).where(ImageRow.id.in_(ids[k : k + _IN_CHUNK]))
                out += [(int(i), p) for i, p in s.execute(stmt)]
            return out

    def missing_paths(self, rows: Iterable[tuple[int, str]]) -> list[int]:
        """Ids among (id, stored path) whose file is not here: one stat each."""
        root = os.fspath(self.root)
        to_local = self.path_map.to_local
        mapped = bool(self.path_map.pairs)  # no map: skip the per-path prefix search
        out = []
        for image_id, stored in rows:
            local = to_local(stored) if mapped else None
            path = local if local is not None else (stored if os.path.isabs(stored)
                                                    else os.path.join(root, stored))  # fmt: skip
            if not os.path.exists(path):
                out.append(image_id)
        return out

    def missing_ids(self, chunk: int = 20_000) -> list[int]:
        """Every image whose file is not at its resolved path (one stat per image)."""
        out: list[int] = []
        after = 0
        while rows := self.image_paths(after=after, limit=chunk):
            out += self.missing_paths(rows)
            after = rows[-1][0]
        return out
