"""Gallery of false alarms and misses: one enlarged crop per item, sortable and filterable.

Plain data in (``GalleryCard``: a uint8 crop, the box, score, background class, contrast); a click
emits ``card_clicked(image_id, x, y)`` with the item's centre in image coordinates, and the app
moves the canvas there. Crops are upscaled nearest-neighbour so 3-pixel targets stay crisp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.domain import Box

KIND_LABELS = {"fa": "FA", "miss": "Miss"}
KIND_COLORS = {"fa": QColor("#ff4040"), "miss": QColor("#ffd000")}
MAX_CARDS = 600  # beyond this the list gets slow to build; the summary still counts everything
SORTS = {
    "Score, high first": ("score", True),
    "Score, low first": ("score", False),
    "Contrast, low first": ("contrast", False),
    "Contrast, high first": ("contrast", True),
}
KIND_FILTERS = {"All kinds": None, "False alarms": "fa", "Misses": "miss"}
BACKGROUND_FILTERS = {
    "Any background": None,
    "Sky": "sky",
    "Non-sky": "non-sky",
    "Unknown": "unknown",
}


@dataclass
class GalleryCard:
    """One gallery entry. ``crop`` is uint8 [S, S]; ``origin`` is its (x0, y0) in the image."""

    kind: str  # "fa" | "miss"
    image_id: int
    image_name: str
    box: Box
    score: float | None
    background: str
    contrast: float
    crop: np.ndarray
    origin: tuple[int, int]

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return ((x0 + x1) / 2.0, (y0 + y1) / 2.0)

    def caption(self) -> str:
        score = f"{self.score:.2f}" if self.score is not None else "-"
        contrast = f"{self.contrast:.1f}" if math.isfinite(self.contrast) else "n/a"
        return f"{KIND_LABELS.get(self.kind, self.kind)} {score}\n{self.background} c={contrast}"


def card_pixmap(card: GalleryCard, scale: int = 2) -> QPixmap:
    """The crop enlarged ``scale`` times (nearest neighbour) with the item's box drawn on it."""
    crop = np.ascontiguousarray(card.crop, dtype=np.uint8)
    h, w = crop.shape
    img = QImage(crop.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    big = img.scaled(
        w * scale,
        h * scale,
        Qt.AspectRatioMode.IgnoreAspectRatio,
        Qt.TransformationMode.FastTransformation,
    )
    pix = QPixmap.fromImage(big.convertToFormat(QImage.Format.Format_RGB32))
    x0, y0, x1, y1 = card.box
    ox, oy = card.origin
    painter = QPainter(pix)
    painter.setPen(QPen(KIND_COLORS.get(card.kind, QColor("cyan")), 1))
    # one pixel of margin so the outline never hides the target's own pixels
    painter.drawRect(
        QRectF(
            (x0 - ox) * scale - 1,
            (y0 - oy) * scale - 1,
            (x1 - x0) * scale + 1,
            (y1 - y0) * scale + 1,
        )
    )
    painter.end()
    return pix


def _sort_key(card: GalleryCard, field: str, descending: bool) -> tuple[int, float]:
    """Missing values (a miss has no score, a NaN contrast) always go last."""
    value = card.score if field == "score" else card.contrast
    if value is None or not math.isfinite(value):
        return (1, 0.0)
    return (0, -value if descending else value)


class FaGallery(QWidget):
    """Filter / sort bar over a grid of crops; click a crop to jump there."""

    card_clicked = Signal(int, float, float)  # image id, centre x, centre y

    def __init__(self, parent: QWidget | None = None, scale: int = 2) -> None:
        super().__init__(parent)
        self.scale = scale
        self._cards: list[GalleryCard] = []
        self._shown: list[GalleryCard] = []
        self.kind_box = self._combo(KIND_FILTERS, "Show false alarms, misses or both")
        self.background_box = self._combo(BACKGROUND_FILTERS, "Background class at the spot")
        self.sort_box = self._combo(SORTS, "Order of the crops")
        self.count_label = QLabel("")
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setUniformItemSizes(True)
        self.list.setWordWrap(True)
        self.list.itemClicked.connect(self._on_clicked)
        self.list.itemActivated.connect(self._on_clicked)
        self._build_layout()

    def _combo(self, entries: dict, tip: str) -> QComboBox:
        box = QComboBox()
        box.addItems(list(entries))
        box.setToolTip(tip)
        box.currentIndexChanged.connect(self._refresh)
        return box

    def _build_layout(self) -> None:
        bar = QHBoxLayout()
        for w in (self.kind_box, self.background_box, self.sort_box):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.list, 1)

    # ------------------------------------------------------------------ data
    def set_cards(self, cards: list[GalleryCard]) -> None:
        self._cards = list(cards)
        self._refresh()

    def cards(self) -> list[GalleryCard]:
        return list(self._cards)

    def visible_cards(self) -> list[GalleryCard]:
        """The cards shown, in display order (after filter, sort and the display cap)."""
        return list(self._shown)

    def set_kind_filter(self, kind: str | None) -> None:
        self.kind_box.setCurrentIndex(list(KIND_FILTERS.values()).index(kind))

    def set_background_filter(self, background: str | None) -> None:
        self.background_box.setCurrentIndex(list(BACKGROUND_FILTERS.values()).index(background))

    def set_sort(self, label: str) -> None:
        self.sort_box.setCurrentText(label)

    def click_card(self, row: int) -> None:
        """Act as if the crop at ``row`` was clicked (keyboard users and tests)."""
        self._on_clicked(self.list.item(row))

    # ------------------------------------------------------------------ view
    def _filtered(self) -> list[GalleryCard]:
        kind = KIND_FILTERS[self.kind_box.currentText()]
        background = BACKGROUND_FILTERS[self.background_box.currentText()]
        field, descending = SORTS[self.sort_box.currentText()]
        cards = [
            c for c in self._cards
            if (kind is None or c.kind == kind) and (background is None or c.background == background)
        ]  # fmt: skip
        return sorted(cards, key=lambda c: _sort_key(c, field, descending))

    def _refresh(self) -> None:
        matching = self._filtered()
        self._shown = matching[:MAX_CARDS]
        self.list.clear()
        side = (self._shown[0].crop.shape[0] if self._shown else 48) * self.scale
        self.list.setIconSize(QSize(side, side))
        self.list.setGridSize(QSize(side + 16, side + 40))
        for i, card in enumerate(self._shown):
            item = QListWidgetItem(QIcon(card_pixmap(card, self.scale)), card.caption())
            item.setData(Qt.ItemDataRole.UserRole, i)
            item.setToolTip(f"{card.image_name}: box {tuple(round(v, 1) for v in card.box)}")
            self.list.addItem(item)
        more = f" (first {MAX_CARDS} shown)" if len(matching) > MAX_CARDS else ""
        self.count_label.setText(f"{len(matching)} of {len(self._cards)}{more}")

    def _on_clicked(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        card = self._shown[int(item.data(Qt.ItemDataRole.UserRole))]
        x, y = card.center
        self.card_clicked.emit(card.image_id, x, y)
