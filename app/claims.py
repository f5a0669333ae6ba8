"""Claims that mean something (issue 22): editing an image someone else holds asks first.

A claim (Team > Claim this image) is a promise to colleagues, not a lock in the database: a
reviewer must still be able to fix a held image. So the window asks once per image and session
("held by bob: edit anyway?"); the answer is remembered until the project closes.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox


class ClaimGuard:
    """Asks before the first edit of an image held by someone else."""

    def __init__(self, window) -> None:
        self.window = window
        self._allowed: set[int] = set()  # images this user chose to edit anyway
        window.project_closed.connect(lambda _p: self._allowed.clear())

    def holder(self, image_id: int) -> str | None:
        """Who else holds the image (None: nobody, or this user)."""
        window, project = self.window, self.window.project
        if project is None:
            return None
        info = window.list_model.info(image_id)
        doc = window.document
        if doc is not None and doc.image_id == image_id and doc.info is not None:
            if info is None or doc.info.version >= info.version:
                info = doc.info  # the freshest of the two (live refresh updates both)
        if info is None or not info.assignee or info.assignee == project.user:
            return None
        return info.assignee

    def refuse(self, image_id: int) -> bool:
        """True when the user declined to edit an image another annotator holds."""
        holder = self.holder(image_id)
        if holder is None or image_id in self._allowed:
            return False
        info = self.window.list_model.info(image_id)
        name = info.name if info is not None else f"image {image_id}"
        answer = QMessageBox.question(
            self.window,
            "Image held by someone else",
            f"{name} is held by {holder}: they may be working on it right now.\n\n"
            "Edit it anyway? (Your edits never overwrite theirs: a change to the same target is "
            "refused and shown.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            self.window.show_message(f"Not changed: {name} is held by {holder}", 5000)
            return True
        self._allowed.add(image_id)
        return False
