"""Storage of a project: ORM tables, mask blobs, rows <-> values, and the row-level helpers of a
write (the image row locked, the change logged); the connection set-up is core/store/engine.py.

Only the store (core/store/) uses this module; ORM rows never leave it (the rest of the app sees
the plain dataclasses of ``core/domain.py``). Why SQLite + PNG blobs: see docs/adr/0001-project-storage.md.
The same tables live on a PostgreSQL server for team projects (ADR 0008): one schema, one
migration path, dialect-specific only where the engines differ (schema version bookkeeping,
write locks).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    Delete,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Select,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from core import maskcodec
from core.domain import (
    ImageInfo,
    ModelVersion,
    ReviewStatus,
    Source,
    Split,
    Target,
    TargetMask,
    TargetState,
)
from core.errors import DamagedMask, ProjectError
from core.natural_order import natural_key

SCHEMA_VERSION = 7  # v6: the list's natural sort key; v7: the review queue's tables
# PRAGMA application_id: tells our databases apart from any other SQLite file ("SIRS").
APPLICATION_ID = 0x53495253


# The v6 indexes of the image list (name -> columns): natural order, and natural order within one
# status or split (a filtered list reads its rows in order from the index, no sort step).
SORT_INDEXES: dict[str, tuple[str, ...]] = {
    "ix_images_sort": ("sort_key", "id"),
    "ix_images_status_sort": ("status", "sort_key", "id"),
    "ix_images_split_sort": ("split", "sort_key", "id"),
}


class Base(DeclarativeBase):
    pass


class ImageRow(Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    path: Mapped[str] = mapped_column(String)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bit_depth: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String)
    split: Mapped[str] = mapped_column(String, default="unassigned")
    status: Mapped[str] = mapped_column(String, default="new")
    note: Mapped[str] = mapped_column(Text, default="")
    # Loaded only by annotation(); deferred so that listing 10k images never reads blobs.
    target_mask_extra: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created: Mapped[str] = mapped_column(String)
    # v4 (teams, ADR 0008): bumped by every committed change of the image or its labels, the
    # basis of optimistic concurrency and of live refresh; who changed it last; who reviewed it;
    # who holds it (claimed or assigned).
    version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    edited_by: Mapped[str | None] = mapped_column(String)
    edited_at: Mapped[str | None] = mapped_column(String)
    reviewed_by: Mapped[str | None] = mapped_column(String)
    reviewed_at: Mapped[str | None] = mapped_column(String)
    assignee: Mapped[str | None] = mapped_column(String)
    # v5: the sensor pixels the latest pre-annotation repaired (core.edits.BadPixels bytes: int32
    # (x, y) pairs; NULL = not recorded). Deferred: listing images reads only its length.
    bad_pixels: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # v6: core.natural_order.natural_key(name), what the image list sorts by ("Enhance-2" before
    # "Enhance-11"); compared bytewise on both engines ("C" collation on PostgreSQL).
    sort_key: Mapped[str] = mapped_column(
        String().with_variant(String(collation="C"), "postgresql"),
        default=lambda ctx: natural_key(ctx.get_current_parameters()["name"]),
    )

    __table_args__ = (
        Index("ix_images_split_status", "split", "status"),
        *(Index(name, *cols) for name, cols in SORT_INDEXES.items()),
    )


class TargetRow(Base):
    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    px: Mapped[float | None] = mapped_column(Float)
    py: Mapped[float | None] = mapped_column(Float)
    x0: Mapped[float | None] = mapped_column(Float)
    y0: Mapped[float | None] = mapped_column(Float)
    x1: Mapped[float | None] = mapped_column(Float)
    y1: Mapped[float | None] = mapped_column(Float)
    mask_x0: Mapped[int | None] = mapped_column(Integer)
    mask_y0: Mapped[int | None] = mapped_column(Integer)
    mask_png: Mapped[bytes | None] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String, default="manual")
    score: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String, default="accepted")
    edited_by: Mapped[str | None] = mapped_column(String)  # v4: who made this label last
    edited_at: Mapped[str | None] = mapped_column(String)

    # (image_id, state) serves both "targets of an image" and the per-image count aggregate.
    # AUTOINCREMENT: an id is never handed out twice, so an undo step that names a deleted
    # target can never reach a newer one that took its rowid (ADR 0004).
    __table_args__ = (
        Index("ix_targets_image_state", "image_id", "state"),
        {"sqlite_autoincrement": True},
    )


class ModelVersionRow(Base):
    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    path: Mapped[str] = mapped_column(String)
    created: Mapped[str] = mapped_column(String)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    preset: Mapped[str] = mapped_column(String, default="default")
    active: Mapped[bool] = mapped_column(Boolean, default=False)


class RegionRow(Base):
    """A labelled image region (class 'sky' today; the class column leaves room for more)."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    cls: Mapped[str] = mapped_column("class", String, default="sky")
    state: Mapped[str] = mapped_column(String, default="accepted")
    source: Mapped[str] = mapped_column(String, default="manual")
    mask_png: Mapped[bytes] = mapped_column(LargeBinary)
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )

    # One region per (image, class, state): an accepted sky and at most one proposed sky.
    __table_args__ = (
        UniqueConstraint("image_id", "class", "state", name="uq_region_kind"),
        {"sqlite_autoincrement": True},  # never-reused ids, like targets (ADR 0004)
    )


class EditLogRow(Base):
    """v4: one row per committed change of an image (who, when, what, the version it made).
    Also the change feed that polling clients read (ids only grow)."""

    __tablename__ = "edit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String)
    at: Mapped[str] = mapped_column(String)
    action: Mapped[str] = mapped_column(String)

    __table_args__ = ({"sqlite_autoincrement": True},)


class ImageAttentionRow(Base):
    """v7 (issue 20): how much an image needs a human (core.attention), written when
    it is pre-annotated or ranked; the image list sorts by ``score`` in SQL (index)."""

    __tablename__ = "image_attention"

    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    sky_uncertain: Mapped[float | None] = mapped_column(Float)  # share of the frame; NULL: unknown
    operating: Mapped[float | None] = mapped_column(Float)  # the model's operating threshold
    updated: Mapped[str | None] = mapped_column(String)
    # The model's detections at pre-annotation, before proposals duplicating accepted labels were
    # dropped (core.duplicates): float32 [K, 5] (x0, y0, x1, y1, score). The evidence that the
    # model agrees with a label, which the stored proposals no longer hold.
    support: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    __table_args__ = (Index("ix_image_attention_score", "score"),)


class LabelVerdictRow(Base):
    """v7: the annotator's answer to a label the model disputes (the noise
    finder): kept or marked for a second look, so that it is not shown again."""

    __tablename__ = "label_verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String)  # core.attention.Dispute.key
    verdict: Mapped[str] = mapped_column(String)  # core.attention.Verdict
    author: Mapped[str | None] = mapped_column(String)
    at: Mapped[str | None] = mapped_column(String)

    __table_args__ = (UniqueConstraint("image_id", "key", name="uq_label_verdict"),)


# ---------------------------------------------------------------------------------------------
# Masks as PNG blobs


def encode_mask(mask: np.ndarray) -> bytes:
    """A mask as the project stores it (core.maskcodec's PNG 0/255); ProjectError when it
    cannot be (the codec's ValueError, said in the store's terms)."""
    try:
        return maskcodec.encode_png(mask)
    except ValueError as exc:
        raise ProjectError(str(exc)) from None


def decode_mask(blob: bytes) -> np.ndarray:
    """A stored mask blob -> fresh bool [H, W]; DamagedMask (a ProjectError) when it is damaged."""
    if (mask := maskcodec.decode_png(blob)) is None:
        raise DamagedMask()
    return mask


# ---------------------------------------------------------------------------------------------
# The kind of database (engine set-up: core/store/engine.py)


# NOTIFY channel of team projects on PostgreSQL: payload "image_id:version" (core/store/live.py).
CHANNEL = "sirst_changes"


def is_server(engine: Engine | Connection) -> bool:
    return engine.dialect.name != "sqlite"


# ---------------------------------------------------------------------------------------------
# Rows <-> domain dataclasses (ORM objects never leave core/)


def target_from_row(row: TargetRow) -> Target:
    """A fresh Target (own mask array) from a stored row."""
    mask = None
    if row.mask_png is not None:
        mask = TargetMask(int(row.mask_x0 or 0), int(row.mask_y0 or 0), decode_mask(row.mask_png))
    box = None
    if row.x0 is not None:
        box = (row.x0, row.y0, row.x1, row.y1)
        if None not in box:
            # Another tool may store a box by two opposite corners (x0 > x1 or y0 > y1): it is
            # the same rectangle, read with its corners in order (README "Exports").
            (x0, x1), (y0, y1) = sorted((row.x0, row.x1)), sorted((row.y0, row.y1))
            box = (x0, y0, x1, y1)
    try:
        return Target(
            point=(row.px, row.py) if row.px is not None and row.py is not None else None,
            box=box,
            mask=mask,
            source=enum_or(Source, row.source, Source.MANUAL),
            score=row.score,
            state=enum_or(TargetState, row.state, TargetState.PROPOSAL),  # unknown: never a label
            id=row.id,
        )
    except (ValueError, TypeError) as e:  # an empty box, a NaN...: written by another program
        raise ProjectError(f"stored target {row.id} is unusable ({e}); delete it or fix its row "
                           "in the targets table") from e


def fill_target_row(row: TargetRow, target: Target) -> TargetRow:
    """Copy every field of ``target`` except its id onto ``row``."""
    row.px, row.py = target.point if target.point is not None else (None, None)
    row.x0, row.y0, row.x1, row.y1 = target.box if target.box is not None else (None,) * 4
    if target.mask is not None:
        row.mask_x0, row.mask_y0 = int(target.mask.x0), int(target.mask.y0)
        row.mask_png = encode_mask(target.mask.pixels)
    else:
        row.mask_x0 = row.mask_y0 = row.mask_png = None
    row.source = Source(target.source).value
    row.score = None if target.score is None else float(target.score)
    row.state = TargetState(target.state).value
    return row


def model_version_from_row(row: ModelVersionRow) -> ModelVersion:
    return ModelVersion(
        id=row.id,
        name=row.name,
        path=row.path,
        created=row.created,
        metrics=dict(row.metrics or {}),
        preset=row.preset,
        active=bool(row.active),
    )


# ---------------------------------------------------------------------------------------------
# Query helpers used by core.store.project (each runs inside the caller's Session)

SKY = "sky"
_IN_CHUNK = 900  # stay below SQLite's bound-parameter limit in IN (...) lists
# Columns of ImageRow that map one-to-one onto ImageInfo fields.
INFO_COLS = (
    "id", "name", "path", "width", "height", "bit_depth", "channels", "sha256", "split", "status",
    "note", "version", "assignee", "edited_by", "reviewed_by",
)  # fmt: skip


def _count_targets(state: TargetState):
    return (
        select(func.count())
        .where(TargetRow.image_id == ImageRow.id, TargetRow.state == state.value)
        .correlate(ImageRow)
        .scalar_subquery()
    )


def info_select() -> Select:
    """Image columns (never blobs) + accepted/proposal target counts, in one query.

    Correlated counts on the covering index (image_id, state) beat a GROUP BY over all targets:
    the cost follows the images selected (a single image: ~4 ms instead of ~40 ms at 10k).
    """
    cols = [getattr(ImageRow, c) for c in INFO_COLS]
    counts = (_count_targets(TargetState.ACCEPTED), _count_targets(TargetState.PROPOSAL))
    # The blob's length, not the blob (8 bytes per pixel; NULL stays NULL): both engines read it
    # without loading the content.
    n_bad = func.length(ImageRow.bad_pixels)
    return select(*cols, *counts, n_bad).order_by(ImageRow.id)


def enum_or(cls, value: object, default):
    """``cls(value)``, or ``default`` for a value written by a newer version (read tolerantly:
    a project must stay readable by the version that made it and by older ones)."""
    try:
        return cls(value)
    except ValueError:
        return default


def infos(session: Session, stmt: Select) -> list[ImageInfo]:
    """Run an ``info_select()`` statement; ``missing`` is left False."""
    out = []
    for row in session.execute(stmt):
        *base, n_acc, n_prop, n_bad = row
        info = ImageInfo(**dict(zip(INFO_COLS, base, strict=True)))
        info.n_bad_pixels = None if n_bad is None else int(n_bad) // 8
        info.split = enum_or(Split, info.split, Split.UNASSIGNED)
        info.status = enum_or(ReviewStatus, info.status, ReviewStatus.NEW)
        info.n_targets, info.n_proposals = int(n_acc), int(n_prop)
        out.append(info)
    return out


def names_present(session: Session, names: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(names), _IN_CHUNK):
        chunk = names[i : i + _IN_CHUNK]
        found.update(session.scalars(select(ImageRow.name).where(ImageRow.name.in_(chunk))))
    return found


def check_shape(mask: np.ndarray | None, height: int, width: int, what: str) -> None:
    """ProjectError unless ``mask`` is None or exactly image-sized."""
    if mask is None:
        return
    shape = np.shape(mask)
    if shape != (height, width):
        raise ProjectError(
            f"{what} has shape {shape} but the image is {height}x{width} (rows x cols); "
            "pass a mask of the image's size"
        )


def sky_region(
    image_id: int,
    mask: np.ndarray,
    state: TargetState,
    source: Source,
    model_version_id: int | None = None,
) -> RegionRow:
    return RegionRow(
        image_id=image_id, cls=SKY, state=TargetState(state).value, source=Source(source).value,
        mask_png=encode_mask(mask), model_version_id=model_version_id,
    )  # fmt: skip


def _sky_where(image_id: int, state: TargetState) -> tuple:
    return (
        RegionRow.image_id == image_id,
        RegionRow.cls == SKY,
        RegionRow.state == TargetState(state).value,
    )


def delete_sky(image_id: int, state: TargetState) -> Delete:
    return delete(RegionRow).where(*_sky_where(image_id, state))


def sky_mask(session: Session, image_id: int, state: TargetState) -> np.ndarray | None:
    blob = session.scalar(select(RegionRow.mask_png).where(*_sky_where(image_id, state)))
    return decode_mask(blob) if blob is not None else None


def sky_row(session: Session, image_id: int, state: TargetState) -> RegionRow | None:
    return session.scalars(select(RegionRow).where(*_sky_where(image_id, state))).first()


def target_rows(s: Session, image_id: int, states: list[str] | None = None) -> list[TargetRow]:
    stmt = select(TargetRow).where(TargetRow.image_id == image_id).order_by(TargetRow.id)
    if states is not None:
        stmt = stmt.where(TargetRow.state.in_(states))
    return list(s.scalars(stmt).all())


# ---------------------------------------------------------------------------------------------
# The team bookkeeping of every write (ADR 0008)


def now() -> str:
    """The time stamp of a change (UTC, ms)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def locked_image(s: Session, image_id: int) -> ImageRow:
    """The image row, locked until commit on a server (SELECT ... FOR UPDATE), so that two
    writers of one image take turns and a version is never handed out twice. SQLite writers
    already hold the database lock (BEGIN IMMEDIATE)."""
    row = s.get(ImageRow, int(image_id), with_for_update=is_server(s.get_bind()))
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
    if is_server(s.get_bind()):
        s.execute(
            text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": f"{img.id}:{img.version}:{author}"}
        )
    return img.version
