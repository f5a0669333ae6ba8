"""Undoable edits. Every user edit is one QUndoCommand whose redo()/undo() call ``Project`` (which
commits at once) and then ask the window to refresh the canvas and the list counts.

Commands hold plain values (targets, masks as PNG bytes), never Qt items, so an undo after a
reload or an image change restores exactly what the database held before the edit.
"""

from __future__ import annotations

import sys
from typing import Protocol

import cv2
import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtGui import QUndoCommand

from core.types import ReviewStatus, Source, Split, Target, TargetState

NUDGE_ID = 1001  # QUndoCommand.id() of mergeable nudges
NOTE_ID = 1002  # consecutive note edits merge too


class EditHost(Protocol):
    """What commands need from the window: the project and a refresh hook."""

    project: object

    def after_edit(self, image_id: int, what: str) -> None:
        """Refresh views of ``image_id``; ``what`` is "targets", "sky" or "info"."""


def encode_mask(mask: np.ndarray | None) -> bytes | None:
    """Lossless PNG bytes of a bool mask (a 1280x1024 sky costs a few kB, not 1.3 MB)."""
    if mask is None:
        return None
    ok, buf = cv2.imencode(".png", np.asarray(mask, dtype=np.uint8))
    if not ok:
        raise ValueError(f"cannot encode a mask of shape {np.shape(mask)}")
    return buf.tobytes()


def decode_mask(data: bytes | None) -> np.ndarray | None:
    if data is None:
        return None
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED).astype(bool)


class _Command(QUndoCommand):
    """Subclasses write to the project in ``apply_redo`` / ``apply_undo``; this base refreshes the
    views and keeps a failure from escaping into Qt (an exception inside a C++ virtual call
    would abort the process): the error is reported and a failed redo leaves no stack entry."""

    refresh = "targets"  # what after_edit must redraw

    def __init__(self, host: EditHost, image_id: int, text: str) -> None:
        super().__init__(text)
        self.host = host
        self.image_id = int(image_id)

    @property
    def project(self):
        return self.host.project

    def apply_redo(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must write its edit to the project")

    def apply_undo(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must restore the project")

    def redo(self) -> None:
        self._run(self.apply_redo)

    def undo(self) -> None:
        self._run(self.apply_undo)

    def _run(self, step) -> None:
        try:
            step()
        except Exception:  # noqa: BLE001 - reported below, never raised into Qt
            self.setObsolete(True)  # the stack drops a command whose edit did not happen
            _report(sys.exc_info())
            return
        try:
            self.host.after_edit(self.image_id, self.refresh)
        except Exception:  # noqa: BLE001 - the edit is saved; only the redraw failed
            _report(sys.exc_info())


def _report(exc_info) -> None:
    """Hand the error to sys.excepthook (the app's error dialog) once Qt's call has returned."""
    QTimer.singleShot(0, lambda: sys.excepthook(*exc_info))


class AddTargetCommand(_Command):
    """Add one target; redo after undo reuses its id so later commands still refer to it."""

    def __init__(self, host: EditHost, image_id: int, target: Target) -> None:
        super().__init__(host, image_id, "Add target")
        self.target = target

    def apply_redo(self) -> None:
        if self.target.id is None:
            self.target = self.project.add_target(self.image_id, self.target)
        else:
            self.project.restore_targets(self.image_id, [self.target])

    def apply_undo(self) -> None:
        self.project.delete_targets(self.image_id, [self.target.id])


class EditTargetsCommand(_Command):
    """Move / resize / nudge targets: old and new full targets, written with update_target."""

    def __init__(
        self,
        host: EditHost,
        image_id: int,
        old: list[Target],
        new: list[Target],
        text: str = "Move targets",
        mergeable: bool = False,
    ) -> None:
        super().__init__(host, image_id, text)
        self.old, self.new, self.mergeable = list(old), list(new), mergeable

    def id(self) -> int:
        return NUDGE_ID if self.mergeable else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802
        """Consecutive nudges of the same selection become one undo step."""
        if not (isinstance(other, EditTargetsCommand) and other.mergeable and self.mergeable):
            return False
        if other.image_id != self.image_id or _ids(other.new) != _ids(self.new):
            return False
        self.new = other.new
        return True

    def apply_redo(self) -> None:
        for t in self.new:
            self.project.update_target(self.image_id, t)

    def apply_undo(self) -> None:
        for t in self.old:
            self.project.update_target(self.image_id, t)


class DeleteTargetsCommand(_Command):
    """Delete targets (or reject proposals); undo restores them with the same ids."""

    def __init__(self, host: EditHost, image_id: int, ids: list[int], text: str = "") -> None:
        n = len(ids)
        super().__init__(host, image_id, text or f"Delete {n} target{'s' * (n != 1)}")
        self.ids = [int(i) for i in ids]
        self.deleted: list[Target] = []

    def apply_redo(self) -> None:
        self.deleted = self.project.delete_targets(self.image_id, self.ids)

    def apply_undo(self) -> None:
        self.project.restore_targets(self.image_id, self.deleted)


class SetTargetStatesCommand(_Command):
    """Accept proposals (or turn targets back into proposals); undo restores each old state."""

    def __init__(
        self, host: EditHost, image_id: int, old: dict[int, TargetState], state: TargetState,
        text: str = "",
    ) -> None:  # fmt: skip
        n = len(old)
        super().__init__(host, image_id, text or f"Accept {n} proposal{'s' * (n != 1)}")
        self.old = {int(k): TargetState(v) for k, v in old.items()}
        self.state = TargetState(state)

    def apply_redo(self) -> None:
        self.project.set_target_states(self.image_id, list(self.old), self.state)

    def apply_undo(self) -> None:
        for state in set(self.old.values()):
            ids = [i for i, s in self.old.items() if s == state]
            self.project.set_target_states(self.image_id, ids, state)


class SkyMaskCommand(_Command):
    """Any sky edit (polygon add / subtract, ring edit, ring delete): old and new masks as PNG."""

    refresh = "sky"

    def __init__(
        self, host: EditHost, image_id: int, old: np.ndarray | None, new: np.ndarray | None,
        text: str,
    ) -> None:  # fmt: skip
        super().__init__(host, image_id, text)
        self.old, self.new = encode_mask(old), encode_mask(new)

    def apply_redo(self) -> None:
        self.project.set_sky_mask(self.image_id, decode_mask(self.new), TargetState.ACCEPTED)

    def apply_undo(self) -> None:
        self.project.set_sky_mask(self.image_id, decode_mask(self.old), TargetState.ACCEPTED)


class AcceptSkyCommand(_Command):
    """The proposed sky becomes the accepted sky; the proposal is consumed (undo brings it back)."""

    refresh = "sky"

    def __init__(
        self, host: EditHost, image_id: int, accepted: np.ndarray | None, proposal: np.ndarray
    ) -> None:
        super().__init__(host, image_id, "Accept the proposed sky")
        self.accepted, self.proposal = encode_mask(accepted), encode_mask(proposal)

    def apply_redo(self) -> None:
        self.project.set_sky_mask(self.image_id, decode_mask(self.proposal), TargetState.ACCEPTED,
                                  Source.MODEL)  # fmt: skip
        self.project.set_sky_mask(self.image_id, None, TargetState.PROPOSAL)

    def apply_undo(self) -> None:
        self.project.set_sky_mask(self.image_id, decode_mask(self.accepted), TargetState.ACCEPTED)
        self.project.set_sky_mask(self.image_id, decode_mask(self.proposal), TargetState.PROPOSAL,
                                  Source.MODEL)  # fmt: skip


class SetImageFieldCommand(_Command):
    """Status, split or note of one image."""

    refresh = "info"

    _SETTERS = {"status": "set_status", "split": "set_split", "note": "set_note"}
    _TYPES = {"status": ReviewStatus, "split": Split, "note": str}

    def __init__(self, host: EditHost, image_id: int, field: str, old: object, new: object) -> None:
        if field not in self._SETTERS:
            raise ValueError(f"unknown image field {field!r}; use status, split or note")
        cast = self._TYPES[field]
        label = f"Set {field} to {cast(new)!s}" if field != "note" else "Edit note"
        super().__init__(host, image_id, label)
        self.field, self.old, self.new = field, cast(old), cast(new)

    def id(self) -> int:
        return NOTE_ID if self.field == "note" else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802
        if isinstance(other, SetImageFieldCommand) and other.image_id == self.image_id:
            self.new = other.new
            return True
        return False

    def _apply(self, value: object) -> None:
        getattr(self.project, self._SETTERS[self.field])(self.image_id, value)

    def apply_redo(self) -> None:
        self._apply(self.new)

    def apply_undo(self) -> None:
        self._apply(self.old)


def _ids(targets: list[Target]) -> list[int]:
    return sorted(int(t.id) for t in targets)
