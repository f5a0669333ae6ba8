"""The one label write: ``commit`` applies an AnnotationEdit inside the caller's transaction,
with the team bookkeeping (ADR 0008) in the same place: the image row locked, the conflict check,
the rows written with their author, the image's new version and its edit-log row (+ NOTIFY on a
server). ``Project.apply_edit`` and ``Project.propose`` end here; nothing else writes labels.

Every target an edit updates or deletes must exist and belong to the edit's image; anything else
is refused with a ProjectError before the transaction commits, so a refused edit changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.domain import ReviewStatus, Source, Target, TargetState
from core.duplicates import split_duplicates
from core.edits import (
    FIELD_TYPES,
    AnnotationEdit,
    BadPixelChange,
    BadPixels,
    FieldChange,
    ImageField,
    Region,
    RegionChange,
    TargetChange,
)
from core.errors import EditConflict, ProjectError
from core.store import db
from core.store.db import SKY, ImageRow, ModelVersionRow, RegionRow, TargetRow


def owned_target_row(s: Session, image_id: int, target_id: int) -> TargetRow:
    """The row of ``target_id``; ProjectError unless it exists and belongs to ``image_id``."""
    row = s.get(TargetRow, int(target_id))
    if row is None:
        raise ProjectError(
            f"target {target_id} of image {image_id} no longer exists (it was deleted meanwhile); "
            "nothing was changed"
        )
    if row.image_id != image_id:
        raise ProjectError(
            f"target {target_id} belongs to image {row.image_id}, not to image {image_id}; "
            "an edit may only change its own image, nothing was changed"
        )
    return row


def commit(
    s: Session, edit: AnnotationEdit, author: str, expected_version: int | None = None,
    verify: bool = True, img: ImageRow | None = None,
) -> AnnotationEdit:  # fmt: skip
    """Write ``edit`` inside ``s`` (the caller's write transaction); returns it with the ids its
    new targets got and the image's new ``version``, which is what undo and redo replay.

    Conflicts are per object (ADR 0008, "granularity"): with ``verify`` the edit is refused only
    when a value it replaces (a target, a sky, a field) changed meanwhile, so two people editing
    different targets of one image both succeed, and an undo that is stale on the image's version
    only goes through. Without ``verify`` (a blind write) ``expected_version`` is the guard.
    ``img``: the image row when the caller has locked it already (``locked_image``)."""
    img = db.locked_image(s, edit.image_id) if img is None else img
    if verify:
        verify_before(s, img, edit)
    else:
        check_version(img, expected_version)
    resolved = _write(s, img, edit, author)
    version = db.touch(s, img, author, edit.text, sets_reviewed(edit))
    return replace(resolved, version=version)


def _write(s: Session, img: ImageRow, edit: AnnotationEdit, author: str) -> AnnotationEdit:
    """Write ``edit`` onto image ``img``; returns it with the ids the new targets got.
    ``author`` is recorded on every target it writes (ADR 0008)."""
    if edit.image_id != img.id:
        raise ProjectError(f"an edit of image {edit.image_id} cannot be applied to image {img.id}")
    loaded = _load_targets(s, edit.targets)  # held: the session only keeps weak references
    applied = [(c, _apply_target(s, img.id, c, author)) for c in edit.targets]
    s.flush()  # once for the whole edit: the new rows get their ids (a pre-annotation adds dozens)
    resolved = [c if row is None else TargetChange(None, replace(c.after, id=row.id))
                for c, row in applied]  # fmt: skip
    del loaded
    for change in edit.regions:
        _apply_region(s, img, change)
    for f in edit.fields:
        name = ImageField(f.name)
        setattr(img, name.value, str(FIELD_TYPES[name](f.after)))
    if edit.bad_pixels is not None:
        after = edit.bad_pixels.after
        img.bad_pixels = after.blob if after is not None else None
    return replace(edit, targets=tuple(resolved))


LOAD_CHUNK = 500  # ids per SELECT ... IN (...), well below every backend's parameter limit


def _load_targets(s: Session, changes: Iterable[TargetChange]) -> list[TargetRow]:
    """One SELECT for the rows an edit updates or deletes (per 500), instead of one per row:
    ``s.get`` then finds them in the session while the caller holds the returned rows."""
    ids = sorted({int(c.before.id) for c in changes if c.before is not None and c.before.id is not None})
    rows: list[TargetRow] = []
    for k in range(0, len(ids), LOAD_CHUNK):
        rows += s.scalars(select(TargetRow).where(TargetRow.id.in_(ids[k : k + LOAD_CHUNK]))).all()
    return rows


def _apply_target(s: Session, image_id: int, c: TargetChange, author: str) -> TargetRow | None:
    """Apply one change; the new row for an added target (its id comes with the edit's flush)."""
    if c.after is None:
        s.delete(owned_target_row(s, image_id, c.before.id))
        return None
    if c.before is not None:
        row = db.fill_target_row(owned_target_row(s, image_id, c.before.id), c.after)
        _stamp(row, author)
        return None
    row = _stamp(db.fill_target_row(TargetRow(image_id=image_id), c.after), author)
    if c.after.id is not None:
        # A restore (undo of a delete, redo of an add): ids are never reused (AUTOINCREMENT), so
        # the id is free unless the same edit is applied twice.
        if s.get(TargetRow, int(c.after.id)) is not None:
            raise ProjectError(f"cannot restore target {c.after.id}: it exists already")
        row.id = int(c.after.id)
    s.add(row)
    return row


def _stamp(row: TargetRow, author: str) -> TargetRow:
    row.edited_by, row.edited_at = author, db.now()
    return row


def _apply_region(s: Session, img: ImageRow, change: RegionChange) -> None:
    state = TargetState(change.state)
    s.execute(db.delete_sky(img.id, state))
    region = change.after
    if region is None:
        return
    if region._mask is not None:  # shape known without decoding: check it
        db.check_shape(region._mask, img.height, img.width, f"{state.value} sky of {img.name!r}")
    mv = region.model_version_id
    if mv is not None and s.get(ModelVersionRow, mv) is None:
        region = replace(region, model_version_id=None)  # that version was removed since
    s.add(region_row(img.id, state, region))


def region_row(image_id: int, state: TargetState, region) -> RegionRow:
    """The sky row holding ``region`` (a core.edits.Region: PNG bytes already encoded)."""
    return RegionRow(
        image_id=image_id, cls=SKY, state=TargetState(state).value,
        source=Source(region.source).value, mask_png=region.png,
        model_version_id=region.model_version_id,
    )  # fmt: skip


def region_from_row(row: RegionRow) -> Region:
    """The core.edits.Region stored in ``row`` (not decoded: the PNG is the value)."""
    return Region(bytes(row.mask_png), Source(row.source), row.model_version_id)


def current_region(s: Session, image_id: int, state: TargetState) -> Region | None:
    row = db.sky_row(s, image_id, state)
    return region_from_row(row) if row is not None else None


def check_pixels(coords: np.ndarray | None, height: int, width: int, name: str) -> None:
    """ProjectError unless ``coords`` is None or (x, y) rows inside the image."""
    if coords is None:
        return
    arr = np.asarray(coords)
    if arr.size == 0:
        return
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ProjectError(
            f"repaired pixels of image {name!r} must be integer (x, y) rows, got {arr.dtype} "
            f"{arr.shape}; nothing was stored"
        )
    xs, ys = arr[:, 0], arr[:, 1]
    if xs.min() < 0 or ys.min() < 0 or xs.max() >= width or ys.max() >= height:
        raise ProjectError(
            f"repaired pixels of image {name!r} lie outside its {width}x{height} pixels; "
            "nothing was stored"
        )


def current_bad_pixels(img: ImageRow) -> BadPixels | None:
    """The repaired pixels stored with ``img`` (None: none recorded)."""
    blob = img.bad_pixels
    return BadPixels(bytes(blob)) if blob is not None else None


def proposals_edit(
    s: Session,
    img: ImageRow,
    targets: Iterable[Target],
    sky: np.ndarray | None,
    model_version_id: int | None,
    bad_pixels: np.ndarray | None = None,
) -> AnnotationEdit:
    """The edit a pre-annotation result makes: old proposals (targets and sky) out, new ones in,
    the pixels its bad-pixel filter repaired recorded (``bad_pixels`` None: the filter was off,
    so none are), status NEW -> PRE_ANNOTATED. Undoing it brings the previous proposals and
    repaired pixels back. Proposals that duplicate an accepted target (core.duplicates) are not
    stored: re-pre-annotating a reviewed image proposes only what is new."""
    proposal = TargetState.PROPOSAL
    old = [db.target_from_row(r) for r in db.target_rows(s, img.id, [proposal.value])]
    accepted = [db.target_from_row(r) for r in db.target_rows(s, img.id, [TargetState.ACCEPTED.value])]
    new, _same = split_duplicates(list(targets), accepted, among_themselves=False)
    changes = [TargetChange(t, None) for t in old]
    changes += [TargetChange(None, replace(t, id=None, state=proposal)) for t in new]
    regions = ()
    before = current_region(s, img.id, proposal)
    after = Region.from_mask(sky, Source.MODEL, model_version_id) if sky is not None else None
    if before is not None or after is not None:
        regions = (RegionChange(proposal, before, after),)
    fields = ()
    if img.status == ReviewStatus.NEW.value:
        fields = (FieldChange(ImageField.STATUS, ReviewStatus.NEW, ReviewStatus.PRE_ANNOTATED),)
    old_pixels = current_bad_pixels(img)
    new_pixels = BadPixels.from_coords(bad_pixels) if bad_pixels is not None else None
    pixels = BadPixelChange(old_pixels, new_pixels) if old_pixels != new_pixels else None
    return AnnotationEdit(img.id, "Pre-annotate", tuple(changes), regions, fields, pixels)


# ---------------------------------------------------------------------------------------------
# Conflict checks (ADR 0008)


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
