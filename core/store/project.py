"""A SIRST Studio project: a folder holding ``project.sqlite`` and ``models/``, or a database on a
PostgreSQL server (a SQLAlchemy URL) with its local files in a per-machine folder (ADR 0008).

Every public method runs one short transaction in its own Session, so a GUI thread and a worker
thread may share one ``Project``. Only the plain dataclasses of ``core/domain.py`` come out.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from core.domain import (
    ImageAnnotation,
    ImageInfo,
    ModelVersion,
    ReviewStatus,
    Source,
    Split,
    Target,
    TargetState,
)
from core.edits import AnnotationEdit, ImageLabels
from core.errors import ProjectError
from core.machine import MachineSettings, PathMap
from core.natural_order import natural_key
from core.store import db, edit_store
from core.store.attention_store import AttentionOps, keep_support
from core.store.db import ImageRow, ModelVersionRow, RegionRow, TargetRow
from core.store.engine import WRITE_OPTION, damaged
from core.store.listing import ImageListing
from core.store.location import redact
from core.store.new_image import NewImage
from core.store.project_open import DB_NAME, MODELS_DIR, ProjectConnect, _machine_settings
from core.store.project_open import (
    is_writable as is_writable,  # re-exported: core.store.project's API
)
from core.store.team import TeamOps


@dataclass
class ProjectStats:
    """Totals shown by `main.py info`."""

    images_by_split_status: dict[tuple[str, str], int] = field(default_factory=dict)
    n_images: int = 0
    n_targets: int = 0
    n_proposals: int = 0
    n_with_sky: int = 0
    n_missing: int = 0
    model_versions: list[ModelVersion] = field(default_factory=list)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Project(ProjectConnect, TeamOps, ImageListing, AttentionOps):
    """Open with ``Project.open(root)`` / ``Project.create(root)``; see docs/architecture.md."""

    def __init__(
        self,
        root: Path,
        engine,
        url: str | None = None,
        machine: MachineSettings | None = None,
        read_only: bool = False,
    ) -> None:
        self.root = root  # local folder: the project itself, or a server project's local files
        self.read_only = read_only  # opened with SQLite mode=ro: every write raises
        self.models_dir = root / MODELS_DIR
        self.url = url  # None: an SQLite project in ``root``
        # What messages name: the SQLite file, or the server URL without its password.
        self.db_path: Path | str = redact(url) if url else root / DB_NAME
        machine = machine if machine is not None else _machine_settings()
        self.user: str = machine.user_name  # recorded on every change (ADR 0008)
        self.path_map: PathMap = machine.path_map
        self._engine = engine
        self._read_sessions = sessionmaker(bind=engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(
            bind=engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

    # ------------------------------------------------------------------ lifecycle
    @property
    def is_server(self) -> bool:
        return self.url is not None

    @property
    def location(self) -> Path | str:
        """What opens this project again: its folder or its server URL (with credentials)."""
        return self.url if self.url is not None else self.root

    @property
    def display_name(self) -> str:
        return self.db_path if isinstance(self.db_path, str) else self.root.name

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _session(self, write: bool = False) -> Iterator[Session]:
        """One transaction; commits on success, rolls back on any error."""
        if write and self.read_only:
            raise ProjectError(
                f"{self.root} is open read-only (its folder, database or disk is not writable); "
                "nothing can be changed: copy the project to a writable folder to edit it"
            )
        factory = self._write_sessions if write else self._read_sessions
        try:
            with factory() as session, session.begin():
                yield session
        except (DBAPIError, sqlite3.Error) as e:
            raise damaged(self.db_path, e) from e

    # ------------------------------------------------------------------ paths
    def _stored_path(self, path: Path | str) -> str:
        """Relative (POSIX) when inside a folder project, else absolute in its shared form (the
        machine's path map applied backwards, ADR 0008). A server project's root is a local
        cache, so its paths are never relative."""
        p = Path(os.path.abspath(path))
        if not self.is_server:
            for base, cand in (
                (Path(os.path.abspath(self.root)), p),
                (self.root.resolve(), p.resolve()),
            ):
                if cand.is_relative_to(base):
                    return cand.relative_to(base).as_posix()
        shared = self.path_map.to_stored(p.as_posix())
        return shared if shared is not None else str(p)

    def resolve_path(self, info: ImageInfo | ModelVersion) -> Path:
        """Where this machine finds the file: the path map first, then the stored path."""
        local = self.path_map.to_local(info.path)
        if local is not None:
            return Path(local)
        p = Path(info.path)
        return p if p.is_absolute() else self.root / p

    def unmapped_images(self, infos: Iterable[ImageInfo] | None = None) -> dict[str, list[ImageInfo]]:
        """Images whose file is missing here and that no path mapping covers, grouped by their
        stored folder: what this machine's path map lacks (shown by `info` and the GUI).
        ``infos``: already checked listings (their ``missing`` flags), to avoid a second stat."""
        missing = self.check_missing() if infos is None else [i for i in infos if i.missing]
        out: dict[str, list[ImageInfo]] = {}
        for info in missing:
            if self.path_map.to_local(info.path) is None:
                out.setdefault(Path(info.path).parent.as_posix(), []).append(info)
        return out

    def load_pixels(self, image_id: int) -> np.ndarray:
        from core.imageio import read_image  # pixel I/O lives in core.imageio

        return read_image(self.resolve_path(self.get_image(image_id)))

    # ------------------------------------------------------------------ images
    def _infos(self, session: Session, stmt, check_files: bool) -> list[ImageInfo]:
        found = db.infos(session, stmt)
        if check_files:
            for info in found:
                info.missing = not self.resolve_path(info).exists()
        return found

    def list_images(
        self,
        split: Split | str | None = None,
        status: ReviewStatus | str | None = None,
        search: str | None = None,
        check_files: bool = False,
        assignee: str | None = None,
    ) -> list[ImageInfo]:
        """Images in import order with target counts; ``search`` is a case-insensitive substring
        of the name. ``check_files`` also stats every file (slower on big projects).
        ``assignee``: only images held by that user ("" = held by nobody)."""
        stmt = db.info_select()
        if assignee is not None:
            stmt = stmt.where(ImageRow.assignee.is_(None) if assignee == ""
                              else ImageRow.assignee == assignee)  # fmt: skip
        if split is not None:
            stmt = stmt.where(ImageRow.split == Split(split).value)
        if status is not None:
            stmt = stmt.where(ImageRow.status == ReviewStatus(status).value)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(ImageRow.name.ilike(f"%{escaped}%", escape="\\"))
        with self._session() as s:
            return self._infos(s, stmt, check_files)

    def get_image(self, image_id: int) -> ImageInfo:
        with self._session() as s:
            found = self._infos(s, db.info_select().where(ImageRow.id == image_id), False)
        if not found:
            raise ProjectError(
                f"no image with id {image_id} in this project; reload the image list"
            )
        return found[0]

    def find_image(self, name: str) -> ImageInfo | None:
        with self._session() as s:
            found = self._infos(s, db.info_select().where(ImageRow.name == name), False)
        return found[0] if found else None

    def review_times(self) -> dict[str, str | None]:
        """Each REVIEWED image's name -> when it was last reviewed in the app (ISO time; None: it
        came reviewed, e.g. imported with its labels). A fine-tune's "newly corrected" images."""
        with self._session() as s:
            rows = s.execute(select(ImageRow.name, ImageRow.reviewed_at)
                             .where(ImageRow.status == ReviewStatus.REVIEWED.value))  # fmt: skip
            return {name: at for name, at in rows}

    def check_missing(self) -> list[ImageInfo]:
        """Images whose file is not at its resolved path (moved or deleted); one stat each."""
        infos = self.images_by_id(self.missing_ids())
        for info in infos:
            info.missing = True
        return infos

    def _image_row(self, s: Session, image_id: int) -> ImageRow:
        row = s.get(ImageRow, image_id)
        if row is None:
            raise ProjectError(
                f"no image with id {image_id} in this project; reload the image list"
            )
        return row

    # ------------------------------------------------------------------ adding images
    def add_images(self, items: Iterable[NewImage]) -> list[ImageInfo]:
        """Add a batch in one transaction: all of it lands or none. Names already in the project
        (or repeated in the batch) are skipped; returns the images actually added."""
        batch = _unique_by_name(items)
        existing = self._existing_names([n for n, _ in batch])
        # File reads happen before the write transaction so that it stays short.
        prepared = [self._prepare(name, item) for name, item in batch if name not in existing]
        added: list[ImageInfo] = []
        with self._session(write=True) as s:
            again = db.names_present(s, [row.name for row, _ in prepared])  # a concurrent writer
            prepared = [(row, ann) for row, ann in prepared if row.name not in again]
            s.add_all([row for row, _ in prepared])
            s.flush()  # assigns image ids
            for row, ann in prepared:
                added.append(self._insert_annotation(s, row, ann))
        return added

    def _existing_names(self, names: list[str]) -> set[str]:
        with self._session() as s:
            return db.names_present(s, names)

    def _prepare(self, name: str, item: NewImage) -> tuple[ImageRow, ImageAnnotation | None]:
        """Validate one item and build its (not yet added) row."""
        header, sha = item.header, item.sha256
        if header is None or sha is None:
            from core import imageio  # only needed when the caller did not read the file

            header = imageio.read_header(item.path) if header is None else header
            sha = imageio.file_sha256(item.path) if sha is None else sha
        ann = item.annotation
        if ann is not None:
            for label, mask in (("sky", ann.sky), ("target_mask_extra", ann.target_mask_extra)):
                db.check_shape(mask, header.height, header.width, f"{label} mask of image {name!r}")
        status = item.status if item.status is not None else _default_status(ann)
        row = ImageRow(
            name=name, path=self._stored_path(item.path), width=int(header.width),
            height=int(header.height), bit_depth=int(header.bit_depth),
            channels=int(header.channels), sha256=str(sha), split=Split(item.split).value,
            status=ReviewStatus(status).value, note="", created=_now(), sort_key=natural_key(name),
        )  # fmt: skip
        return row, ann

    def _insert_annotation(
        self, s: Session, row: ImageRow, ann: ImageAnnotation | None
    ) -> ImageInfo:
        n_acc = n_prop = 0
        if ann is not None:
            if ann.target_mask_extra is not None and ann.target_mask_extra.any():
                row.target_mask_extra = db.encode_mask(ann.target_mask_extra)
            for t in ann.targets:
                s.add(db.fill_target_row(TargetRow(image_id=row.id), t))
                n_acc += t.state == TargetState.ACCEPTED
                n_prop += t.state == TargetState.PROPOSAL
            if ann.sky is not None:
                s.add(db.sky_region(row.id, ann.sky, TargetState.ACCEPTED, Source.MANUAL))
        return ImageInfo(
            id=row.id, name=row.name, path=row.path, width=row.width, height=row.height,
            bit_depth=row.bit_depth, channels=row.channels, sha256=row.sha256,
            split=Split(row.split), status=ReviewStatus(row.status), note=row.note,
            n_targets=n_acc, n_proposals=n_prop,
        )  # fmt: skip

    # ------------------------------------------------------------------ targets
    def annotation(
        self, image_id: int, states: Sequence[TargetState] = (TargetState.ACCEPTED,)
    ) -> ImageAnnotation:
        """Targets in ``states``, the accepted sky mask and the extra target-mask pixels."""
        with self._session() as s:
            row = self._image_row(s, image_id)
            extra = db.decode_mask(row.target_mask_extra) if row.target_mask_extra else None
            targets = self._target_rows(s, image_id, [TargetState(x).value for x in states])
            sky = db.sky_mask(s, image_id, TargetState.ACCEPTED)
            return ImageAnnotation(
                targets=[db.target_from_row(t) for t in targets], sky=sky, target_mask_extra=extra
            )

    def targets(self, image_id: int, state: TargetState | str | None = None) -> list[Target]:
        states = [TargetState(state).value] if state is not None else None
        with self._session() as s:
            return [db.target_from_row(r) for r in db.target_rows(s, image_id, states)]

    def proposal_scores(self, image_id: int | None = None) -> dict[int, list[float]]:
        """Scores of the proposals per image, ``{image_id: [score, ...]}``, in one query.

        The image list counts proposals at or above the live score threshold from these (the
        per-image proposal count is capped by pre-annotation, so it says little by itself).
        Proposals without a score count as 0.
        """
        stmt = select(TargetRow.image_id, TargetRow.score).where(
            TargetRow.state == TargetState.PROPOSAL.value
        )
        if image_id is not None:
            stmt = stmt.where(TargetRow.image_id == int(image_id))
        out: dict[int, list[float]] = {}
        with self._session() as s:
            for iid, score in s.execute(stmt):
                out.setdefault(int(iid), []).append(float(score) if score is not None else 0.0)
        return out

    @staticmethod
    def _target_rows(s: Session, image_id: int, states: list[str] | None) -> Sequence[TargetRow]:
        return db.target_rows(s, image_id, states)

    def labels(self, image_id: int) -> ImageLabels:
        """Everything the annotation document shows, in one read: info, every target, both skies
        (as stored PNG values, decoded lazily)."""
        with self._session() as s:
            found = self._infos(s, db.info_select().where(ImageRow.id == image_id), False)
            if not found:
                self._image_row(s, image_id)  # raises the "no image" error
            targets = [db.target_from_row(r) for r in db.target_rows(s, image_id)]
            return ImageLabels(
                found[0], targets,
                edit_store.current_region(s, image_id, TargetState.ACCEPTED),
                edit_store.current_region(s, image_id, TargetState.PROPOSAL),
                edit_store.current_bad_pixels(s.get(ImageRow, image_id)),
            )  # fmt: skip

    def apply_edit(
        self, edit: AnnotationEdit, expected_version: int | None = None, verify: bool = True
    ) -> AnnotationEdit:
        """The one label writer: commit one edit (all of it or, with a ProjectError, nothing);
        returns it with the ids its new targets got and the image's new ``version``, which is
        what undo and redo replay.

        Optimistic concurrency (ADR 0008): ``expected_version`` is the version the caller read
        (EditConflict when the image moved on); ``verify`` also refuses the edit when a value
        it replaces (a target, a sky, a field) is no longer what is stored."""
        with self._session(write=True) as s:
            return edit_store.commit(s, edit, self.user, expected_version, verify)

    def propose(
        self,
        image_id: int,
        targets: Iterable[Target],
        sky: np.ndarray | None,
        model_version_id: int | None = None,
        bad_pixels: np.ndarray | None = None,
    ) -> AnnotationEdit:
        """Store a pre-annotation result as one edit and return it (with the ids of the stored
        proposals), so that the image's history can undo it back to the previous proposals: this
        image's proposals (targets and sky) are swapped for the new ones, status NEW becomes
        PRE_ANNOTATED. The edit is built from the stored proposals inside the write transaction
        (nothing slips in between) and committed by the one label write, ``edit_store.commit``,
        like ``apply_edit``'s. ``bad_pixels``: int [K, 2] (x, y) the bad-pixel filter repaired
        (None: it was off; none are recorded)."""
        targets = list(targets)
        with self._session(write=True) as s:
            img = db.locked_image(s, image_id)
            db.check_shape(sky, img.height, img.width, f"proposed sky of image {img.name!r}")
            edit_store.check_pixels(bad_pixels, img.height, img.width, img.name)
            if model_version_id is not None and s.get(ModelVersionRow, model_version_id) is None:
                raise ProjectError(f"no model version with id {model_version_id} in this project")
            edit = edit_store.proposals_edit(s, img, targets, sky, model_version_id, bad_pixels)
            # Proposals duplicating accepted labels are not stored; the model's detections are
            # kept as the evidence that it agrees with those labels (label-noise finder).
            keep_support(s, img.id, targets)
            return edit_store.commit(s, edit, self.user, verify=False, img=img)

    # ------------------------------------------------------------------ sky
    def sky_mask(
        self, image_id: int, state: TargetState | str = TargetState.ACCEPTED
    ) -> np.ndarray | None:
        with self._session() as s:
            return db.sky_mask(s, image_id, TargetState(state))

    # ------------------------------------------------------------------ model versions
    def add_model_version(self, mv: ModelVersion) -> ModelVersion:
        """Register weights; an active version deactivates the others."""
        with self._session(write=True) as s:
            if mv.active:
                s.execute(update(ModelVersionRow).values(active=False))
            row = ModelVersionRow(
                name=mv.name, path=self._stored_path(mv.path), created=mv.created or _now(),
                metrics=dict(mv.metrics), preset=mv.preset, active=bool(mv.active),
            )  # fmt: skip
            s.add(row)
            s.flush()
            return db.model_version_from_row(row)

    def list_model_versions(self) -> list[ModelVersion]:
        with self._session() as s:
            rows = s.scalars(select(ModelVersionRow).order_by(ModelVersionRow.id)).all()
            return [db.model_version_from_row(r) for r in rows]

    def set_active_model(self, version_id: int | None) -> None:
        """Make one version active (``None``: none active, i.e. the shipped default)."""
        with self._session(write=True) as s:
            if version_id is not None and s.get(ModelVersionRow, version_id) is None:
                raise ProjectError(f"no model version with id {version_id} in this project")
            s.execute(update(ModelVersionRow).values(active=ModelVersionRow.id == version_id))

    def active_model(self) -> ModelVersion | None:
        with self._session() as s:
            row = s.scalars(select(ModelVersionRow).where(ModelVersionRow.active.is_(True))).first()
            return db.model_version_from_row(row) if row is not None else None

    # ------------------------------------------------------------------ summary
    def stats(self, check_files: bool = True) -> ProjectStats:
        """Totals for reports; ``check_files`` counts images whose file is missing."""
        st = ProjectStats(model_versions=self.list_model_versions())
        with self._session() as s:
            by = select(ImageRow.split, ImageRow.status, func.count()).group_by(
                ImageRow.split, ImageRow.status
            )
            st.images_by_split_status = {(sp, stt): n for sp, stt, n in s.execute(by)}
            per_state = dict(
                s.execute(select(TargetRow.state, func.count()).group_by(TargetRow.state)).all()
            )
            st.n_with_sky = s.scalar(
                select(func.count(func.distinct(RegionRow.image_id))).where(
                    RegionRow.cls == db.SKY, RegionRow.state == TargetState.ACCEPTED.value
                )
            )
        st.n_images = sum(st.images_by_split_status.values())
        st.n_targets = per_state.get(TargetState.ACCEPTED.value, 0)
        st.n_proposals = per_state.get(TargetState.PROPOSAL.value, 0)
        st.n_missing = len(self.missing_ids()) if check_files else 0
        return st


def _default_status(ann: ImageAnnotation | None) -> ReviewStatus:
    """NEW without labels; a supplied accepted annotation means someone labelled it already."""
    if ann is None or (not ann.targets and ann.sky is None):
        return ReviewStatus.NEW
    if all(t.state == TargetState.PROPOSAL for t in ann.targets) and ann.sky is None:
        return ReviewStatus.PRE_ANNOTATED
    return ReviewStatus.REVIEWED


def _unique_by_name(items: Iterable[NewImage]) -> list[tuple[str, NewImage]]:
    seen: dict[str, NewImage] = {}
    for item in items:
        name = item.name if item.name else Path(item.path).stem
        seen.setdefault(name, item)
    return list(seen.items())
