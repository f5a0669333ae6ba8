"""How the main window follows its annotation document: the one place where a label change
reaches the canvas, the image list row, the Image dock and the prefetch cache.

Everything comes from the change itself (the edit and the info after it); the database is not
read back. Kept out of main_window.py, which only wires.
"""

from __future__ import annotations

import time

from core.document import DocumentChange, info_after
from core.domain import TargetState
from core.edits import AnnotationEdit
from core.errors import ProjectError


def follow_change(window, change: DocumentChange) -> None:
    """Subscribed to the window's document: redraw, list row, Image dock, prefetch, announce."""
    if window.project is None:
        return
    edit = change.edit
    if change.current and window.current_pixels is not None:
        redraw(window, edit)
    if edit is None:
        return  # a (re)load: goto_image updates the row and the dock itself
    window.prefetcher.forget(change.image_id)  # its prefetched labels are stale now
    # the row as listed before the edit; a row the list has not read yet is read as it is now
    old = window.list_model.cached(change.image_id)
    info = change.info
    if info is None:  # another image than the open one (a note, a worker's result)
        info = info_after(old, edit) if old is not None else window.project.get_image(edit.image_id)
    info.missing = window.list_model.is_missing(change.image_id)
    window.list_model.update_image(info)
    if change.current:
        window.image_panel.set_info(info)
    window.saved_label.setText(f"saved {time.strftime('%H:%M:%S')}")
    window._announcing = True  # our own announcement: nothing to re-read
    try:
        window.annotation_changed.emit(change.image_id)
    finally:
        window._announcing = False


def clear_readouts(window, *_args: object) -> None:
    """The status bar's cursor read-out and "saved HH:MM:SS" belong to the image (and project)
    they were said for: blank them on an image switch and when the project closes."""
    window.cursor_label.setText("")
    window.saved_label.setText("")


def redraw(window, edit: AnnotationEdit | None) -> None:
    """Only what ``edit`` touched (everything for a load); the selection survives an edit."""
    doc = window.document
    if edit is None or edit.targets:
        selected = set(window.canvas.selected_ids())
        window.canvas.set_targets(doc.targets)
        keep = [t.id for t in doc.targets if t.id in selected]
        if keep and edit is not None:
            window.canvas.select(keep)
    if edit is None or edit.regions:
        rings, window._visit_rings = (window._visit_rings if edit is None else None), None
        window.canvas.set_sky(doc.sky_view(), doc.sky_view(TargetState.PROPOSAL), rings)
    if edit is None or edit.bad_pixels is not None:
        show_bad_pixels(window, doc.bad_pixels())


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


def follow_announcement(window, image_id: int) -> None:
    """Someone announced a change the document did not make (labels written straight
    through ``Project``): re-read that image's row, and its labels if it is open."""
    if window.project is None or window._announcing:
        return
    window.prefetcher.forget(image_id)
    try:
        info = window.project.get_image(image_id)
    except ProjectError as exc:  # e.g. an announcement for an image deleted meanwhile
        window.show_message(str(exc))
        return
    old = window.list_model.info(image_id)
    info.missing = old.missing if old is not None else False
    window.list_model.update_image(info)
    if image_id == window.current_image_id:
        window._load_document(image_id, None, window.current_pixels)
        window.document.info.missing = info.missing
        window.image_panel.set_info(window.document.info)
