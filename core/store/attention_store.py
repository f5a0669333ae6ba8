"""The review queue and the label-noise finder on a project's database (issue 20, docs/adr/0016-attention-and-label-noise.md).

A mixin of ``core.store.project.Project`` (it uses only ``_session`` and ``user``): the attention of an
image (core.attention) is stored in ``image_attention`` when it is pre-annotated or ranked, so a
list of any size sorts by it in SQL; the noise finder's verdicts live in ``label_verdicts``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from core import attention as att
from core.domain import ReviewStatus, Source, TargetState
from core.edits import AnnotationEdit, FieldChange, ImageField, Region, RegionChange, TargetChange
from core.errors import ProjectError
from core.store import db
from core.store.db import ImageAttentionRow, ImageRow, LabelVerdictRow, TargetRow

Progress = Callable[[int, int], None]
Cancelled = Callable[[], bool]


@dataclass(frozen=True)
class QueueItem:
    """One entry of the noise finder's queue: a dispute on one reviewed image."""

    image_id: int
    image_name: str
    dispute: att.Dispute


def _skies(s: Session, image_id: int, proposed=None):
    """(accepted, proposed) sky masks, decoding nothing when there is no accepted sky (then no
    sky can be disputed): most pre-annotated images have none, and a decode costs ~20 ms per
    megapixel. ``proposed``: the proposed sky already in memory (pre-annotation)."""
    accepted = db.sky_mask(s, image_id, TargetState.ACCEPTED)
    if accepted is None:
        return None, None
    if proposed is None:
        proposed = db.sky_mask(s, image_id, TargetState.PROPOSAL)
    return accepted, proposed


def _support(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, np.float32).reshape(-1, 5)


def _image_attention(
    s: Session, img: ImageRow, operating: float, sky_uncertain: float | None, proposed_sky=None,
    support=None,
) -> att.Attention:  # fmt: skip
    rows = db.target_rows(s, img.id)
    targets = [db.target_from_row(r) for r in rows]
    labels = [t for t in targets if t.state == TargetState.ACCEPTED]
    proposals = [t for t in targets if t.state == TargetState.PROPOSAL]
    disputes = att.target_disputes(labels, proposals, operating, support)
    disputes += att.sky_disputes(*_skies(s, img.id, proposed_sky))
    return att.attention([t.score or 0.0 for t in proposals], operating, disputes, sky_uncertain,
                         img.width * img.height)  # fmt: skip


def keep_support(s: Session, image_id: int, targets: list) -> None:
    """Store the model's detections of a pre-annotation (``ImageAttentionRow.support``) inside
    the caller's transaction; the score is left to ``record_attention`` (0 until then)."""
    blob = att.support_boxes(targets).tobytes()
    row = s.get(ImageAttentionRow, int(image_id))
    if row is None:
        s.add(ImageAttentionRow(image_id=int(image_id), score=0.0, reason="", support=blob))
    else:
        row.support = blob


class AttentionOps:
    # ------------------------------------------------------------------ review queue
    def record_attention(
        self,
        image_id: int,
        operating: float,
        sky_uncertain: float | None = None,
        model_version_id: int | None = None,
        proposed_sky=None,
        support=None,
    ) -> att.Attention:
        """Score ``image_id`` from its stored proposals and labels (``sky_uncertain``: the model's
        share of uncertain sky, None keeps the stored one; ``proposed_sky``: the stored proposed
        sky when the caller holds it, saving a decode) and store it. Scored in a read
        transaction, written in a short one: derived data, the last writer wins."""
        with self._session() as s:
            img = s.get(ImageRow, int(image_id))
            if img is None:
                raise ProjectError(f"no image with id {image_id} in this project; reload the image list")
            old = s.get(ImageAttentionRow, img.id)
            if sky_uncertain is None and old is not None:
                sky_uncertain = old.sky_uncertain
            if model_version_id is None and old is not None:
                model_version_id = old.model_version_id
            # support: the model's detections of this pre-annotation (None keeps the stored ones)
            blob = (old.support if old is not None else None) if support is None else (
                np.asarray(support, np.float32).reshape(-1, 5).tobytes())  # fmt: skip
            a = _image_attention(s, img, float(operating), sky_uncertain, proposed_sky, _support(blob))
        with self._session(write=True) as s:
            s.merge(ImageAttentionRow(
                image_id=int(image_id), model_version_id=model_version_id, score=a.score,
                reason=a.reason, sky_uncertain=sky_uncertain, operating=float(operating),
                updated=db.now(), support=blob,
            ))  # fmt: skip
        return a

    def rank_images(
        self,
        operating: float,
        image_ids: Iterable[int] | None = None,
        progress: Progress | None = None,
        cancelled: Cancelled | None = None,
    ) -> int:
        """Re-score images that have a model result (proposals or a proposed sky) from what is
        stored now, each with the operating threshold it was scored with before (``operating``
        for the others). Returns how many were scored; one short transaction per image."""
        with self._session() as s:
            has_result = or_(
                select(TargetRow.id).where(TargetRow.image_id == ImageRow.id,
                                           TargetRow.state == TargetState.PROPOSAL.value).exists(),
                select(db.RegionRow.id).where(db.RegionRow.image_id == ImageRow.id,
                                              db.RegionRow.state == TargetState.PROPOSAL.value).exists(),
            )  # fmt: skip
            stmt = (select(ImageRow.id, ImageAttentionRow.operating)
                    .outerjoin(ImageAttentionRow, ImageAttentionRow.image_id == ImageRow.id)
                    .where(has_result).order_by(ImageRow.id))  # fmt: skip
            if image_ids is not None:
                stmt = stmt.where(ImageRow.id.in_([int(i) for i in image_ids]))
            todo = list(s.execute(stmt))
        done = 0
        for k, (image_id, thr) in enumerate(todo):
            if cancelled is not None and cancelled():
                break
            self.record_attention(image_id, thr if thr is not None else operating)
            done += 1
            if progress is not None:
                progress(k + 1, len(todo))
        return done

    def attention_scores(self) -> dict[int, tuple[float, str]]:
        """``{image_id: (score, reason)}`` of every ranked image, in one query."""
        with self._session() as s:
            rows = s.execute(select(ImageAttentionRow.image_id, ImageAttentionRow.score,
                                    ImageAttentionRow.reason))  # fmt: skip
            return {int(i): (float(sc), str(r)) for i, sc, r in rows}

    def attention_of(self, image_id: int) -> tuple[float, str] | None:
        """(score, reason) of one image; None when it was never ranked."""
        with self._session() as s:
            row = s.get(ImageAttentionRow, int(image_id))
            return (float(row.score), str(row.reason)) if row is not None else None

    def attention_order(self, include_reviewed: bool = False, limit: int | None = None) -> list[int]:
        """Image ids by attention, most first (ties: import order); unranked images are not in it."""
        stmt = (select(ImageAttentionRow.image_id)
                .join(ImageRow, ImageRow.id == ImageAttentionRow.image_id)
                .order_by(ImageAttentionRow.score.desc(), ImageAttentionRow.image_id))  # fmt: skip
        if not include_reviewed:
            stmt = stmt.where(ImageRow.status != ReviewStatus.REVIEWED.value)
        if limit is not None:
            stmt = stmt.limit(int(limit))
        with self._session() as s:
            return [int(i) for i in s.scalars(stmt)]

    def next_by_attention(self, current_id: int | None = None) -> int | None:
        """The unreviewed image after ``current_id`` in attention order (the first one when
        ``current_id`` is None or not in the order; wraps). None when no unreviewed image is
        ranked. Two indexed queries, whatever the project's size."""
        score_col, id_col = ImageAttentionRow.score, ImageAttentionRow.image_id
        base = (select(id_col).join(ImageRow, ImageRow.id == id_col)
                .where(ImageRow.status != ReviewStatus.REVIEWED.value)
                .order_by(score_col.desc(), id_col).limit(1))  # fmt: skip
        with self._session() as s:
            cur = s.get(ImageAttentionRow, int(current_id)) if current_id is not None else None
            if cur is not None:
                after = base.where(or_(score_col < cur.score,
                                       and_(score_col == cur.score, id_col > cur.image_id)))  # fmt: skip
                found = s.scalar(after)
                if found is not None:
                    return int(found)
            first = s.scalar(base.where(id_col != int(current_id)) if current_id is not None else base)
            return int(first) if first is not None else None

    # ------------------------------------------------------------------ noise finder
    def model_detections(self, image_id: int) -> np.ndarray | None:
        """float32 [K, 5] (x0, y0, x1, y1, score): every detection of the image's latest
        pre-annotation, those duplicating accepted labels included (not stored as proposals);
        None when it was pre-annotated before they were kept (or never)."""
        with self._session() as s:
            row = s.get(ImageAttentionRow, int(image_id))
            return None if row is None else _support(row.support)

    def label_disputes(self, image_id: int, operating: float) -> list[att.Dispute]:
        """What the model disputes on one image now, strongest first, without the disputes the
        annotator answered already (kept / second look)."""
        with self._session() as s:
            img = s.get(ImageRow, int(image_id))
            if img is None:
                raise ProjectError(f"no image with id {image_id} in this project; reload the image list")
            return self._disputes(s, img, operating)

    @staticmethod
    def _disputes(s: Session, img: ImageRow, operating: float) -> list[att.Dispute]:
        """None without a model result (no proposal, no proposed sky): an image the model never
        saw would have every label "scored zero"."""
        rows = db.target_rows(s, img.id)
        has_sky = db.sky_row(s, img.id, TargetState.PROPOSAL) is not None
        row = s.get(ImageAttentionRow, img.id)
        support = _support(row.support) if row is not None else None
        if not has_sky and support is None and not any(r.state == TargetState.PROPOSAL.value for r in rows):
            return []
        targets = [db.target_from_row(r) for r in rows]
        found = att.target_disputes(targets, targets, operating, support)
        found += att.sky_disputes(*_skies(s, img.id))
        answered = set(s.scalars(select(LabelVerdictRow.key).where(LabelVerdictRow.image_id == img.id)))
        return sorted((d for d in found if d.key not in answered), key=lambda d: -d.strength)

    def noise_queue(
        self,
        operating: float,
        progress: Progress | None = None,
        cancelled: Cancelled | None = None,
    ) -> list[QueueItem]:
        """Every open dispute on the reviewed images, image by image in the order of
        ``core.attention.image_priority`` (ties: import order), strongest first within an image."""
        with self._session() as s:
            ids = list(s.execute(select(ImageRow.id, ImageRow.name)
                                 .where(ImageRow.status == ReviewStatus.REVIEWED.value)
                                 .order_by(ImageRow.id)))  # fmt: skip
        found: list[tuple[tuple[float, float], int, list[QueueItem]]] = []
        for k, (image_id, name) in enumerate(ids):
            if cancelled is not None and cancelled():
                break
            with self._session() as s:
                img = s.get(ImageRow, image_id)
                disputes = self._disputes(s, img, operating) if img is not None else []
            if disputes:
                items = [QueueItem(image_id, name, d) for d in disputes]
                found.append((att.image_priority(disputes), image_id, items))
            if progress is not None:
                progress(k + 1, len(ids))
        found.sort(key=lambda f: (f[0], f[1]))
        return [item for _, _, items in found for item in items]

    def set_verdict(self, image_id: int, dispute: att.Dispute, verdict: att.Verdict) -> None:
        """Remember the answer to ``dispute`` (the label stays as it is)."""
        verdict = att.Verdict(verdict)
        with self._session(write=True) as s:
            img = db.locked_image(s, image_id)
            s.execute(delete(LabelVerdictRow).where(LabelVerdictRow.image_id == img.id,
                                                    LabelVerdictRow.key == dispute.key))  # fmt: skip
            s.add(LabelVerdictRow(image_id=img.id, key=dispute.key, verdict=verdict.value,
                                  author=self.user, at=db.now()))  # fmt: skip

    def verdicts(self, image_id: int) -> dict[str, att.Verdict]:
        with self._session() as s:
            rows = s.execute(select(LabelVerdictRow.key, LabelVerdictRow.verdict)
                             .where(LabelVerdictRow.image_id == int(image_id)))  # fmt: skip
            return {k: db.enum_or(att.Verdict, v, att.Verdict.KEPT) for k, v in rows}


SECOND_LOOK_NOTE = "second look:"


def second_look_note(note: str, dispute: att.Dispute) -> str:
    """The image note with a line flagging ``dispute`` for a second look (once)."""
    line = f"{SECOND_LOOK_NOTE} {dispute.describe()} at {dispute.key.split(':', 1)[1]}"
    lines = [x for x in note.splitlines() if x.strip()]
    return "\n".join(lines if line in lines else [*lines, line])


def second_look_edit(info, dispute: att.Dispute) -> AnnotationEdit | None:
    """The note edit that flags ``dispute`` on the image ``info`` (None: flagged already)."""
    after = second_look_note(info.note or "", dispute)
    if after == (info.note or ""):
        return None
    return AnnotationEdit(int(info.id), "Mark for a second look",
                          fields=(FieldChange(ImageField.NOTE, info.note or "", after),))  # fmt: skip


def accept_model_edit(labels, dispute: att.Dispute) -> AnnotationEdit:
    """The edit that takes the model's view of ``dispute`` on an image whose labels are
    ``labels`` (core.edits.ImageLabels): a doubtful label deleted, an unlabelled detection
    accepted, a contradicted sky region set as the model sees it."""
    image_id = int(labels.info.id)
    by_id = {t.id: t for t in labels.targets}
    if dispute.kind is att.DisputeKind.DOUBTFUL:
        t = by_id.get(dispute.target_id)
        if t is None or t.state != TargetState.ACCEPTED:
            raise ProjectError("that label no longer exists; refresh the queue")
        return AnnotationEdit(image_id, "Delete label the model disputes", (TargetChange(t, None),))
    if dispute.kind is att.DisputeKind.UNLABELLED:
        p = by_id.get(dispute.target_id)
        if p is None or p.state != TargetState.PROPOSAL:
            raise ProjectError("that detection is no longer proposed; refresh the queue")
        accepted = replace(p, state=TargetState.ACCEPTED)
        return AnnotationEdit(image_id, "Accept the model's detection", (TargetChange(p, accepted),))
    if labels.sky is None or dispute.region is None:
        raise ProjectError("the image has no accepted sky any more; refresh the queue")
    sky = labels.sky.mask()
    x0, y0 = int(dispute.box[0]), int(dispute.box[1])
    h, w = dispute.region.shape
    if y0 + h > sky.shape[0] or x0 + w > sky.shape[1]:
        raise ProjectError("the sky changed size; refresh the queue")
    sky[y0 : y0 + h, x0 : x0 + w][dispute.region] = dispute.model_says_sky
    after = Region.from_mask(sky, Source.MANUAL)
    return AnnotationEdit(image_id, "Take the model's sky", (),
                          (RegionChange(TargetState.ACCEPTED, labels.sky, after),))  # fmt: skip
