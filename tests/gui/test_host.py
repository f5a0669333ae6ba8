"""Panels receive a PanelHost (app/host.py), not the main window: the window and the test host
implement every member, and no panel module reaches past the interface (read with ``ast``)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMainWindow

import app.extensions
from app.host import PanelHost, host_members
from tests.gui.test_preannotate_support import FakeWindow

APP = Path(__file__).resolve().parents[2] / "app"
# Every panel (app/extensions.py) and the helpers that receive the host on a panel's behalf.
PANEL_MODULES = sorted(
    {Path(importlib.util.find_spec(name).origin) for name in app.extensions.PANELS}
    | {APP / "jobs.py", APP / "docks.py"}
)
HOST_NAMES = {"window", "host"}  # how panels name what they receive


def _is_host(node: ast.AST) -> bool:
    """``window`` / ``host`` or ``self.window`` / ``self.host``."""
    if isinstance(node, ast.Name):
        return node.id in HOST_NAMES
    return isinstance(node, ast.Attribute) and node.attr in HOST_NAMES


def host_uses(path: Path) -> tuple[set[str], list[str]]:
    """(members of the host a module reads or calls, its getattr(host, ...) calls)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    members, fallbacks = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_host(node.value):
            members.add(node.attr)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in {"getattr", "hasattr"} and node.args
                and _is_host(node.args[0])):  # fmt: skip
            fallbacks.append(ast.unparse(node))
    return members, fallbacks


def test_the_scan_sees_what_it_must_refuse(tmp_path):
    """The check itself: a fallback and a private member are found."""
    bad = tmp_path / "bad_panel.py"
    bad.write_text("def install(window):\n    x = getattr(window, 'canvas', None)\n"
                   "    window._visit_rings = None\n    self.window.project\n")  # fmt: skip
    members, fallbacks = host_uses(bad)
    assert fallbacks == ["getattr(window, 'canvas', None)"]
    assert members == {"_visit_rings", "project"}


def test_every_panel_module_is_scanned():
    names = {p.name for p in PANEL_MODULES}
    assert {"preannotate_panel.py", "team_panel.py", "review_queue.py", "noise_panel.py",
            "jobs.py", "image_actions.py"} <= names  # fmt: skip
    assert len(PANEL_MODULES) == len(app.extensions.PANELS) + 2


@pytest.mark.parametrize("path", PANEL_MODULES, ids=lambda p: p.name)
def test_panels_use_only_the_host_interface(path):
    members, fallbacks = host_uses(path)
    assert fallbacks == [], f"{path.name}: getattr fallbacks on the host"
    private = sorted(m for m in members if m.startswith("_"))
    assert private == [], f"{path.name} reaches window privates: {private}"
    outside = sorted(members - host_members())
    assert outside == [], f"{path.name} uses members PanelHost does not declare: {outside}"


def test_the_main_window_and_the_test_host_implement_the_protocol(main_window, qtbot):
    fake = FakeWindow()
    qtbot.addWidget(fake)
    for host in (main_window, fake):
        missing = sorted(n for n in host_members() if not hasattr(host, n))
        assert missing == [], f"{type(host).__name__} lacks {missing}"
        assert isinstance(host, PanelHost)
    plain = QMainWindow()  # menuBar, statusBar and findChild alone are not a host
    qtbot.addWidget(plain)
    assert not isinstance(plain, PanelHost)


def test_kept_panels_are_found_by_name(qtbot):
    from app.main_window import MainWindow
    from app.review_queue import ReviewQueue
    from app.settings import AppSettings
    from app.team_panel import TeamPanel

    window = MainWindow(AppSettings())  # every panel installed
    qtbot.addWidget(window)
    assert isinstance(window.panel("review_queue"), ReviewQueue)
    assert window.panel("review_queue") is window.review_queue  # scripts and tests read this
    assert isinstance(window.panel("team_panel"), TeamPanel)
    assert window.panel("no_such_panel") is None
