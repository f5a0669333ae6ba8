"""Dock contents that scroll instead of pushing the window off the screen.

A QMainWindow grows to the sum of its docks' minimum heights; a panel whose form needs 400 px
stacked over another one grew the window past a 1000-px screen (issue 9, rough edge 1). Inside a
scroll area a panel's minimum is a few lines; its natural size is still what the dock asks for.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLayout, QScrollArea, QVBoxLayout, QWidget

MIN_HEIGHT = 90  # a dock squeezed to this still shows a couple of rows and the scroll bar


def scrolled(layout: QLayout, parent: QWidget | None = None) -> QScrollArea:
    """A frameless, resizable scroll area holding the widgets of ``layout`` (vertical scrolling)."""
    inner = QWidget()
    inner.setLayout(layout)
    area = QScrollArea(parent)
    area.setObjectName("panel_scroll")  # a form panel's own scroll area (app/layout_probe.py)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    area.setWidget(inner)
    area.setMinimumHeight(MIN_HEIGHT)
    return area


def set_scrolled_layout(widget: QWidget, layout: QLayout) -> QScrollArea:
    """Give ``widget`` one child, a scroll area showing ``layout``; returns the scroll area."""
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    area = scrolled(layout, widget)
    outer.addWidget(area)
    return area
