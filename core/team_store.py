"""Who changed what, and when: image versions, the edit log, conflict checks, claims.

Used by core.project inside its write transactions (ADR 0008). Every committed change of an
image bumps ``images.version`` and appends an ``edit_log`` row naming the author; on a server the
same transaction NOTIFYs the change, delivered to listeners when it commits (core/live.py).
"""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core import db
from core.db import EditLogRow, ImageRow, TargetRow
from core.edit_store import current_bad_pixels, current_region, now
from core.edits import AnnotationEdit, ImageField
from core.errors import EditConflict, ProjectError
from core.types import ReviewStatus, TargetState


def locked_image(s: Session, image_id: int) -> ImageRow:
    """The image row, locked until commit on a server (SELECT ... FOR UPDATE), so that two
    writers of one image take turns and a version is never handed out twice. SQLite writers
    already hold the database lock (BEGIN IMMEDIATE)."""
    row = s.get(ImageRow, int(image_id), with_for_update=db.is_server(s.get_bind()))
    if row is None:
        raise ProjectError(f"no image with id {image_id} in this project; reload the image list")
    return row


def touch(s: Session, img: ImageRow, author: str, action: str, review: bool = False) -> int:
    """Record one committed change of ``img``: new version, who, when; returns the version."""
    at = now()
    img.version = int(img.version or 0) + 1
    img.edited_by, img.edited_at = author, at
    if review:
        img.reviewed_by, img.reviewed_at = author, at
    s.add(EditLogRow(image_id=img.id, version=img.version, author=author, at=at, action=action))
    if db.is_server(s.get_bind()):
        s.execute(
            text("SELECT pg_notify(:c, :p)"), {"c": db.CHANNEL, "p": f"{img.id}:{img.version}:{author}"}
        )
    return img.version


def check_version(img: ImageRow, expected: int | None) -> None:
    """EditConflict unless the image is still at the version the writer read."""
    if expected is not None and int(img.version or 0) != int(expected):
        raise EditConflict(
            img.id, img.name, f"you had version {expected}, it is now {img.version}", img.edited_by
        )


def verify_before(s: Session, img: ImageRow, edit: AnnotationEdit) -> None:
    """EditConflict unless every value the edit replaces is still what is stored.

    The version check alone refuses edits made on a stale document; this check also guards
    edits replayed from an undo history after the image was reloaded with someone else's
    change: they may only undo what is still theirs, never overwrite the newer value."""
    for c in edit.targets:
        if c.before is None:
            continue
        row = s.get(TargetRow, int(c.before.id))
        if row is None:  # ids are never reused: it existed, and someone deleted it meanwhile
            raise EditConflict(img.id, img.name, f"target {c.before.id} was deleted", img.edited_by)
        if row.image_id != img.id:
            continue  # edit_store refuses it with its own message (another image's target)
        if db.target_from_row(row) != c.before:
            raise EditConflict(
                img.id,
                img.name,
                f"target {c.before.id} was modified",
                row.edited_by or img.edited_by,
            )
    for r in edit.regions:
        stored = current_region(s, img.id, TargetState(r.state))
        if (stored.png if stored else None) != (r.before.png if r.before else None):
            raise EditConflict(
                img.id,
                img.name,
                f"the {TargetState(r.state).value} sky was modified",
                img.edited_by,
            )
    if edit.bad_pixels is not None:
        if current_bad_pixels(img) != edit.bad_pixels.before:
            raise EditConflict(img.id, img.name, "its repaired pixels were replaced", img.edited_by)
    for f in edit.fields:
        name = ImageField(f.name)
        if str(getattr(img, name.value)) != str(f.before):
            raise EditConflict(
                img.id,
                img.name,
                f"its {name.value} is now {getattr(img, name.value)!r}",
                img.edited_by,
            )


def sets_reviewed(edit: AnnotationEdit) -> bool:
    return any(
        ImageField(f.name) == ImageField.STATUS and str(f.after) == ReviewStatus.REVIEWED.value
        for f in edit.fields
    )


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
