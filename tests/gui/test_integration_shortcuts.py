"""Keyboard shortcuts with every panel installed: one table, no key bound twice, all in the cheat
sheet; a panel key that clashes is refused with a message and changes nothing."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from app.shortcuts import (
    SHORTCUTS,
    CheatSheetDialog,
    Shortcut,
    ShortcutError,
    ShortcutTable,
    build_action,
    key_text,
    panel_action,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def window(qtbot):
    """The real MainWindow with the panels of app/extensions.py (no project: no model loads)."""
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings

    create_application(exception_hook=False)
    w = MainWindow(AppSettings())
    qtbot.addWidget(w)
    yield w
    w.close()


def bound_keys(w) -> dict[str, list[str]]:
    """Every key sequence bound on any QAction of the window -> the actions using it."""
    seen: dict[str, list[str]] = {}
    for action in w.findChildren(QAction):
        for seq in action.shortcuts():
            seen.setdefault(seq.toString(), []).append(action.text().replace("&", ""))
    return seen


def test_no_key_is_bound_twice_with_the_panels_installed(window):
    clashes = {k: names for k, names in bound_keys(window).items() if len(names) > 1}
    assert clashes == {}
    assert {"Ctrl+Shift+P", "Ctrl+Shift+T"} <= set(bound_keys(window))


def test_every_bound_key_is_in_the_cheat_sheet(window):
    rows = CheatSheetDialog(window).rows()
    assert len(rows) == len(window.shortcut_table) > len(SHORTCUTS)  # the panels' rows too
    listed = {QKeySequence(k).toString() for s in window.shortcut_table.specs() for k in s.keys}
    assert set(bound_keys(window)) <= listed
    assert ("Model", "Pre-annotate Current Image", "Ctrl+Shift+P") in rows
    assert ("Model", "Train a New Model", "Ctrl+Shift+T") in rows
    for spec in window.shortcut_table.specs():
        assert (spec.category, spec.label.replace("&", ""), key_text(spec)) in rows


def test_panel_actions_are_in_the_menus_and_the_action_table(window):
    model_menu = window.tool_menu("&Model")
    texts = [a.text().replace("&", "") for a in model_menu.actions() if a.text()]
    assert texts[:4] == ["Pre-annotate Current Image", "Pre-annotate Selected Images",
                         "Pre-annotate All Unreviewed Images", "Cancel Pre-annotation"]  # fmt: skip
    assert window.actions_by_id["train"].shortcut().toString() == "Ctrl+Shift+T"


def test_a_clashing_panel_key_is_refused_and_changes_nothing(window):
    before = window.shortcut_table.specs()
    n_actions = len(window.findChildren(QAction))
    clash = Shortcut("my_panel_go", "Go", ("Ctrl+Shift+P",), "Tools")
    with pytest.raises(ShortcutError, match="Ctrl\\+Shift\\+P.*Pre-annotate Current Image"):
        panel_action(window, clash, lambda: None)
    canvas_key = Shortcut("my_panel_a", "A thing", ("a",), "Tools")  # "A" is the canvas's accept
    with pytest.raises(ShortcutError, match="Accept selected proposals"):
        panel_action(window, canvas_key, lambda: None)
    with pytest.raises(ShortcutError, match="already has an action 'train'"):
        panel_action(window, Shortcut("train", "Train again", (), "Model"), lambda: None)
    assert window.shortcut_table.specs() == before
    assert len(window.findChildren(QAction)) == n_actions


def test_build_action_on_a_plain_widget_is_a_plain_action(qtbot):
    """Without a shortcut table (panel_action registers in the host's, PanelHost)."""
    host = QWidget()
    qtbot.addWidget(host)
    fired: list[int] = []
    action = build_action(
        host, Shortcut("x", "&Do X", ("Ctrl+Alt+X",), "Tools"), lambda: fired.append(1)
    )
    assert action.shortcut().toString() == "Ctrl+Alt+X" and action in host.actions()
    action.trigger()
    assert fired == [1]


def test_cheat_sheet_orders_groups_and_keeps_unknown_ones():
    table = ShortcutTable()
    table.register(Shortcut("odd", "Odd one", ("Ctrl+Alt+O",), "Plugins"))
    table.register(Shortcut("tool", "A tool", ("Ctrl+Alt+T",), "Tools"))
    rows = CheatSheetDialog(None, table).rows()
    groups = [r[0] for r in rows]
    assert groups[-1] == "Plugins"  # an unknown group goes last instead of failing
    assert groups.index("Tools") < groups.index("File")
