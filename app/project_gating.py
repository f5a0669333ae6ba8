"""Controls that need an open project are disabled (greyed) while none is open (issue 19).

With no project the welcome page shows, yet the toolbar's modes and accept buttons, the File
menu's Import / Export / Close and the panels' Run / Compute / Preview buttons looked ready to
use and only said "open a project first" when pressed. This module greys them instead.

A panel's dock contents are disabled as a whole: Qt keeps each child's own enabled state, so a
button a panel disabled itself (a Cancel with nothing running) stays disabled once a project is
open again. Docks that work without a project (Images, Image, Team: it opens server projects)
are left alone.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDockWidget

from app.host import PanelHost

# Actions of app/shortcuts.py that act on an open project or image.
ACTIONS = ("import", "export", "close_project", "delete", "select_all", "accept", "reject",
           "accept_above", "accept_sky", "mode_edit", "mode_draw_sky", "mode_edit_sky", "mode_paint_sky", "fit",
           "next_image", "prev_image", "next_unreviewed", "mark_reviewed", "find",
           "preannotate_current", "preannotate_selected", "preannotate_unreviewed",
           "next_attention", "sort_attention", "rank_attention", "noise_find", "noise_take_model",
           "noise_keep", "noise_second_look")  # fmt: skip
# objectNames of the docks whose panels work on the open project. Not the Training dock: a
# training run goes on after its project closes and must stay stoppable (the panel greys its
# Train button itself).
DOCKS = ("PreannotateDock", "BagcpPreviewDock", "InspectorDock", "StatsDock", "dock_label_noise",
         "dock_objects", "dock_navigator")  # fmt: skip


def set_project_controls(window, enabled: bool) -> None:
    """Enable or grey every control that needs an open project."""
    for action_id in ACTIONS:
        action = window.actions_by_id.get(action_id)
        if action is not None:
            action.setEnabled(enabled)
    for name in DOCKS:
        dock = window.findChild(QDockWidget, name)
        if dock is not None and dock.widget() is not None:
            dock.widget().setEnabled(enabled)


def install(window: PanelHost) -> None:
    """Grey the controls now (no project is open yet) and follow opening / closing."""
    set_project_controls(window, window.project is not None)
    window.project_opened.connect(lambda _p: set_project_controls(window, True))
    # project_closed comes before the project is gone; the controls go grey with it.
    window.project_closed.connect(lambda _p: set_project_controls(window, False))
