"""Undo commands: thin QUndoCommand adapters over the annotation document's edits.

An edit is a value (core/edits.py) naming its image and its targets by ids that are never reused;
redo applies it through the document (write-through, one change notification), undo applies its
inverse. A command therefore never depends on what the window shows, and can only ever change
its own image (the project refuses anything else, see ADR 0004).
"""

from __future__ import annotations

import sys

from PySide6.QtGui import QUndoCommand

from core.document import AnnotationDocument
from core.edits import AnnotationEdit, ImageField

NUDGE_ID = 1001  # QUndoCommand.id() of mergeable nudges
NOTE_ID = 1002  # consecutive note edits of one image merge too


class EditCommand(QUndoCommand):
    """One edit of one image. ``applied``: the edit is already in the database (a worker's
    pre-annotation result), so the first redo only tells the document.

    A failure (e.g. the project refused the edit) never escapes into Qt, where an exception in
    a C++ virtual call would abort the process: it is reported, and a command whose edit did not
    happen leaves the stack.
    """

    def __init__(
        self,
        document: AnnotationDocument,
        edit: AnnotationEdit,
        mergeable: bool = False,
        applied: bool = False,
    ) -> None:
        super().__init__(edit.text)
        self.document = document
        self.edit = edit  # after the first redo: with the ids its new targets got
        self.mergeable = mergeable
        self._applied = applied

    @property
    def image_id(self) -> int:
        return self.edit.image_id

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            self._run(lambda: self.document.record(self.edit))
            self.edit = self.edit.compact()
        else:
            self._run(lambda: setattr(self, "edit", self.document.apply(self.edit).compact()))

    def undo(self) -> None:
        self._run(lambda: self.document.apply(self.edit.inverse()))

    def _run(self, step) -> None:
        try:
            step()
        except Exception:  # noqa: BLE001 - reported below, never raised into Qt
            self.setObsolete(True)  # the stack drops a command whose edit did not happen
            _report(sys.exc_info())

    def id(self) -> int:
        if self.mergeable:
            return NUDGE_ID
        if [f.name for f in self.edit.fields] == [ImageField.NOTE] and not self.edit.targets:
            return NOTE_ID
        return -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802
        """Consecutive nudges of the same selection (or note edits) become one undo step."""
        if not isinstance(other, EditCommand) or other.id() != self.id() or self.id() == -1:
            return False
        if other.image_id != self.image_id:
            return False
        if self.mergeable and _ids(other.edit) != _ids(self.edit):
            return False
        self.edit = self.edit.merged_with(other.edit)
        return True


def _ids(edit: AnnotationEdit) -> list[int]:
    return sorted(int(c.id) for c in edit.targets)


def _report(exc_info) -> None:
    """Hand the error to sys.excepthook (the app's error dialog) once Qt's call has returned."""
    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, lambda: sys.excepthook(*exc_info))
