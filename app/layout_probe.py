"""What the screen-level layout tests need to know about the docks (tests/screen/test_layout_fit.py).

Written into the screen probe's file (app/screen_probe.py) when ``SIRST_SCREEN_PROBE_LAYOUT`` is
set: each dock's controls that are cut off by the dock's edge (or by a scroll area they sit in),
form panels whose scroll bars show, labels and buttons narrower than their text, and where the
canvas, the dock tabs and the "Mark reviewed & next" button are on the screen. Data views that
scroll by design (lists, tables, galleries, plot grids) are not controls and are left out.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QComboBox,
    QDockWidget,
    QLabel,
    QLineEdit,
    QScrollArea,
    QTabBar,
    QWidget,
)

from core.domain import TargetState

LAYOUT_ENV = "SIRST_SCREEN_PROBE_LAYOUT"
CONTROLS = (QAbstractButton, QLabel, QComboBox, QLineEdit, QAbstractSpinBox)
PANEL_SCROLL = "panel_scroll"  # the name widgets/scrolling.py gives a form panel's scroll area


def enabled() -> bool:
    return bool(os.environ.get(LAYOUT_ENV))


def _global(widget: QWidget) -> QRect:
    return QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())


def _rect(widget: QWidget | None) -> list[int] | None:
    if widget is None or not widget.isVisible():
        return None
    r = _global(widget)
    return [r.x(), r.y(), r.width(), r.height()]


def _in_data_view(widget: QWidget, dock: QDockWidget) -> bool:
    """Inside a list, table, gallery or any scroll area that is not a form panel's own."""
    parent = widget.parentWidget()
    while parent is not None and parent is not dock:
        if isinstance(parent, QAbstractItemView):
            return True
        if isinstance(parent, QAbstractScrollArea) and parent.objectName() != PANEL_SCROLL:
            return True
        parent = parent.parentWidget()
    return False


def _clipped_by(widget: QWidget, dock: QDockWidget) -> str | None:
    """The first ancestor (up to the dock) whose rectangle does not hold all of ``widget``."""
    rect = _global(widget)
    parent = widget.parentWidget()
    while parent is not None:
        if not _global(parent).contains(rect):
            return parent.objectName() or type(parent).__name__
        if parent is dock:
            return None
        parent = parent.parentWidget()
    return None


def _text_cut(widget: QWidget) -> bool:
    """A one-line label or a button narrower than its text."""
    if isinstance(widget, QLabel):
        if widget.wordWrap() or not widget.text() or widget.pixmap() is not None:
            return False
        return widget.width() < widget.minimumSizeHint().width()
    if isinstance(widget, QAbstractButton) and widget.text():
        return widget.width() < widget.fontMetrics().horizontalAdvance(
            widget.text().replace("&", "")
        )
    return False


def dock_problems(dock: QDockWidget) -> list[str]:
    """Why a shown dock does not show all its controls (empty when it does)."""
    problems = []
    inner = dock.widget()
    for area in inner.findChildren(QScrollArea):
        if area.objectName() == PANEL_SCROLL and area.isVisible():
            for bar in (area.horizontalScrollBar(), area.verticalScrollBar()):
                if bar.isVisible():
                    problems.append(f"scroll bar shows ({bar.orientation().name})")
    for widget in inner.findChildren(QWidget):
        if not isinstance(widget, CONTROLS) or not widget.isVisible():
            continue
        if _in_data_view(widget, dock) or isinstance(widget.parentWidget(), CONTROLS):
            continue  # e.g. a spin box's own line edit
        name = widget.objectName() or getattr(widget, "text", lambda: "")() or type(widget).__name__
        clip = _clipped_by(widget, dock)
        if clip is not None:
            problems.append(f"{name!r} cut off by {clip}")
        elif _text_cut(widget):
            problems.append(f"{name!r} narrower than its text")
    return problems


def layout_state(window) -> dict:
    """Docks (shown or not, problems), dock tabs, canvas, window, workspace, review button."""
    docks = []
    for dock in window.findChildren(QDockWidget):
        shown = dock.isVisible() and not dock.visibleRegion().isEmpty()
        docks.append({
            "name": dock.objectName(),
            "title": dock.windowTitle(),
            "shown": shown,
            "floating": dock.isFloating(),
            "rect": _rect(dock) if shown else None,
            "problems": dock_problems(dock) if shown else [],
        })  # fmt: skip
    tabs = []
    for bar in window.findChildren(QTabBar):
        if bar.parentWidget() is window and bar.isVisible():
            for i in range(bar.count()):
                r = bar.tabRect(i)
                p = bar.mapToGlobal(r.topLeft())
                tabs.append(
                    {"title": bar.tabText(i), "rect": [p.x(), p.y(), r.width(), r.height()]}
                )
    return {
        "workspace": window.workspaces.current.value,
        "docks": docks,
        "tabs": tabs,
        "canvas": _rect(window.canvas),
        "review_button": _rect(window.image_panel.review_button),
        "proposals_shown": len(set(window.canvas.visible_ids()) & _proposal_ids(window)),
    }


def _proposal_ids(window) -> set[int]:
    document = window.document
    if document is None:
        return set()
    return {int(t.id) for t in document.targets if t.state == TargetState.PROPOSAL}
