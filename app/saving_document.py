"""The window's annotation document, saving through the project's SaveQueue (ADR 0022).

An edit is folded into what the window shows at once (optimistically) and committed by the
queue's worker, so a stalled peer's lock never freezes the GUI thread. When the queue is idle the
edit call waits up to ``save_queue.GRACE_S`` for the save, which then behaves exactly like a
write-through one (real ids, a conflict refused before the call returns). Otherwise the edit is
shown with provisional target ids and reconciled when its save lands: ids renamed, the version
taken over, or the image reloaded (with the still-unsaved edits folded in again) when someone
else's change came in between or the save was refused.
"""

from __future__ import annotations

from dataclasses import replace

from app import save_queue
from app.save_queue import PendingWrite, SaveQueue, WriteState
from core.document import AnnotationDocument, DocumentChange
from core.edits import AnnotationEdit, ImageLabels, TargetChange
from core.errors import EditConflict


class SavingDocument(AnnotationDocument):
    """An AnnotationDocument whose ``apply`` never waits on the database for long."""

    def __init__(self, project, queue: SaveQueue) -> None:
        super().__init__(project)
        self.queue = queue
        queue.on_result = self._written
        self._folded: dict[int, PendingWrite] = {}  # seq -> unsaved write shown in the labels
        self._next_id = -1  # provisional target ids: negative, never reused in a session
        self.on_refused = None  # called with a refused write of another image (its list row)
        self.renamed: dict[int, int] = {}  # provisional -> real id of the targets just saved

    # ------------------------------------------------------------------ writing
    def apply(self, edit: AnnotationEdit, owner: object | None = None) -> AnnotationEdit:
        """Show ``edit`` and save it; returns it as shown (new targets with their ids: real
        when the save was confirmed within the grace, provisional otherwise). A save refused
        within the grace raises as a write-through one did (EditConflict: the image reloaded)."""
        edit = self._with_provisional_ids(self.queue.known(edit))
        idle = self.queue.idle()
        write = self.queue.submit(edit, owner)
        if idle and self.queue.wait(write, save_queue.GRACE_S):
            return self._landed_in_grace(write)
        self._fold(write)
        return edit

    def known(self, edit: AnnotationEdit) -> AnnotationEdit:
        """``edit`` with the real ids of targets whose add has landed since it was made."""
        return self.queue.known(edit)

    def _with_provisional_ids(self, edit: AnnotationEdit) -> AnnotationEdit:
        if not any(c.before is None and c.after.id is None for c in edit.targets):
            return edit
        changes = []
        for c in edit.targets:
            if c.before is None and c.after.id is None:
                c = TargetChange(None, replace(c.after, id=self._next_id))
                self._next_id -= 1
            changes.append(c)
        return replace(edit, targets=tuple(changes))

    def _landed_in_grace(self, write: PendingWrite) -> AnnotationEdit:
        current = write.image_id == self.image_id and self.info is not None
        if write.state != WriteState.LANDED:
            if isinstance(write.error, EditConflict) and current:
                self.load(self.image_id, pixels=self.pixels)  # show what the other person did
            raise write.error
        resolved = write.resolved
        if current and resolved.version != self.info.version + 1:
            # Someone else changed other objects of this image meanwhile (conflicts are per
            # object, ADR 0008): reload so the document holds their change too, not only ours.
            self.load(self.image_id, pixels=self.pixels)
            self._publish(DocumentChange(resolved.image_id, resolved, self.info, True))
            return resolved
        self._absorb(resolved)
        return resolved

    def _fold(self, write: PendingWrite, edit: AnnotationEdit | None = None) -> None:
        if write.image_id == self.image_id:
            self._folded[write.seq] = write
        # A version-less edit: the image's version stays the one last saved.
        self._absorb(edit if edit is not None else write.edit)

    # ------------------------------------------------------------------ loading
    def load(self, image_id: int, labels: ImageLabels | None = None, pixels=None) -> None:
        """The image as stored, with this window's unsaved edits of it folded in again."""
        super().load(image_id, labels, pixels)
        self._folded = {}
        for write in self.queue.unsaved(self.image_id):
            self._fold(write, self.queue.known(write.edit))

    # ------------------------------------------------------------------ results (GUI thread)
    def _written(self, write: PendingWrite) -> None:
        folded = self._folded.pop(write.seq, None)
        current = write.image_id == self.image_id and self.info is not None
        if write.state == WriteState.LANDED:
            if current:
                self._reconcile(write, folded is not None)
            _tell(write.owner, "saved", write.resolved)
        else:
            if current:
                self.load(self.image_id, pixels=self.pixels)  # the stored labels, plus the unsaved
            elif self.on_refused is not None:
                self.on_refused(write)
            _tell(write.owner, "refused", write)

    def _reconcile(self, write: PendingWrite, shown: bool) -> None:
        resolved = write.resolved
        if not shown:
            if resolved.version > self.info.version:  # landed between a reload's read and its
                self.load(self.image_id, pixels=self.pixels)  # fold: read it (and refold) again
            return
        if resolved.version != self.info.version + 1:
            self.load(self.image_id, pixels=self.pixels)  # someone else's change came in between
            return
        self.renamed = {}
        for mine, saved in zip(write.edit.targets, resolved.targets, strict=True):
            if mine.before is None and mine.after.id != saved.after.id:
                target = self._targets.pop(int(mine.after.id), None)
                if target is not None:
                    self._targets[int(saved.after.id)] = replace(target, id=saved.after.id)
                    self.renamed[int(mine.after.id)] = int(saved.after.id)
        self.info = replace(self.info, version=resolved.version)
        # Observers redraw from it (the targets' real ids, a selection follows) and say "saved".
        try:
            self._publish(DocumentChange(resolved.image_id, resolved, self.info, True))
        finally:
            self.renamed = {}


def _tell(owner: object | None, what: str, value: object) -> None:
    method = getattr(owner, what, None)
    if method is not None:
        method(value)
