"""The team side of a project (ADR 0008): who holds an image, who changed what, and the
change cursor that live refresh polls. ``TeamOps`` is a mixin of ``core.store.project.Project``:
it uses only the project's ``_session``, ``get_image`` and ``user``. The bookkeeping of a change
itself (new version, edit-log row, NOTIFY) is ``core.store.db.touch``."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core.domain import ImageInfo
from core.errors import EditConflict, ProjectError
from core.store import db
from core.store.db import EditLogRow, ImageRow
from core.store.engine import APP_NAME


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


class TeamOps:
    def stalled_savers(self) -> list[str]:
        """Users whose program holds a transaction open on the server without working in it
        (frozen or offline: their lock is what makes a save wait, issue 22); [] on SQLite,
        which cannot tell who holds its write lock."""
        if not self.is_server:
            return []
        stmt = text(
            "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%' "
            "AND application_name LIKE :app"
        )
        with self._session() as s:
            names = s.scalars(stmt, {"app": f"{APP_NAME}:%"}).all()
        return sorted({n.split(":", 1)[1] for n in names})

    def image_version(self, image_id: int) -> int:
        return self.get_image(image_id).version

    def claim(self, image_id: int, force: bool = False) -> ImageInfo:
        """This user takes the image; EditConflict when someone else holds it (unless ``force``)."""
        return self.assign([image_id], self.user, force=force)[0]

    def assign(self, image_ids: Iterable[int], user: str | None, force: bool = True) -> list[ImageInfo]:
        """Give images to ``user`` (None: release them); all or none. A reviewer assigns
        (``force``), an annotator claims (refused when another holds one of them)."""
        ids = [int(i) for i in image_ids]
        with self._session(write=True) as s:
            for i in ids:
                img = db.locked_image(s, i)
                if user is None:
                    changed = img.assignee is not None
                    img.assignee = None
                else:
                    changed = claim(s, img, str(user), force)
                if changed:
                    what = f"Assign to {user}" if user else "Release"
                    db.touch(s, img, self.user, what)
        return [self.get_image(i) for i in ids]

    def release(self, image_id: int) -> ImageInfo:
        """Give the image back (only its holder or a forced assign may take it from another)."""
        info = self.get_image(image_id)
        if info.assignee not in (None, self.user):
            raise ProjectError(f"image {info.name!r} is held by {info.assignee}, not by you")
        return self.assign([image_id], None)[0]

    def annotators(self) -> list[str]:
        """Everyone who holds an image or has changed one (for the reviewer's filter)."""
        with self._session() as s:
            held = s.scalars(select(ImageRow.assignee).where(ImageRow.assignee.is_not(None)))
            names = set(held) | set(s.scalars(select(db.EditLogRow.author).distinct()))
        return sorted(names)

    def latest_change(self) -> int:
        """The newest edit-log id (a cursor for ``changes_since``)."""
        with self._session() as s:
            return latest_log_id(s)

    def changes_since(self, log_id: int) -> list[tuple[int, int, int, str]]:
        """(log id, image id, version, author) of every change committed after ``log_id``."""
        with self._session() as s:
            return changes_since(s, log_id)

    def history(self, image_id: int) -> list[tuple[int, str, str, str]]:
        """(version, author, time, action) of every change of an image, oldest first."""
        with self._session() as s:
            stmt = (select(db.EditLogRow.version, db.EditLogRow.author, db.EditLogRow.at,
                           db.EditLogRow.action)
                    .where(db.EditLogRow.image_id == image_id).order_by(db.EditLogRow.id))  # fmt: skip
            return [tuple(r) for r in s.execute(stmt)]
