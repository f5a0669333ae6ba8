"""The one table of keyboard shortcuts: menus, tooltips and the cheat sheet all read it.

Entries with ``on_canvas=True`` are keys the canvas handles itself (nudge, delete, accept...):
their menu items show the key as a label only, so that a window-wide QAction never steals the
key from the canvas (e.g. Delete means "delete vertex" in sky-edit mode).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


@dataclass(frozen=True)
class Shortcut:
    action_id: str
    label: str
    keys: tuple[str, ...]  # QKeySequence portable strings; empty for menu-only actions
    category: str
    on_canvas: bool = False  # the canvas handles the key; menus only show it


SHORTCUTS: tuple[Shortcut, ...] = (
    # File
    Shortcut("new_project", "&New Project...", ("Ctrl+N",), "File"),
    Shortcut("open_project", "&Open Project...", ("Ctrl+O",), "File"),
    Shortcut("open_demo", "Open the &Demo Project", (), "File"),
    Shortcut("import", "&Import...", ("Ctrl+I",), "File"),
    Shortcut("export", "&Export...", ("Ctrl+E",), "File"),
    Shortcut("close_project", "&Close Project", ("Ctrl+W",), "File"),
    Shortcut("quit", "&Quit", ("Ctrl+Q",), "File"),
    # Edit
    Shortcut("undo", "&Undo", ("Ctrl+Z",), "Edit"),
    Shortcut("redo", "&Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Edit"),
    Shortcut("add_target", "Add target (click on the image)", ("Click",), "Edit", True),
    Shortcut("delete", "&Delete selected", ("Del", "Backspace"), "Edit", True),
    Shortcut("nudge", "Nudge selected by 1 px", ("Arrows",), "Edit", True),
    Shortcut("resize", "Resize selected box by 1 px", ("Shift+Arrows",), "Edit", True),
    Shortcut("accept", "&Accept selected proposals", ("A",), "Edit", True),
    Shortcut("reject", "Re&ject selected proposals", ("R",), "Edit", True),
    Shortcut("select_all", "Select all visible targets", ("Ctrl+A",), "Edit", True),
    Shortcut("cancel", "Cancel the drawing or drag in progress", ("Esc",), "Edit", True),
    Shortcut(
        "accept_above", "Accept all proposals above the &threshold", ("Ctrl+Shift+A",), "Edit"
    ),
    Shortcut("accept_sky", "Accept the proposed s&ky", ("Ctrl+Shift+K",), "Edit"),
    # Modes
    Shortcut("mode_edit", "&Edit targets", ("1",), "Mode"),
    Shortcut("mode_draw_sky", "&Draw sky polygon", ("2",), "Mode"),
    Shortcut("mode_edit_sky", "Edit sky &vertices", ("3",), "Mode"),
    Shortcut(
        "sky_subtract", "Close the sky polygon as a subtraction", ("Shift+Enter",), "Mode", True
    ),
    Shortcut("toggle_sky", "Show / hide the &sky", ("H",), "View"),
    Shortcut("fit", "&Fit the image", ("F", "Home"), "View", True),
    Shortcut("zoom", "Zoom at the cursor", ("Wheel",), "View", True),
    Shortcut("pan", "Pan", ("Middle/right drag", "Space+drag"), "View", True),
    Shortcut("loupe", "Show / hide the &loupe", ("L",), "View", True),
    Shortcut("cheat_sheet", "&Keyboard Shortcuts", ("F1", "?"), "Help"),
    # Navigation and review
    Shortcut("next_image", "&Next image", ("D", "PgDown"), "Navigate"),
    Shortcut("prev_image", "&Previous image", ("S", "PgUp"), "Navigate"),
    Shortcut("next_unreviewed", "Next &unreviewed image", ("N",), "Navigate"),
    Shortcut(
        "mark_reviewed",
        "Mark &reviewed and go to the next unreviewed",
        ("Ctrl+Return", "Ctrl+Enter"),
        "Navigate",
    ),  # fmt: skip
    Shortcut("find", "&Search images", ("Ctrl+F",), "Navigate"),
)

BY_ID = {s.action_id: s for s in SHORTCUTS}


def key_text(shortcut: Shortcut) -> str:
    """Human-readable keys, in the platform's native spelling where Qt knows the key."""
    parts = []
    for key in shortcut.keys:
        seq = QKeySequence(key)
        native = seq.toString(QKeySequence.SequenceFormat.NativeText)
        parts.append(native if native and not shortcut.on_canvas else key)
    return ", ".join(parts)


def make_action(parent: QWidget, action_id: str, slot: Callable[[], object] | None) -> QAction:
    """A QAction labelled and keyed from the table (canvas keys appear as label text only)."""
    spec = BY_ID[action_id]
    action = QAction(spec.label, parent)
    action.setObjectName(f"action_{action_id}")
    if spec.keys and not spec.on_canvas:
        action.setShortcuts([QKeySequence(k) for k in spec.keys])
        # Window-wide so the keys work whichever dock has focus (text fields still get typing).
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    elif spec.keys:
        action.setText(f"{spec.label}\t{key_text(spec)}")
    tip = spec.label.replace("&", "")
    action.setToolTip(f"{tip} ({key_text(spec)})" if spec.keys else tip)
    action.setStatusTip(action.toolTip())
    if slot is not None:
        action.triggered.connect(lambda _checked=False: slot())
    parent.addAction(action)  # so its shortcut works even when it is in no visible menu
    return action


class CheatSheetDialog(QDialog):
    """Every shortcut, grouped by category, straight from ``SHORTCUTS``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.setObjectName("cheat_sheet")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Every edit is saved at once and can be undone (Ctrl+Z)."))
        self.table = QTableWidget(len(SHORTCUTS), 3, self)
        self.table.setHorizontalHeaderLabels(["Group", "Action", "Keys"])
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        ordered = sorted(SHORTCUTS, key=lambda s: _CATEGORY_ORDER.index(s.category))
        for row, spec in enumerate(ordered):
            for col, text in enumerate(
                (spec.category, spec.label.replace("&", ""), key_text(spec))
            ):
                self.table.setItem(row, col, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(640, min(120 + len(SHORTCUTS) * (self.fontMetrics().height() + 6), 900))

    def rows(self) -> list[tuple[str, str, str]]:
        """The table as text (tests compare it with the menus)."""
        return [
            tuple(self.table.item(r, c).text() for c in range(3))  # type: ignore[misc]
            for r in range(self.table.rowCount())
        ]


_CATEGORY_ORDER = ["Edit", "Navigate", "Mode", "View", "File", "Help"]
