"""The Training dock's "before you activate" table: the new model next to the active one on the
project's val images (figures from `main.py train --compare`, model.compare), and "Activate"."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

# (key in a model's figures, row label, decimals, higher is better); same rows as model.compare.ROWS,
# kept here so the GUI does not import torch-side modules
ROWS = (
    ("mAP07", "mAP07", 3, True),
    ("pd", "Pd", 3, True),
    ("fa_per_image", "False alarms / image", 2, False),
    ("sky_iou", "Sky IoU", 3, True),
    ("corrections_per_image", "Corrections / image", 2, False),
)
COLUMNS = ("Active", "New", "Change")


def cell_texts(comparison: dict) -> list[tuple[str, str, str]]:
    """(active, new, change) texts per row of ROWS; "-" where a figure is missing."""
    out = []
    for key, _label, digits, higher in ROWS:
        old = (comparison.get("active") or {}).get(key)
        new = (comparison.get("new") or {}).get(key)
        fmt = (lambda v, d=digits: f"{v:.{d}f}" if isinstance(v, int | float) else "-")  # noqa: E731
        change = "-"
        if isinstance(old, int | float) and isinstance(new, int | float):
            delta = round(new - old, digits)
            verdict = "same" if delta == 0 else ("better" if (delta > 0) == higher else "worse")
            change = f"{delta:+.{digits}f} ({verdict})"
        out.append((fmt(old), fmt(new), change))
    return out


class ComparisonView(QWidget):
    """Hidden until a comparison arrives; "Activate" asks the dock to make the new version active."""

    activate_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.title = QLabel("")
        self.title.setWordWrap(True)
        self.table = QTableWidget(len(ROWS), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setVerticalHeaderLabels([label for _k, label, _d, _h in ROWS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(self.table.verticalHeader().length() + 40)
        self.activate_button = QPushButton("Activate the new model")
        self.activate_button.setToolTip("Pre-annotation then uses the new model (the picker above switches back)")
        self.activate_button.clicked.connect(self.activate_requested)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.activate_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.table)
        layout.addLayout(row)
        self.clear()

    def clear(self) -> None:
        self.table.clearContents()
        self.title.setText("")
        self.activate_button.setEnabled(False)
        self.hide()

    def show_progress(self, done: int, total: int, active_name: str | None = None) -> None:
        self.show()
        against = f" with {active_name!r}" if active_name else ""
        self.title.setText(f"Comparing{against} on the val images: {done} / {total}…")

    def show_comparison(self, comparison: dict, can_activate: bool) -> None:
        """Fill the table from a "comparison" event (or RUN_DIR/comparison.json)."""
        self.show()
        active, new = comparison.get("active_name", "active"), comparison.get("new_name", "new")
        if comparison.get("error"):
            self.table.clearContents()
            self.title.setText(f"No comparison: {comparison['error']}.")
        else:
            for r, texts in enumerate(cell_texts(comparison)):
                for c, text in enumerate(texts):
                    self.table.setItem(r, c, QTableWidgetItem(text))
            n = comparison.get("images", 0)
            self.title.setText(f"New model {new!r} against the active {active!r} on {n} val "
                               f"image{'' if n == 1 else 's'} (each at its own thresholds).")
        # the names are in the title: a narrow dock would cut them in the headers
        self.table.horizontalHeaderItem(0).setToolTip(f"the active model, {active}")
        self.table.horizontalHeaderItem(1).setToolTip(f"the model of this run, {new}")
        self.activate_button.setEnabled(can_activate)

    def cell(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text() if item is not None else ""
