"""Undo commands: thin QUndoCommand adapters over the annotation document's edits.

An edit is a value (core/edits.py) naming its image and its targets by ids that are never reused;
redo applies it through the document (write-through, one change notification), undo applies its
inverse. A command therefore never depends on what the window shows, and can only ever change
its own image (the project refuses anything else, see ADR 0004).
"""

from __future__ import annotations

import enum
import sys
from dataclasses import replace

from PySide6.QtGui import QUndoCommand

from core.document import AnnotationDocument
from core.edits import AnnotationEdit, ImageField

NUDGE_ID = 1001  # QUndoCommand.id() of mergeable nudges (arrow keys: the selection moves)
NOTE_ID = 1002  # consecutive note edits of one image merge too
RESIZE_ID = 1003  # Shift + arrow steps (the box grows or shrinks): merge with each other only


class KeyStep(enum.Enum):
    """A keyboard step of the selection; a run of steps of one kind is one undo step."""

    MOVE = NUDGE_ID
    RESIZE = RESIZE_ID


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
        mergeable: KeyStep | bool | None = None,
        applied: bool = False,
    ) -> None:
        super().__init__(edit.text)
        self.document = document
        self.edit = edit  # after the first redo: with the ids its new targets got
        # True (older callers): a move. A run of moves and a run of resizes are separate steps.
        self.mergeable = KeyStep.MOVE if mergeable is True else (mergeable or None)
        self._applied = applied
        self._done_once = applied  # redo() ran once: the next ones are "redo <action>"
        self._void = False  # its save was refused after the fact: it does nothing any more

    @property
    def image_id(self) -> int:
        return self.edit.image_id

    def redo(self) -> None:
        if self._void:
            return
        if self._applied:
            self._applied = False
            self._run(lambda: self.document.record(self.edit))
            self.edit = self.edit.compact()
        elif not self._done_once:
            self._done_once = True
            self._run(lambda: setattr(self, "edit", self._apply(self.edit).compact()))
        else:  # the project's edit log says what happened: "redo <action>" (issue 19)
            text = self.edit.text

            def again() -> None:
                done = self._apply(replace(self._known(self.edit), text=f"redo {text}"))
                self.edit = replace(done, text=text).compact()

            self._run(again)

    def undo(self) -> None:
        if self._void:
            return
        # Logged as "undo <action>", not under the action's own name.
        edit = self._known(self.edit)
        self._run(lambda: self._apply(replace(edit.inverse(), text=f"undo {edit.text}")))

    def _apply(self, edit: AnnotationEdit) -> AnnotationEdit:
        """Through the window's saving document (off the GUI thread, ADR 0022) when it is one."""
        if hasattr(self.document, "queue"):
            return self.document.apply(edit, owner=self)
        return self.document.apply(edit)

    def _known(self, edit: AnnotationEdit) -> AnnotationEdit:
        """``edit`` with the real ids of targets it added while their save was pending."""
        known = getattr(self.document, "known", None)
        return known(edit) if known is not None else edit

    def _run(self, step) -> None:
        try:
            step()
        except Exception:  # noqa: BLE001 - reported below, never raised into Qt
            self.setObsolete(True)  # the stack drops a command whose edit did not happen
            _report(sys.exc_info())

    # ---- told by the save queue (GUI thread) when a save that outlived the grace finished
    def saved(self, resolved: AnnotationEdit) -> None:
        """One of this step's saves landed: keep the real ids of the targets it added."""
        self.edit = self._known(self.edit)

    def refused(self, write) -> None:
        """A save of this step was refused (or discarded by the user): the step did not happen
        and stays in the history, marked, doing nothing; the image shows the stored labels."""
        if self._void:
            return
        self._void = True
        try:
            self.setText(f"{self.text()} (not saved)")
        except RuntimeError:  # the stack already deleted this step (undone, then replaced)
            pass
        if write.error is not None:  # a discard was the user's own choice: nothing to report
            exc = write.error
            _report((type(exc), exc, exc.__traceback__))

    def id(self) -> int:
        if self.mergeable is not None:
            return self.mergeable.value
        if [f.name for f in self.edit.fields] == [ImageField.NOTE] and not self.edit.targets:
            return NOTE_ID
        return -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802
        """Consecutive nudges of the same selection (or note edits) become one undo step."""
        if not isinstance(other, EditCommand) or other.id() != self.id() or self.id() == -1:
            return False
        if other.image_id != self.image_id or self._void or other._void:
            return False
        mine, theirs = self._known(self.edit), self._known(other.edit)  # the same ids for both
        if self.mergeable is not None and _ids(theirs) != _ids(mine):
            return False
        self.edit = mine.merged_with(theirs)
        queue = getattr(self.document, "queue", None)
        if queue is not None:  # the stack deletes ``other``: its pending saves answer to us
            queue.reown(other, self)
        return True


def _ids(edit: AnnotationEdit) -> list[int]:
    return sorted(int(c.id) for c in edit.targets)


def _report(exc_info) -> None:
    """Hand the error to sys.excepthook (the app's error dialog) once Qt's call has returned."""
    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, lambda: sys.excepthook(*exc_info))
