"""Who holds an image, and the change feed: claims and the edit-log cursor (ADR 0008).

Used by core.team_ops inside its transactions. The bookkeeping of a change itself (the image's
new version, its edit-log row, NOTIFY on a server) is part of the one label write,
``core.edit_store.commit``, and of ``core.edit_store.touch``.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import EditLogRow, ImageRow
from core.errors import EditConflict


def claim(s: Session, img: ImageRow, user: str, force: bool) -> bool:
    """Give ``img`` to ``user``; without ``force`` only when nobody else holds it. Returns
    whether anything changed."""
    if img.assignee == user:
        return False
    if img.assignee is not None and not force:
        raise EditConflict(img.id, img.name, f"it is held by {img.assignee}", img.assignee)
    img.assignee = user
    return True


def latest_log_id(s: Session) -> int:
    return int(s.scalar(select(func.max(EditLogRow.id))) or 0)


def changes_since(s: Session, log_id: int, limit: int = 1000) -> list[tuple[int, int, int, str]]:
    """(log id, image id, version, author) of the changes committed after ``log_id``."""
    stmt = (
        select(EditLogRow.id, EditLogRow.image_id, EditLogRow.version, EditLogRow.author)
        .where(EditLogRow.id > int(log_id))
        .order_by(EditLogRow.id)
        .limit(limit)
    )
    return [tuple(r) for r in s.execute(stmt)]
