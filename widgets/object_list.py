"""The open image's targets and proposals as a table (as labelme's and X-AnyLabeling's object
lists): id, state, score, size; sortable by any column; selection kept in step with the canvas;
toggles that hide accepted targets or proposals (on the canvas and here alike).

Qt only: the window (app/object_list_panel.py) feeds it the document's targets and forwards the
requests to the canvas.
"""

from __future__ import annotations

import math

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.domain import Target, TargetState
from widgets.text import plural

COLUMNS = ("#", "State", "Score", "Size")
ID_COL, STATE_COL, SCORE_COL, SIZE_COL = range(len(COLUMNS))
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # numbers for the score / size / id columns
ID_ROLE = Qt.ItemDataRole.UserRole + 2
PROPOSAL_COLOR = QColor("#d08a1c")  # the canvas draws proposals orange


def _size(t: Target) -> tuple[float, str]:
    if t.box is None:
        return 0.0, "point"
    w, h = t.box[2] - t.box[0], t.box[3] - t.box[1]
    return w * h, f"{_px(w)} x {_px(h)}"


def _px(v: float) -> str:
    """Whole pixels as such (hand-drawn boxes), model boxes to a tenth of a pixel."""
    return f"{v:.0f}" if abs(v - round(v)) < 1e-6 else f"{v:.1f}"


class ObjectTableModel(QAbstractTableModel):
    """One row per target shown: accepted ones and proposals at or above the threshold."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[Target] = []

    def set_rows(self, targets: list[Target]) -> None:
        self.beginResetModel()
        self._rows = list(targets)
        self.endResetModel()

    def target(self, row: int) -> Target:
        return self._rows[row]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        t, col = self._rows[index.row()], index.column()
        if role == ID_ROLE:
            return int(t.id)
        proposal = t.state == TargetState.PROPOSAL
        if role == Qt.ItemDataRole.DisplayRole:
            if col == ID_COL:
                return str(t.id)
            if col == STATE_COL:
                return "proposal" if proposal else t.source.value
            if col == SCORE_COL:
                return "" if t.score is None else f"{t.score:.2f}"
            return _size(t)[1]
        if role == SORT_ROLE:
            if col == ID_COL:
                return int(t.id)
            if col == STATE_COL:
                return (1 if proposal else 0, t.source.value)
            if col == SCORE_COL:  # unscored (hand-made) targets rank below every score
                return -math.inf if t.score is None else float(t.score)
            return _size(t)[0]
        if role == Qt.ItemDataRole.ForegroundRole and proposal:
            return PROPOSAL_COLOR
        if role == Qt.ItemDataRole.ToolTipRole:
            where = t.point if t.point is not None else t.box
            return f"{'proposal' if proposal else 'accepted'}, {t.source.value}, at {where}"
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (ID_COL, SCORE_COL):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class _SortProxy(QSortFilterProxyModel):
    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:  # noqa: N802
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if a == b:  # ties in id order, whatever the direction
            return left.data(ID_ROLE) < right.data(ID_ROLE)
        return a < b


class ObjectListWidget(QWidget):
    """Emits ``selection_requested(ids)`` when the user selects rows, ``centre_requested(id)``
    when one row is chosen, ``kinds_changed(show_targets, show_proposals)`` on the toggles."""

    selection_requested = Signal(list)
    centre_requested = Signal(int)
    kinds_changed = Signal(bool, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._all: list[Target] = []
        self._threshold = 0.0
        self._syncing = False
        self.model = ObjectTableModel(self)
        self.proxy = _SortProxy(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView(self)
        self.table.setObjectName("object_table")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(SCORE_COL, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(SIZE_COL, QHeaderView.ResizeMode.Stretch)
        self.targets_check = QCheckBox("Targets", self)
        self.proposals_check = QCheckBox("Proposals", self)
        for check in (self.targets_check, self.proposals_check):
            check.setChecked(True)
            check.setToolTip("Show or hide these on the canvas and in this list")
            check.toggled.connect(self._kinds_toggled)
        self.summary = QLabel("", self)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.targets_check)
        top.addWidget(self.proposals_check)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)
        self.table.selectionModel().selectionChanged.connect(self._rows_selected)
        self.table.clicked.connect(self._row_chosen)
        self.table.activated.connect(self._row_chosen)

    # ------------------------------------------------------------------ input
    def set_targets(self, targets: list[Target]) -> None:
        """The open image's targets (stored ones: with ids); keeps the selection by id."""
        self._all = [t for t in targets if t.id is not None]
        self._refill()

    def set_threshold(self, threshold: float) -> None:
        """Proposals below it are hidden on the canvas, so they leave the list too."""
        self._threshold = float(threshold)
        self._refill()

    def set_selected(self, ids: list[int]) -> None:
        """Select the rows of ``ids`` (the canvas's selection) without echoing it back."""
        wanted = {int(i) for i in ids}
        selection = QItemSelection()
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(ID_ROLE) in wanted:
                selection.select(index, self.proxy.index(row, len(COLUMNS) - 1))
        self._syncing = True
        try:
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
            self.table.selectionModel().select(selection, flags)
            if not selection.isEmpty():
                self.table.scrollTo(selection.indexes()[0])
        finally:
            self._syncing = False

    # ------------------------------------------------------------------ output
    def ids(self) -> list[int]:
        """The listed ids in the table's (sorted) order."""
        return [self.proxy.index(r, 0).data(ID_ROLE) for r in range(self.proxy.rowCount())]

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.proxy.index(r, 0).data(ID_ROLE) for r in rows]

    def shown_kinds(self) -> tuple[bool, bool]:
        return self.targets_check.isChecked(), self.proposals_check.isChecked()

    # ------------------------------------------------------------------ internals
    def _shown(self, t: Target) -> bool:
        if t.state == TargetState.PROPOSAL:
            return self.proposals_check.isChecked() and (t.score or 0.0) >= self._threshold
        return self.targets_check.isChecked()

    def _refill(self) -> None:
        keep = self.selected_ids()
        rows = [t for t in self._all if self._shown(t)]
        self._syncing = True
        try:
            self.model.set_rows(rows)
        finally:
            self._syncing = False
        self.set_selected(keep)
        n_acc = sum(t.state == TargetState.ACCEPTED for t in self._all)
        n_prop = len(self._all) - n_acc
        shown_prop = sum(t.state == TargetState.PROPOSAL for t in rows)
        text = f"{plural(n_acc, 'target')}, {plural(n_prop, 'proposal')}"
        if shown_prop != n_prop:
            text += f" ({shown_prop} listed)"
        self.summary.setText(text)

    def _kinds_toggled(self) -> None:
        self._refill()
        self.kinds_changed.emit(*self.shown_kinds())

    def _rows_selected(self, *_args) -> None:
        if not self._syncing:
            self.selection_requested.emit(self.selected_ids())

    def _row_chosen(self, index: QModelIndex) -> None:
        if index.isValid() and len(self.selected_ids()) <= 1:
            self.centre_requested.emit(int(index.data(ID_ROLE)))
