"""The Objects dock: the open image's targets and proposals (widgets/object_list.py), in step with
the canvas. It subscribes to the open document's changes through the rows service (every edit,
undo and image switch refreshes it, whichever project is open) and unsubscribes when it closes.
"""

from __future__ import annotations

from app.docks import Area, DockSpec, Place, Workspace, install_dock
from app.host import PanelHost
from app.views import follow
from core.document import DocumentChange
from widgets.object_list import ObjectListWidget

DOCK = DockSpec("dock_objects", "Objects",
                {Workspace.LABEL: Place(Area.RightDockWidgetArea, 1, fill=True)})  # fmt: skip


class ObjectListPanel:
    """Connects an ObjectListWidget to the window's document and canvas."""

    def __init__(self, window) -> None:
        self.window = window
        self.widget = ObjectListWidget()
        # While the dock is hidden an edit or visit does nothing here; shown, it lists once.
        follow(self.widget, window.rows.subscribe_document, self.on_document_changed, self.refresh)
        canvas = window.canvas
        self.widget.set_threshold(window.score_threshold)
        self.widget.selection_requested.connect(canvas.select)
        self.widget.centre_requested.connect(canvas.reveal)  # the one "show this object" call
        self.widget.kinds_changed.connect(canvas.set_kinds_visible)
        # The list's Targets / Proposals boxes and View > Show / hide (T / P) are one setting.
        for check, action_id in ((self.widget.targets_check, "toggle_targets"),
                                 (self.widget.proposals_check, "toggle_proposals")):  # fmt: skip
            action = window.actions_by_id.get(action_id)
            if action is not None:
                check.toggled.connect(action.setChecked)
                action.toggled.connect(check.setChecked)
        canvas.selection_changed.connect(self.widget.set_selected)
        window.score_threshold_changed.connect(self.widget.set_threshold)
        window.project_opened.connect(self.on_project_opened)
        window.project_closed.connect(self.on_project_closed)

    def on_project_opened(self, _project: object = None) -> None:
        document = self.window.document
        self.widget.set_targets(document.targets if document is not None else [])

    def on_project_closed(self, _project: object = None) -> None:
        self.widget.set_targets([])

    def on_document_changed(self, change: DocumentChange) -> None:
        if change.current:
            self.refresh()

    def refresh(self) -> None:
        """List the open image's objects, the canvas's selection selected."""
        document = self.window.document
        self.widget.set_targets(document.targets if document is not None else [])
        self.widget.set_selected(self.window.canvas.selected_ids())

    def subscribed(self) -> bool:
        """The panel hears an open document's changes."""
        return self.window.rows.hears_document(self.on_document_changed)


def install(window: PanelHost) -> ObjectListPanel:
    """Add the Objects dock (Label workspace) to ``window``."""
    panel = ObjectListPanel(window)
    install_dock(window, panel.widget, DOCK)
    window.keep_panel("object_list", panel)
    return panel
