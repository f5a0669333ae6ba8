"""The keyboard review flow, and single-key shortcuts that work wherever focus is.

``install(window)`` adds:

- **Next / previous proposal** (Tab / Shift+Tab, by descending score, as CVAT steps through
  objects): selects it and centres the canvas on it (``IRCanvas.reveal``).
- **Accept / reject and step on**: A / R (and their Edit-menu items; Del on a proposal) accept or
  reject the selected proposals, then select the next proposal in score order.
- **Zoom keys** (+ or =, -, 0 for 1:1) and **hide accepted targets / proposals** (T / P), in the
  View menu.
- A **key guard** (an application event filter): while the focus is anywhere in the main window
  but a text field, single keys reach their action: window shortcuts fire even when the focused
  widget (the image list...) would take the key, and the canvas's own keys (A, R, Del, F, Home,
  L...) are handed to the canvas. In a text field (line / text edit, spin box, editable combo)
  the key types. Esc anywhere in the window gives the keys back to the canvas.

Mark reviewed & next keeps its key (Ctrl+Enter, app/shortcuts.py); with the guard it works from
the list, the search box and the note field alike.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QKeySequenceEdit,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from app.host import PanelHost
from app.shortcuts import Shortcut, panel_action
from core.domain import TargetState

ZOOM_STEP = 1.5
SHORTCUTS = (
    Shortcut("next_proposal", "Next &proposal (highest score first)", ("Tab",), "Navigate"),
    Shortcut("prev_proposal", "Previous p&roposal", ("Shift+Tab",), "Navigate"),
    Shortcut("zoom_in", "Zoom &in", ("+", "="), "View"),
    Shortcut("zoom_out", "Zoom &out", ("-",), "View"),
    Shortcut("zoom_actual", "&Actual pixels (1:1)", ("0",), "View"),
    Shortcut("toggle_targets", "Show / hide accepted &targets", ("T",), "View"),
    Shortcut("toggle_proposals", "Show / hide &proposals", ("P",), "View"),
)
MENUS = {"&Navigate": ("next_proposal", "prev_proposal"),
         "&View": ("zoom_in", "zoom_out", "zoom_actual", "toggle_targets", "toggle_proposals")}  # fmt: skip
TEXT_INPUTS = (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox, QKeySequenceEdit)
# Keys a focused list / button / slider keeps: moving in a list, pressing a button.
KEPT_BY_WIDGETS = {Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down,
                   Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab,
                   Qt.Key.Key_Backtab, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown}  # fmt: skip
EDITING_KEYS = {Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_Space,
                Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab, Qt.Key.Key_Backtab,
                Qt.Key.Key_Delete, Qt.Key.Key_Backspace, Qt.Key.Key_Home, Qt.Key.Key_End}  # fmt: skip
CHORD = (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
         | Qt.KeyboardModifier.MetaModifier)  # fmt: skip
DECISION_KEYS = {Qt.Key.Key_A, Qt.Key.Key_R, Qt.Key.Key_Delete, Qt.Key.Key_Backspace}


def is_text_input(widget: QWidget | None) -> bool:
    """A widget where a single key types (there, single-key shortcuts step aside)."""
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    return isinstance(widget, TEXT_INPUTS)


def proposal_order(canvas) -> list[int]:
    """Ids of the proposals drawn now, highest score first (ties: oldest first)."""
    shown = []
    for tid in canvas.visible_ids():
        t = canvas.targets_item.target(tid)
        if t is not None and t.state == TargetState.PROPOSAL:
            shown.append((-(t.score if t.score is not None else 1.0), tid))
    return [tid for _key, tid in sorted(shown)]


class ReviewKeys(QObject):
    """Review navigation on the window's canvas, plus the application-wide key guard."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.canvas = window.canvas
        self._cursor: tuple[float, int] | None = None  # (-score, id) of the proposal last shown
        self._cursor_image: int | None = None  # ...on this image (another image: no cursor)
        self._decision_by_key = False
        self._picked_proposal = False  # the last non-empty selection held a proposal
        self.canvas.selection_changed.connect(self._follow_selection)
        # After the controller (connected first) has accepted / rejected: step on.
        self.canvas.accept_requested.connect(self._after_decision)
        self.canvas.reject_requested.connect(self._after_decision)
        self.canvas.delete_requested.connect(self._after_delete)

    # ------------------------------------------------------------------ review navigation
    def step(self, direction: int) -> int | None:
        """Select and centre the next (+1) / previous (-1) proposal by score from the one last
        shown; wraps around. Returns its id, None when the image has no proposal shown."""
        if not self.canvas.kinds_visible()[1]:
            self.window.actions_by_id["toggle_proposals"].setChecked(True)
            self._apply_kinds()
        order = proposal_order(self.canvas)
        if not order:
            self.canvas.select([])
            self.window.show_message("No proposals to review on this image (at this threshold). "
                                "Ctrl+Enter marks it reviewed and opens the next.", 5000)  # fmt: skip
            return None
        keys = [self._key(tid) for tid in order]
        k = 0 if direction > 0 else len(order) - 1
        cursor = self._cursor if self._cursor_image == self.window.current_image_id else None
        if cursor is not None:
            if direction > 0:
                k = next((i for i, key in enumerate(keys) if key > cursor), 0)
            else:
                k = next((i for i in reversed(range(len(keys))) if keys[i] < cursor), k)
        tid = order[k]
        self.canvas.reveal(tid)
        self._set_cursor(keys[k])
        score = self.canvas.targets_item.target(tid).score
        shown = f", score {score:.2f}" if score is not None else ""
        self.window.show_message(f"Proposal {k + 1} of {len(order)}{shown}: A accepts, R rejects, "
                            "Tab goes to the next.", 5000)  # fmt: skip
        return tid

    def decide(self, accept: bool) -> None:
        """The Edit menu's Accept / Reject: the selected proposals, then the next one (as A / R)."""
        ids = [tid for tid in self.canvas.selected_ids()
               if (t := self.canvas.targets_item.target(tid)) is not None
               and t.state == TargetState.PROPOSAL]  # fmt: skip
        if ids:
            self._decision_by_key = True
            signal = self.canvas.accept_requested if accept else self.canvas.reject_requested
            signal.emit(ids)
            self._decision_by_key = False

    def _after_decision(self, _ids: list) -> None:
        # Only a key (or its menu item) steps on; a double-click accept keeps the view still.
        if self._decision_by_key:
            self.step(1)

    def _after_delete(self, _ids: list) -> None:
        if self._decision_by_key and self._picked_proposal:  # Del on a proposal rejects it
            self.step(1)

    def _key(self, tid: int) -> tuple[float, int]:
        t = self.canvas.targets_item.target(tid)
        return (-(t.score if t.score is not None else 1.0), int(tid))

    def _follow_selection(self, ids: list) -> None:
        proposals = [tid for tid in ids if (t := self.canvas.targets_item.target(tid)) is not None
                     and t.state == TargetState.PROPOSAL]  # fmt: skip
        if ids:
            self._picked_proposal = bool(proposals)
        if proposals:
            self._set_cursor(min(self._key(tid) for tid in proposals))

    def _set_cursor(self, key: tuple[float, int]) -> None:
        # Kept with its image rather than cleared on every visit: a visit does nothing here.
        self._cursor, self._cursor_image = key, self.window.current_image_id

    # ------------------------------------------------------------------ key guard wiring
    def watch_focus(self, app: QApplication) -> None:
        """Filter the keys of the focus widget, whichever it is: the filter sits on that widget
        (moved on every focus change), not on the application, so the events of every other
        object (a visit's, an edit's) never pass through Python here."""
        app.focusChanged.connect(self._focus_moved)
        self._focus_moved(None, app.focusWidget())

    def _focus_moved(self, old: QWidget | None, new: QWidget | None) -> None:
        if old is not None:
            try:
                old.removeEventFilter(self)
            except RuntimeError:  # the old focus widget is gone already
                pass
        if new is not None:
            new.installEventFilter(self)

    # ------------------------------------------------------------------ view
    def _apply_kinds(self) -> None:
        a = self.window.actions_by_id
        self.canvas.set_kinds_visible(a["toggle_targets"].isChecked(),
                                      a["toggle_proposals"].isChecked())  # fmt: skip

    # ------------------------------------------------------------------ key guard
    def _canvas_shown(self) -> bool:
        return self.canvas.isVisible() and self.canvas.image() is not None

    def _in_view(self, widget: QWidget) -> bool:
        view = self.canvas.view
        return widget is view or view.isAncestorOf(widget)

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802 (Qt override)
        kind = ev.type()
        if kind not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            return False
        focus = QApplication.focusWidget()
        if obj is not focus or focus is None or focus.window() is not self.window:
            return False
        if kind == QEvent.Type.KeyPress and _single(ev) and ev.key() in DECISION_KEYS:
            self._mark_decision_key()  # the canvas's A / R: step on once it is handled
        if self._in_view(focus):
            return False  # the canvas claims its own keys (widgets/canvas.py)
        if not _single(ev):
            return False  # Ctrl / Alt chords: every widget's usual behaviour
        if kind == QEvent.Type.ShortcutOverride:
            if ev.key() == Qt.Key.Key_Escape or (is_text_input(focus) and _types(ev)):
                ev.accept()  # the field types the key (Esc: handled at the key press below)
                return True
            if is_text_input(focus):
                return False  # F1, PgDown...: as the field decides (it lets shortcuts have them)
            ev.ignore()  # the window's single-key shortcut wins over a list's type-ahead
            return True
        if ev.key() == Qt.Key.Key_Escape:
            if self._canvas_shown():
                self.canvas.view.setFocus(Qt.FocusReason.ShortcutFocusReason)
                return True
            return False
        if is_text_input(focus) or ev.key() in KEPT_BY_WIDGETS or not self._canvas_shown():
            return False
        if not self.canvas.handles_key(ev):
            return False
        copy = QKeyEvent(ev.type(), ev.key(), ev.modifiers(), ev.text(), ev.isAutoRepeat(),
                         ev.count())  # fmt: skip
        QApplication.sendEvent(self.canvas.view, copy)
        return True

    def _mark_decision_key(self) -> None:
        self._decision_by_key = True
        QTimer.singleShot(0, self._clear_decision_key)  # after this key press is handled

    def _clear_decision_key(self) -> None:
        self._decision_by_key = False


def _types(ev: QKeyEvent) -> bool:
    """A key that edits text: a printable character or an editing / caret key."""
    text = ev.text()
    return (bool(text) and text.isprintable()) or ev.key() in EDITING_KEYS


def _single(ev: QEvent) -> bool:
    return isinstance(ev, QKeyEvent) and not (ev.modifiers() & CHORD)


def window_menu(window, title: str) -> QMenu:
    """The main window's menu called ``title`` (the View and Navigate menus of app/shortcuts.py)."""
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text() == title:
            return action.menu()
    return window.tool_menu(title)


def install(window: PanelHost) -> ReviewKeys:
    """Add the review actions to the window's menus and shortcut table, and the key guard."""
    review = ReviewKeys(window)
    slots = {
        "next_proposal": lambda: review.step(1),
        "prev_proposal": lambda: review.step(-1),
        "zoom_in": lambda: window.canvas.zoom_by(ZOOM_STEP),
        "zoom_out": lambda: window.canvas.zoom_by(1 / ZOOM_STEP),
        "zoom_actual": window.canvas.zoom_actual,
        "toggle_targets": review._apply_kinds,
        "toggle_proposals": review._apply_kinds,
    }
    for spec in SHORTCUTS:
        action = panel_action(window, spec, slots[spec.action_id])
        if spec.action_id.startswith("toggle_"):
            action.setCheckable(True)
            action.setChecked(True)
    # No project: the keys do nothing, and Tab moves the focus on the welcome page as usual.
    actions = [window.actions_by_id[spec.action_id] for spec in SHORTCUTS]
    for action in actions:
        action.setEnabled(window.project is not None)
    window.project_opened.connect(lambda _p: [a.setEnabled(True) for a in actions])
    window.project_closed.connect(lambda _p: [a.setEnabled(False) for a in actions])
    for title, ids in MENUS.items():
        menu = window_menu(window, title)
        menu.addSeparator()
        for action_id in ids:
            menu.addAction(window.actions_by_id[action_id])
    # The Edit menu's Accept / Reject behave as their keys: decide, then the next proposal.
    for action_id, accept in (("accept", True), ("reject", False)):
        action: QAction | None = window.actions_by_id.get(action_id)
        if action is not None:
            action.triggered.disconnect()
            action.triggered.connect(lambda _c=False, a=accept: review.decide(a))
    app = QApplication.instance()
    if app is not None:
        review.watch_focus(app)
    window.keep_panel("review_keys", review)
    return review
