"""The project's image list: search, status / split filters, sort order, thumbnails, status colours.

Plain view code: it reads an item model through the roles of :class:`ImageRole` and hands the
filters to it as a :class:`core.image_query.ImageQuery` (``model.set_query``: the app's
``ImageListModel`` runs it in the database, off the GUI thread). It never touches the database.
Typing in the search box is debounced (one query for a burst of keys). Rows have one fixed height
and thumbnails arrive lazily, so a million images scroll as fast as ten.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

from PySide6.QtCore import (
    QAbstractItemModel,
    QItemSelectionModel,
    QModelIndex,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.domain import ReviewStatus, Split
from core.image_query import SORTS, ImageQuery, ImageSort
from widgets.text import plural


class ImageRole(IntEnum):
    ID = Qt.ItemDataRole.UserRole + 1
    STATUS = Qt.ItemDataRole.UserRole + 2  # ReviewStatus value (str)
    SPLIT = Qt.ItemDataRole.UserRole + 3  # Split value (str)
    N_TARGETS = Qt.ItemDataRole.UserRole + 4
    N_PROPOSALS = Qt.ItemDataRole.UserRole + 5
    MISSING = Qt.ItemDataRole.UserRole + 6  # bool: the file is not where the project says
    ASSIGNEE = Qt.ItemDataRole.UserRole + 7  # str | None: who holds the image (teams)


STATUS_COLORS = {
    ReviewStatus.NEW.value: QColor("#8c8c8c"),
    ReviewStatus.PRE_ANNOTATED.value: QColor("#e39a2d"),
    ReviewStatus.REVIEWED.value: QColor("#3aa55d"),
}
ROW_HEIGHT = 52
THUMB = 44
SEARCH_DEBOUNCE_MS = 150  # a burst of keystrokes runs one query, for the last one


class ImageItemDelegate(QStyledItemDelegate):
    """Thumbnail, name, then a status chip with split and counts; fixed height."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        return QSize(200, ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        style = option.widget.style() if option.widget else None
        if style is not None:
            style.drawPrimitive(
                QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget
            )
        r = option.rect
        thumb_rect = QRect(r.left() + 4, r.top() + (r.height() - THUMB) // 2, THUMB, THUMB)
        self._paint_thumb(painter, thumb_rect, index.data(Qt.ItemDataRole.DecorationRole))
        status = index.data(ImageRole.STATUS) or ReviewStatus.NEW.value
        color = STATUS_COLORS.get(status, QColor("#8c8c8c"))
        painter.fillRect(QRect(r.left(), r.top(), 3, r.height()), color)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        text_color = option.palette.highlightedText() if selected else option.palette.text()
        x = thumb_rect.right() + 8
        font = painter.font()
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(text_color.color())
        name_rect = QRect(x, r.top() + 6, r.right() - x - 4, 18)
        name = index.data(Qt.ItemDataRole.DisplayRole) or ""
        painter.drawText(name_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         painter.fontMetrics().elidedText(name, Qt.TextElideMode.ElideMiddle, name_rect.width()))  # fmt: skip
        font.setBold(False)
        painter.setFont(font)
        self._paint_details(
            painter, QRect(x, r.top() + 27, r.right() - x - 4, 18), index, color, selected
        )
        painter.restore()

    @staticmethod
    def _paint_thumb(painter: QPainter, rect: QRect, thumb: object) -> None:
        image = thumb.toImage() if isinstance(thumb, QPixmap) else thumb
        if not isinstance(image, QImage) or image.isNull():
            painter.fillRect(rect, QColor(40, 40, 40))
            return
        # Drawn straight from the QImage, scaled by the painter: no per-paint pixmap conversion.
        scale = min(rect.width() / image.width(), rect.height() / image.height())
        w, h = max(1, round(image.width() * scale)), max(1, round(image.height() * scale))
        target = QRect(
            rect.left() + (rect.width() - w) // 2, rect.top() + (rect.height() - h) // 2, w, h
        )
        painter.drawImage(target, image)

    @staticmethod
    def _paint_details(
        painter: QPainter, rect: QRect, index: QModelIndex, color: QColor, selected: bool
    ) -> None:
        status = index.data(ImageRole.STATUS) or ""
        chip_w = painter.fontMetrics().horizontalAdvance(status) + 10
        chip = QRect(rect.left(), rect.top() + 1, chip_w, rect.height() - 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(chip, 4, 4)
        painter.setPen(QColor("white"))
        painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, status)
        n_t, n_p = index.data(ImageRole.N_TARGETS) or 0, index.data(ImageRole.N_PROPOSALS) or 0
        split = index.data(ImageRole.SPLIT) or ""
        missing = bool(index.data(ImageRole.MISSING))
        if missing:
            painter.setPen(QColor("#ff8a80") if selected else QColor("#d9534f"))
        else:  # readable on the selection's highlight too (grey on blue was not)
            painter.setPen(QColor("#ffffff") if selected else QColor("#8a8a8a"))
        rest = QRect(chip.right() + 6, rect.top(), rect.right() - chip.right() - 6, rect.height())
        text = _fit_details(painter.fontMetrics(), rest.width(), split, n_t, n_p, missing)
        painter.drawText(rest, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)


def _fit_details(metrics, width: int, split: str, n_t: int, n_p: int, missing: bool) -> str:
    """The longest wording of split and counts that fits: the counts never get cut off."""
    lead = ["FILE MISSING"] if missing else []
    props = [plural(n_p, "proposal")] if n_p else []
    short_props = [f"{n_p} prop."] if n_p else []
    for parts in (
        [*lead, split, plural(n_t, "target"), *props],
        [*lead, split, f"{n_t} tgt", *short_props],
        [*lead, f"{n_t} tgt", *short_props],
        [*lead, f"{n_t}" + (f" / {n_p}" if n_p else "")],
    ):
        text = " · ".join(p for p in parts if p)
        if metrics.horizontalAdvance(text) <= width:
            return text
    return metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)


class ImageListWidget(QWidget):
    """Search box + filters + sort + the list. Emits ``current_image_changed(id)`` on user
    navigation. The model must offer ``set_query(ImageQuery)`` (see the module docstring)."""

    current_image_changed = Signal(int)
    filters_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search images by name (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.status_filter = _combo(self, "All statuses", [s.value for s in ReviewStatus])
        self.split_filter = _combo(self, "All splits", [s.value for s in Split])
        self.sort_combo = QComboBox(self)
        self.sort_combo.setToolTip("Order of the list")
        for key, spec in SORTS.items():
            self.sort_combo.addItem(spec.label, key.value)
        self.view = _list_view(self)
        self.view.setItemDelegate(ImageItemDelegate(self.view))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.count_label = QLabel(self)
        self._model: QAbstractItemModel | None = None
        self._holder: tuple[str] | None = None
        self._wanted: int | None = None  # the current image, re-selected when rows are swapped
        self._debounce = QTimer(self, singleShot=True, interval=SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._apply_filters)
        self._build_layout()
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.status_filter.currentIndexChanged.connect(self._apply_filters)
        self.split_filter.currentIndexChanged.connect(self._apply_filters)
        self.sort_combo.currentIndexChanged.connect(self._apply_filters)
        self._emit_current = True

    def _build_layout(self) -> None:
        filters = QHBoxLayout()
        filters.addWidget(self.status_filter)
        filters.addWidget(self.split_filter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.search)
        layout.addLayout(filters)
        layout.addWidget(self.sort_combo)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.count_label)

    # ---------------------------------------------------------------- model
    def set_source_model(self, model: QAbstractItemModel | None) -> None:
        self._model = model
        self.view.setModel(model)
        selection = self.view.selectionModel()
        if selection is not None:
            selection.currentChanged.connect(self._on_current_changed)
        if model is not None:
            model.modelReset.connect(self._on_reset)
            for signal in (model.rowsInserted, model.rowsRemoved):
                signal.connect(self._update_count)
        self._update_count()

    def query(self) -> ImageQuery:
        """The filters and order as set in the widgets."""
        return ImageQuery(
            search=self.search.text().strip(),
            status=_enum_or_none(ReviewStatus, self.status_filter.currentData()),
            split=_enum_or_none(Split, self.split_filter.currentData()),
            holder=self._holder,
            sort=ImageSort(self.sort_combo.currentData() or ImageSort.NAME.value),
        )

    def _update_count(self, *_args: object) -> None:
        model = self._model
        shown = model.rowCount() if model is not None else 0
        total_of = getattr(model, "total_count", None)
        total = total_of() if total_of is not None else shown
        self.count_label.setText(f"{shown} of {plural(total, 'image')}")

    def _apply_filters(self, *_args: object) -> None:
        self._debounce.stop()
        keep = self.current_id()
        if keep is not None:
            self._wanted = keep
        if self._model is not None:
            self._model.set_query(self.query())
        self.filters_changed.emit()

    def _on_reset(self) -> None:
        """New rows swapped in: select the current image again (it stays where the user is)."""
        if self._wanted is not None:
            self._select(self._wanted, emit=False)
        self._update_count()

    def sync(self) -> None:
        """Run a pending search now and wait for the model's answer (before reading rows)."""
        if self._debounce.isActive():
            self._apply_filters()
        sync = getattr(self._model, "sync", None)
        if sync is not None:
            sync()

    def set_filters(
        self, search: str = "", status: str | None = None, split: str | None = None
    ) -> None:
        self.search.setText(search)
        self.status_filter.setCurrentIndex(max(self.status_filter.findData(status), 0))
        self.split_filter.setCurrentIndex(max(self.split_filter.findData(split), 0))
        self._apply_filters()

    def set_sort(self, sort: ImageSort) -> None:
        self.sort_combo.setCurrentIndex(max(self.sort_combo.findData(ImageSort(sort).value), 0))

    def set_assignee_filter(self, active: bool, assignee: str | None = None) -> None:
        holder = (assignee or "",) if active else None
        if holder != self._holder:
            self._holder = holder
            self._apply_filters()

    # ---------------------------------------------------------------- navigation
    def visible_ids(self) -> list[int]:
        self.sync()
        ids = getattr(self._model, "ids", None)
        if ids is not None:
            return ids()
        return [int(self._model.index(r, 0).data(ImageRole.ID)) for r in range(self._rows())]

    def _rows(self) -> int:
        return self._model.rowCount() if self._model is not None else 0

    def current_id(self) -> int | None:
        value = self.view.currentIndex().data(ImageRole.ID)
        return int(value) if value is not None else None

    def set_current_id(self, image_id: int, emit: bool = True) -> bool:
        """Make ``image_id`` current (scrolls to it); False when it is filtered out or unknown.
        While the model's answer is pending it is selected when the rows arrive."""
        self._wanted = int(image_id)
        pending = getattr(self._model, "pending", None)
        if pending is not None and pending():
            return True
        return self._select(int(image_id), emit)

    def _select(self, image_id: int, emit: bool) -> bool:
        index = self._index_of(image_id)
        if index is None:
            return False
        self._emit_current = emit
        try:
            self.view.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            )
        finally:
            self._emit_current = True
        self.view.scrollTo(index)
        return True

    def neighbour_id(self, step: int) -> int | None:
        """The image ``step`` rows away in the visible order (None past either end)."""
        self.sync()
        rows = self._rows()
        if rows == 0:
            return None
        current = self.view.currentIndex()
        row = current.row() + step if current.isValid() else (0 if step > 0 else rows - 1)
        return int(self._model.index(row, 0).data(ImageRole.ID)) if 0 <= row < rows else None

    def next_matching(self, accept: Callable[[QModelIndex], bool]) -> int | None:
        """The first visible image after the current one (wrapping) for which ``accept`` holds
        (reads every row: for small lists; the app model answers *next unreviewed* in SQL)."""
        self.sync()
        rows = self._rows()
        start = self.view.currentIndex().row() if self.view.currentIndex().isValid() else -1
        for k in range(1, rows + 1):
            index = self._model.index((start + k) % rows, 0)
            if accept(index):
                return int(index.data(ImageRole.ID))
        return None

    def selected_ids(self) -> list[int]:
        """Selected images in list order (ranges read at once: select-all of 1M rows is cheap)."""
        selection = self.view.selectionModel()
        if selection is None:
            return []
        between = getattr(self._model, "ids_between", None)
        out: list[tuple[int, list[int]]] = []
        for rng in selection.selection():
            top, bottom = rng.top(), rng.bottom()
            if between is not None:
                out.append((top, between(top, bottom)))
            else:
                out.append((top, [int(self._model.index(r, 0).data(ImageRole.ID))
                                  for r in range(top, bottom + 1)]))  # fmt: skip
        return [i for _, ids in sorted(out, key=lambda t: t[0]) for i in ids]

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def _index_of(self, image_id: int) -> QModelIndex | None:
        model = self._model
        if model is None:
            return None
        row_of = getattr(model, "row_of", None)  # fast path: the app model maps id -> row
        if row_of is not None:
            row = row_of(image_id)
            index = model.index(row, 0) if row is not None else QModelIndex()
        else:
            hits = model.match(
                model.index(0, 0), ImageRole.ID, image_id, 1, Qt.MatchFlag.MatchExactly
            )
            index = hits[0] if hits else QModelIndex()
        return index if index.isValid() else None

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        value = current.data(ImageRole.ID) if current.isValid() else None
        if value is None:
            return  # a row whose id is not read yet (the list's answer is still coming)
        self._wanted = int(value)
        if self._emit_current:
            self.current_image_changed.emit(int(value))


def _list_view(parent: QWidget) -> QTableView:
    """A one-column table shown as a list. Not a QListView: its layout asks the model for an index
    of every row (a Python call each: 1.8 s for a million rows after every filter change); a
    table's rows are fixed-height header sections, laid out without asking the model."""
    view = QTableView(parent)
    view.horizontalHeader().hide()
    view.verticalHeader().hide()
    view.horizontalHeader().setStretchLastSection(True)
    rows = view.verticalHeader()
    rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    rows.setDefaultSectionSize(ROW_HEIGHT)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    return view


def _enum_or_none(cls, value):
    return cls(value) if value is not None else None


def _combo(parent: QWidget, all_label: str, values: list[str]) -> QComboBox:
    combo = QComboBox(parent)
    # Narrow docks (a 1366-px screen) may squeeze the two filters side by side.
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(5)
    combo.addItem(all_label, None)
    for value in values:
        combo.addItem(value, value)
    return combo
