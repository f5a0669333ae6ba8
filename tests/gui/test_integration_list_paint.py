"""The image list row of a narrow list: the counts stay (shorter words), never cut mid-letter."""

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


def test_a_narrow_row_keeps_its_counts(row, monkeypatch):
    view, index = row
    width, text = painted_texts(view, index, 300, monkeypatch)[-1]  # the details line
    assert "0 tgt" in text and "100 prop." in text, text
    assert view.fontMetrics().horizontalAdvance(text) <= width
    width, text = painted_texts(view, index, 230, monkeypatch)[-1]
    assert text == "0 / 100" and view.fontMetrics().horizontalAdvance(text) <= width


def test_a_wide_row_shows_all_details(row, monkeypatch):
    view, index = row
    texts = painted_texts(view, index, 600, monkeypatch)
    assert texts[-1][1] == "unassigned · 0 targets · 100 proposals"
