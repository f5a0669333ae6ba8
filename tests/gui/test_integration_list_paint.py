"""The image list row of a narrow list: the details line is elided ("…"), never cut mid-letter."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QImage, QPainter, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QListView, QStyleOptionViewItem

from widgets.image_list import ROW_HEIGHT, ImageItemDelegate, ImageRole


@pytest.fixture
def row(qtbot):
    model = QStandardItemModel()
    item = QStandardItem("demo-11")
    for role, value in ((ImageRole.ID, 11), (ImageRole.STATUS, "pre-annotated"),
                        (ImageRole.SPLIT, "unassigned"), (ImageRole.N_TARGETS, 0),
                        (ImageRole.N_PROPOSALS, 100), (ImageRole.MISSING, False)):  # fmt: skip
        item.setData(value, role)
    model.appendRow(item)
    view = QListView()
    view.setModel(model)
    qtbot.addWidget(view)
    return view, model.index(0, 0)


def painted_texts(view, index, width: int, monkeypatch) -> list[tuple[int, str]]:
    """(available width, text) of every drawText call while painting one row."""
    calls: list[tuple[int, str]] = []
    real = QPainter.drawText

    def spy(self, *args):
        if len(args) == 3 and isinstance(args[0], QRect):
            calls.append((args[0].width(), args[2]))
        return real(self, *args)

    monkeypatch.setattr(QPainter, "drawText", spy)
    image = QImage(width, ROW_HEIGHT, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    option = QStyleOptionViewItem()
    option.rect = QRect(0, 0, width, ROW_HEIGHT)
    option.widget = view
    try:
        ImageItemDelegate(view).paint(painter, option, index)
    finally:
        painter.end()
    return calls


def test_a_narrow_row_elides_its_details(row, monkeypatch):
    view, index = row
    texts = painted_texts(view, index, 300, monkeypatch)
    width, text = texts[-1]  # name, status chip, then the details line
    assert text.startswith("unassigned") and text.endswith("…")
    assert "100 proposals" not in text
    assert view.fontMetrics().horizontalAdvance(text) <= width


def test_a_wide_row_shows_all_details(row, monkeypatch):
    view, index = row
    texts = painted_texts(view, index, 600, monkeypatch)
    assert texts[-1][1] == "unassigned · 0 targets · 100 proposals"
