"""Item model of a project's images for the image list (fed with ImageInfo, never queries the DB).

The main window loads ``project.list_images()`` once and pushes single-row updates after each edit
(``update_image``), so counts and status colours follow the edits without re-listing 10k rows.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from app.thumbnails import ThumbnailCache
from core.types import ImageInfo
from widgets.image_list import ImageRole

# The review queue (issue 20, app/review_queue.py): the stored attention score (the list's sort key
# for "needs attention"; -1 for an image never ranked) and its human reason.
ATTENTION_ROLE = int(Qt.ItemDataRole.UserRole) + 40
REASON_ROLE = int(Qt.ItemDataRole.UserRole) + 41

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


def _tooltip(info: ImageInfo, reason: str = "") -> str:
    lines = [
        info.name,
        f"{info.width}x{info.height}, {info.bit_depth}-bit, {info.channels} channel(s)",
        info.path,
    ]
    if info.missing:
        lines.append("The file is missing: move it back or re-import the folder.")
    if info.note:
        lines.append(f"Note: {info.note}")
    if reason:
        lines.append(f"Needs attention: {reason}")
    return "\n".join(lines)


class ImageListModel(QAbstractListModel):
    """One row per image, in project order; thumbnails come from a ThumbnailCache."""

    def __init__(self, thumbnails: ThumbnailCache | None = None, parent=None) -> None:
        super().__init__(parent)
        self._infos: list[ImageInfo] = []
        self._rows: dict[int, int] = {}
        # Sorted proposal scores per image (set_proposal_scores): the row shows how many are at
        # or above the score threshold, not the pre-annotation cap ("100 proposals").
        self._scores: dict[int, list[float]] | None = None
        self._threshold = 0.0
        self._attention: dict[int, tuple[float, str]] = {}  # image id -> (score, reason)
        self.thumbnails = thumbnails
        if thumbnails is not None:
            thumbnails.thumbnail_ready.connect(self._on_thumbnail)

    # ---------------------------------------------------------------- Qt model
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._infos)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._infos):
            return None
        info = self._infos[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            # Only rows the view paints ask for this, so thumbnails are made for visible rows only.
            return self.thumbnails.get(info) if self.thumbnails is not None else None
        if role == ImageRole.N_PROPOSALS:
            return self.proposals_shown(info)
        if role in (ATTENTION_ROLE, REASON_ROLE, Qt.ItemDataRole.ToolTipRole):
            score, reason = self._attention.get(int(info.id), (-1.0, ""))
            if role == Qt.ItemDataRole.ToolTipRole:
                return _tooltip(info, reason)
            return score if role == ATTENTION_ROLE else reason
        getter = _ROLE_GETTERS.get(int(role))
        return getter(info) if getter is not None else None

    # ---------------------------------------------------------------- proposal counts
    def proposals_shown(self, info: ImageInfo) -> int:
        """Proposals of ``info`` at or above the threshold (all of them before scores are set)."""
        if self._scores is None:
            return info.n_proposals
        scores = self._scores.get(int(info.id), [])
        return len(scores) - bisect.bisect_left(scores, self._threshold)

    def set_proposal_scores(self, scores: dict[int, list[float]] | None) -> None:
        """All images' proposal scores (``Project.proposal_scores()``); None forgets them."""
        self._scores = None if scores is None else {int(k): sorted(v) for k, v in scores.items()}
        self._all_changed()

    def update_proposal_scores(self, image_id: int, scores: list[float]) -> None:
        """One image's scores after an edit (ignored until all scores were set once)."""
        if self._scores is None:
            return
        self._scores[int(image_id)] = sorted(scores)
        row = self._rows.get(int(image_id))
        if row is not None:
            self.dataChanged.emit(self.index(row), self.index(row))

    # ---------------------------------------------------------------- attention
    def set_attention(self, attention: dict[int, tuple[float, str]]) -> None:
        """Every ranked image's (score, reason) (``Project.attention_scores()``)."""
        self._attention = {int(k): (float(s), str(r)) for k, (s, r) in attention.items()}
        self._all_changed()

    def update_attention(self, image_id: int, entry: tuple[float, str] | None) -> None:
        """One image's (score, reason) after it was pre-annotated or ranked (None: unranked)."""
        if entry is None:
            self._attention.pop(int(image_id), None)
        else:
            self._attention[int(image_id)] = (float(entry[0]), str(entry[1]))
        row = self._rows.get(int(image_id))
        if row is not None:
            self.dataChanged.emit(self.index(row), self.index(row))

    def set_threshold(self, threshold: float) -> None:
        self._threshold = float(threshold)
        self._all_changed()

    def threshold(self) -> float:
        return self._threshold

    def _all_changed(self) -> None:
        if self._infos:
            self.dataChanged.emit(self.index(0), self.index(len(self._infos) - 1))

    # ---------------------------------------------------------------- feeding
    def set_thumbnails(self, thumbnails: ThumbnailCache | None) -> None:
        """Switch thumbnail source (one per project); None shows placeholders."""
        if self.thumbnails is not None:
            self.thumbnails.thumbnail_ready.disconnect(self._on_thumbnail)
        self.thumbnails = thumbnails
        if thumbnails is not None:
            thumbnails.thumbnail_ready.connect(self._on_thumbnail)

    def set_images(self, infos: Iterable[ImageInfo]) -> None:
        self.beginResetModel()
        self._infos = list(infos)
        self._rows = {int(info.id): row for row, info in enumerate(self._infos)}
        self.endResetModel()

    def update_image(self, info: ImageInfo) -> None:
        """Replace one row (after an edit); appends when the image is new."""
        row = self._rows.get(int(info.id))
        if row is None:
            self.beginInsertRows(QModelIndex(), len(self._infos), len(self._infos))
            self._rows[int(info.id)] = len(self._infos)
            self._infos.append(info)
            self.endInsertRows()
            return
        self._infos[row] = info
        self.dataChanged.emit(self.index(row), self.index(row))

    def info(self, image_id: int) -> ImageInfo | None:
        row = self._rows.get(int(image_id))
        return self._infos[row] if row is not None else None

    def row_of(self, image_id: int) -> int | None:
        return self._rows.get(int(image_id))

    def ids(self) -> list[int]:
        return [int(info.id) for info in self._infos]

    def _on_thumbnail(self, image_id: int) -> None:
        row = self._rows.get(int(image_id))
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])
