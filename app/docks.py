"""The one way to add a dock panel (issue 24): ``install_dock(window, widget, spec)``.

A panel says *what* its dock is (a ``DockSpec``: object name, title, where it sits in each task
workspace, an optional extra menu entry); the window's ``WorkspaceLayout`` (app/workspaces.py)
decides *how*: it shows, hides, stacks and tabs docks per workspace, lists every dock in
View > Panels and puts them back on View > Reset Layout. A dock added this way gets all of that
for free; no panel repeats the dock wiring. The dock also tells the panel's view gate
(app/views.py) when the panel is on screen: a panel that is not does no work on visits and edits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QWidget

from app.views import gate_of

Area = Qt.DockWidgetArea
# Docks move between areas and tab together, but do not tear off when a splitter drag slips onto
# their title bar (issue 19): floating is an explicit choice (View > Detachable Panels).
DOCKED_FEATURES = (
    QDockWidget.DockWidgetFeature.DockWidgetClosable
    | QDockWidget.DockWidgetFeature.DockWidgetMovable
)


class Workspace(StrEnum):
    """Task workspaces (as CVAT and Geti separate annotation, training and analysis)."""

    LABEL = "label"
    TRAIN = "train"
    INSPECT = "inspect"

    @property
    def title(self) -> str:
        return {"label": "&Label", "train": "&Train", "inspect": "&Inspect"}[self.value]


@dataclass(frozen=True)
class Place:
    """Where a dock sits in one workspace.

    ``slot`` orders the docks of an area (top to bottom on the left / right, left to right at the
    top / bottom); docks with the same slot are tabbed. ``fill``: the dock takes what its
    neighbours leave (a list, a plot); otherwise it gets the height its controls need.
    """

    area: Area
    slot: int = 0
    fill: bool = False


@dataclass(frozen=True)
class DockSpec:
    """What a panel's dock is. ``places``: its place in each workspace it belongs to (empty: in
    every workspace, at ``Place(default_area)``). ``menu``/``menu_text``: an extra entry (e.g.
    Tools > False-alarm Inspector) that shows the dock, switching workspace when needed."""

    name: str  # the QObject name: QMainWindow.saveState needs a stable one
    title: str
    places: Mapping[Workspace, Place] = field(default_factory=dict)
    default_area: Area = Area.RightDockWidgetArea
    menu: str | None = None
    menu_text: str | None = None

    def place(self, workspace: Workspace) -> Place | None:
        if not self.places:
            return Place(self.default_area)
        return self.places.get(workspace)


def install_dock(window, widget: QWidget, spec: DockSpec) -> QDockWidget:
    """Wrap ``widget`` in a dock named after ``spec`` and hand it to the window's layout."""
    dock = QDockWidget(spec.title, window)
    dock.setObjectName(spec.name)
    dock.setFeatures(DOCKED_FEATURES)
    dock.setWidget(widget)
    gate = gate_of(widget)
    gate.attach(dock)  # what the panel follows (app.views.follow) runs only while it is on screen
    window.add_dock(dock, spec)
    gate.update()  # placed: hidden docks let go of their subscriptions now
    if spec.menu:
        action = QAction(spec.menu_text or spec.title, window)
        action.setObjectName(f"show_{spec.name}")
        action.triggered.connect(lambda: window.show_dock(dock))
        window.tool_menu(spec.menu).addAction(action)
    return dock
