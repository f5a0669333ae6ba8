"""How the main window follows its annotation document on the canvas, and its rows service
(app/rows.py) in the Image dock and the status bar.

Everything comes from the change itself (the edit and the info after it); the database is not
read back. Kept out of main_window.py, which only wires.
"""

from __future__ import annotations

import time

from core.document import DocumentChange
from core.domain import TargetState
from core.edits import AnnotationEdit


class DocumentCanvas:
    """The open image's labels on the canvas. A visit hands over the sky outlines prefetched
    with the image (``expect_rings``) so that the load's redraw does not trace them again."""

    def __init__(self, window) -> None:
        self.window = window
        self._rings = None

    def expect_rings(self, rings) -> None:
        """Outlines for the next load's sky (the image about to be loaded); None: trace them."""
        self._rings = rings

    def follow(self, change: DocumentChange) -> None:
        """Subscribed to the window's document (before the rows service): redraw, "saved"."""
        window = self.window
        if window.project is None:
            return
        if change.current and window.current_pixels is not None:
            self.redraw(change.edit)
        queue = window.save_queue
        if change.edit is not None and (queue is None or queue.idle()):  # else the status bar says what is being saved
            window.saved_label.setText(f"saved {time.strftime('%H:%M:%S')}")

    def redraw(self, edit: AnnotationEdit | None) -> None:
        """Only what ``edit`` touched (everything for a load); the selection survives an edit."""
        window = self.window
        doc, canvas = window.document, window.canvas
        if edit is None or edit.targets:
            renamed = getattr(doc, "renamed", {})  # provisional ids whose save landed (ADR 0022)
            selected = {renamed.get(i, i) for i in canvas.selected_ids()}
            canvas.set_targets(doc.targets)
            keep = [t.id for t in doc.targets if t.id in selected]
            if keep and edit is not None:
                canvas.select(keep)
        if edit is None or edit.regions:
            rings, self._rings = (self._rings if edit is None else None), None
            canvas.set_sky(doc.sky_view(), doc.sky_view(TargetState.PROPOSAL), rings)
        if edit is None or edit.bad_pixels is not None:
            show_bad_pixels(window, doc.bad_pixels())


def follow_row(window, image_id: int) -> None:
    """Subscribed to the rows service: the Image dock shows the open image's row."""
    if window.document is not None and image_id == window.current_image_id:
        window.image_panel.set_info(window.document.info)


def clear_readouts(window, *_args: object) -> None:
    """The status bar's cursor read-out and "saved HH:MM:SS" belong to the image (and project)
    they were said for: blank them on an image switch and when the project closes."""
    window.cursor_label.setText("")
    window.saved_label.setText("")


# What the markers are, wherever the user meets them (menu status tip, Image dock tooltip).
BAD_PIXEL_TIP = ("Red x: a sensor pixel (isolated hot or dead) that the bad-pixel filter repaired "
                 "before the model ran, so that it was not taken for a target. Not a label.")  # fmt: skip


def setup_bad_pixel_action(action) -> None:
    """Checked: markers are shown by default wherever an image has any."""
    action.setCheckable(True)
    action.setChecked(True)
    action.setStatusTip(BAD_PIXEL_TIP)
    action.setToolTip(f"{action.toolTip()}: {BAD_PIXEL_TIP}")


def show_bad_pixels(window, coords) -> None:
    """The open image's repaired pixels on the canvas, shown as the View toggle says."""
    window.canvas.set_bad_pixels(coords)
    window.canvas.show_bad_pixels(window.actions_by_id["toggle_bad_pixels"].isChecked())
