"""The Navigator dock: a minimap of the open image (widgets/navigator.py) that follows the
canvas's view and pans it on a click or drag."""

from __future__ import annotations

from app.docks import Area, DockSpec, Place, Workspace, install_dock
from app.host import PanelHost
from app.views import follow
from widgets.navigator import NavigatorWidget, overview

DOCK = DockSpec("dock_navigator", "Navigator",
                {Workspace.LABEL: Place(Area.LeftDockWidgetArea, 1)})  # fmt: skip


class NavigatorPanel:
    """Keeps the minimap's picture and rectangle in step with the canvas."""

    def __init__(self, window) -> None:
        self.window = window
        self.widget = NavigatorWidget()
        canvas = window.canvas
        self.widget.pan_requested.connect(lambda x, y: canvas.center_on(x, y))
        # The minimap shows pixels, not labels: it follows image visits, not edits, and only
        # while its dock is on screen (app/views.py); shown again, it redraws once.
        view, redraw = self.widget, self.refresh_picture
        follow(view, canvas.viewbox.sigRangeChanged, self.follow_view, redraw)
        follow(view, canvas.display_controls.display_changed, redraw, redraw)
        follow(view, window.image_changed, self.on_image_changed, redraw)
        window.project_opened.connect(self.on_project_opened)
        window.project_closed.connect(self.on_project_closed)

    def on_project_closed(self, _project: object = None) -> None:
        self.widget.set_frame(None)

    def on_project_opened(self, _project: object = None) -> None:
        self.refresh_picture()

    def on_image_changed(self, _image_id: int) -> None:
        self.refresh_picture()

    def refresh_picture(self, *_args) -> None:
        canvas = self.window.canvas
        gray = canvas.gray()
        if gray is None or self.window.project is None:
            self.widget.set_frame(None)
            return
        s = canvas.display_settings()
        h, w = gray.shape[:2]
        self.widget.set_frame(overview(gray, s.levels, s.gamma), w, h)
        self.follow_view()

    def follow_view(self, *_args) -> None:
        self.widget.set_view_rect(self.window.canvas.view_rect())


def install(window: PanelHost) -> NavigatorPanel:
    """Add the Navigator dock (Label workspace) to ``window``."""
    panel = NavigatorPanel(window)
    install_dock(window, panel.widget, DOCK)
    window.keep_panel("navigator", panel)
    return panel
