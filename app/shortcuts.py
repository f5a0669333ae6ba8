"""The one table of keyboard shortcuts: menus, tooltips and the cheat sheet all read it.

``SHORTCUTS`` holds the main window's own actions. Panels add theirs at install time through
``panel_action`` (MainWindow.register_action), which puts them in the window's ``ShortcutTable``
after checking that no key is bound twice, so the cheat sheet lists them too.

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

from core.errors import SirstError


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
    Shortcut("accept", "&Accept selected proposals, then the next", ("A",), "Edit", True),
    Shortcut("reject", "Re&ject selected proposals, then the next", ("R",), "Edit", True),
    Shortcut("select_all", "Select all visible targets", ("Ctrl+A",), "Edit", True),
    Shortcut("cancel", "Cancel the drawing or drag; elsewhere: keys back to the canvas",
             ("Esc",), "Edit", True),
    Shortcut(
        "accept_above", "Accept all proposals above the &threshold", ("Ctrl+Shift+A",), "Edit"
    ),
    Shortcut("accept_sky", "Accept the proposed s&ky", ("Ctrl+Shift+K",), "Edit"),
    # Modes
    Shortcut("mode_edit", "&Edit targets", ("1",), "Mode"),
    Shortcut("mode_draw_sky", "&Draw sky polygon", ("2",), "Mode"),
    Shortcut("mode_edit_sky", "Edit sky &vertices", ("3",), "Mode"),
    Shortcut("mode_paint_sky", "&Paint sky with a brush", ("4",), "Mode"),
    Shortcut(
        "sky_close", "Close the sky polygon (adds sky)", ("Enter", "Double-click"), "Mode", True
    ),
    Shortcut(
        "sky_subtract", "Close the sky polygon as a subtraction", ("Shift+Enter",), "Mode", True
    ),
    Shortcut("sky_vertex_undo", "Drop the polygon's last vertex", ("Backspace",), "Mode", True),
    Shortcut(
        "sky_vertex_delete", "Delete the selected sky vertex (edit sky)",
        ("Right-click", "Del"), "Mode", True,
    ),  # fmt: skip
    Shortcut("sky_brush_erase", "Erase sky with the brush (paint sky)", ("Shift+drag",), "Mode", True),
    Shortcut("sky_brush_size", "Smaller / larger brush (paint sky)", ("[", "]"), "Mode", True),
    Shortcut("toggle_sky", "Show / hide the &sky", ("H",), "View"),
    Shortcut("toggle_bad_pixels", "Show / hide &bad-pixel markers", ("B",), "View"),
    Shortcut("fit", "&Fit the image", ("F", "Home"), "View", True),
    Shortcut("zoom", "Zoom at the cursor", ("Wheel",), "View", True),
    Shortcut("pan", "Pan", ("Middle/right drag", "Space+drag"), "View", True),
    Shortcut("loupe", "Show / hide the &loupe", ("L",), "View", True),
    Shortcut("cheat_sheet", "&Keyboard Shortcuts", ("F1", "?"), "Help"),
    # Workspaces and layout (app/workspaces.py builds these actions)
    Shortcut("workspace_label", "&Label workspace", ("Alt+1",), "View"),
    Shortcut("workspace_train", "&Train workspace", ("Alt+2",), "View"),
    Shortcut("workspace_inspect", "&Inspect workspace", ("Alt+3",), "View"),
    Shortcut("reset_layout", "&Reset Layout", (), "View"),
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

# The main window's menus and toolbar labels, by action id (None = separator).
MENUS: dict[str, list[str | None]] = {
    "&File": ["new_project", "open_project", "open_demo", None, "import", "export", None,
              "close_project", "quit"],
    "&Edit": ["undo", "redo", None, "delete", "select_all", None, "accept", "reject",
              "accept_above", "accept_sky"],
    "&View": ["mode_edit", "mode_draw_sky", "mode_edit_sky", "mode_paint_sky", None, "toggle_sky", "toggle_bad_pixels",
              "fit", "loupe"],
    "&Navigate": ["next_image", "prev_image", "next_unreviewed", "mark_reviewed", None, "find"],
}  # fmt: skip
# Mouse gestures and keys that only make sense on the canvas (nudge, pan...) are listed in the
# cheat sheet only; every menu item above does something when chosen.
# Undo / Redo keep a fixed toolbar label (the menu says "Undo Move target"): a label that changes
# length with every edit made the whole toolbar jump sideways.
TOOLBAR_TEXT = {"undo": "Undo", "redo": "Redo",
                "accept_above": "Accept above threshold", "accept_sky": "Accept sky",
                "mode_edit": "Targets", "mode_draw_sky": "Draw sky", "mode_edit_sky": "Edit sky",
                "mode_paint_sky": "Paint sky"}  # fmt: skip


def key_text(shortcut: Shortcut) -> str:
    """Human-readable keys, in the platform's native spelling where Qt knows the key."""
    parts = []
    for key in shortcut.keys:
        seq = QKeySequence(key)
        native = seq.toString(QKeySequence.SequenceFormat.NativeText)
        parts.append(native if native and not shortcut.on_canvas else key)
    return ", ".join(parts)


class ShortcutError(SirstError):
    """A panel tried to register an action id or a key that is already taken."""


def _key_name(key: str) -> str:
    """Portable spelling used to compare keys ("Ctrl+Return" and "ctrl+return" are one key)."""
    return QKeySequence(key).toString() or key.lower()


class ShortcutTable:
    """``SHORTCUTS`` plus the actions panels register at runtime (one table per main window)."""

    def __init__(self, base: tuple[Shortcut, ...] = SHORTCUTS) -> None:
        self._specs: dict[str, Shortcut] = {s.action_id: s for s in base}

    def specs(self) -> list[Shortcut]:
        return list(self._specs.values())

    def get(self, action_id: str) -> Shortcut:
        return self._specs[action_id]

    def __contains__(self, action_id: object) -> bool:
        return action_id in self._specs

    def __len__(self) -> int:
        return len(self._specs)

    def owner_of(self, key: str) -> Shortcut | None:
        """The entry already using ``key`` (canvas keys count: a window-wide one would steal it)."""
        name = _key_name(key)
        for spec in self._specs.values():
            if any(_key_name(k) == name for k in spec.keys):
                return spec
        return None

    def register(self, spec: Shortcut) -> Shortcut:
        """Add a panel's entry; ShortcutError when its id or one of its keys is taken."""
        if spec.action_id in self._specs:
            raise ShortcutError(
                f"the shortcut table already has an action {spec.action_id!r}; "
                "give the panel's action its own id (or install the panel only once)"
            )
        for key in spec.keys:
            other = self.owner_of(key)
            if other is not None:
                raise ShortcutError(
                    f"{key} for {spec.label.replace('&', '')!r} is already bound to "
                    f"{other.label.replace('&', '')!r}; pick another key in app/shortcuts.py"
                )
        self._specs[spec.action_id] = spec
        return spec

    def add_action(
        self, parent: QWidget, spec: Shortcut, slot: Callable[[], object] | None
    ) -> QAction:
        """Register ``spec`` and build its QAction on ``parent``."""
        return build_action(parent, self.register(spec), slot)


def build_action(parent: QWidget, spec: Shortcut, slot: Callable[[], object] | None) -> QAction:
    """A QAction labelled and keyed from ``spec`` (canvas keys appear as label text only)."""
    action = QAction(spec.label, parent)
    action.setObjectName(f"action_{spec.action_id}")
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


def make_action(parent: QWidget, action_id: str, slot: Callable[[], object] | None) -> QAction:
    """The QAction of a ``SHORTCUTS`` entry."""
    return build_action(parent, BY_ID[action_id], slot)


def panel_action(window, spec: Shortcut, slot: Callable[[], object] | None) -> QAction:
    """A panel's action, registered in the host's table (cheat sheet, no key bound twice):
    ``PanelHost.register_action``."""
    return window.register_action(spec, slot)


class CheatSheetDialog(QDialog):
    """Every shortcut, grouped by category: ``SHORTCUTS`` plus what the panels registered."""

    def __init__(self, parent: QWidget | None = None, table: ShortcutTable | None = None) -> None:
        super().__init__(parent)
        if table is None:
            table = getattr(parent, "shortcut_table", None)
        if table is None:
            table = ShortcutTable()
        specs = table.specs()
        self.setWindowTitle("Keyboard Shortcuts")
        self.setObjectName("cheat_sheet")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Every edit is saved at once and can be undone (Ctrl+Z)."))
        self.table = QTableWidget(len(specs), 3, self)
        self.table.setHorizontalHeaderLabels(["Group", "Action", "Keys"])
        self.table.verticalHeader().setVisible(False)
        row_h = self.fontMetrics().height() + 4
        self.table.verticalHeader().setDefaultSectionSize(row_h)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        ordered = sorted(specs, key=_category_rank)  # stable: table order within a group
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
        # Every row visible when the screen allows (panels add rows); a scroll bar otherwise.
        screen = self.screen().availableGeometry().height() if self.screen() else 900
        self.resize(640, min(130 + len(specs) * row_h, screen - 60))

    def rows(self) -> list[tuple[str, str, str]]:
        """The table as text (tests compare it with the menus)."""
        return [
            tuple(self.table.item(r, c).text() for c in range(3))  # type: ignore[misc]
            for r in range(self.table.rowCount())
        ]


_CATEGORY_ORDER = ["Edit", "Navigate", "Mode", "View", "Model", "Tools", "File", "Help"]


def _category_rank(spec: Shortcut) -> int:
    """Known groups in reading order; a group a panel invents goes last instead of failing."""
    try:
        return _CATEGORY_ORDER.index(spec.category)
    except ValueError:
        return len(_CATEGORY_ORDER)
