"""Edits saved off the GUI thread (issue 22, ADR 0022): one ordered writer per project.

The window's document shows an edit at once and hands it to this queue; a single worker thread
commits the edits in the order they were made (``Project.apply_edit``, per-object conflict check).
A target added while its save is pending is shown under a provisional (negative) id; the queue
learns its real id when the add lands and translates every later edit (a nudge of that target,
the undo of the add) before writing it, so edits made on top of an unsaved one stay correct.

A save that finds the image locked by a stalled peer (``ImageBusy``: the lock timeout on a server,
a held write lock on SQLite) is kept and retried with back-off until it lands or the user discards
it; nothing is ever dropped silently. Results come back to the GUI thread through ``drain`` (a
queued signal), where the document reconciles its provisional state.
"""

from __future__ import annotations

import enum
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from PySide6.QtCore import QObject, Signal

from core.edits import AnnotationEdit, TargetChange
from core.errors import ImageBusy, ProjectError, ServerUnreachable

RETRY_FIRST_S = 0.5  # back-off of a busy save: 0.5, 1, 2, 4, 5, 5... s between attempts
RETRY_MAX_S = 5.0
# The GUI thread waits this long for a save when none is pending, so that the usual save (a few
# ms) is confirmed, and a conflict reported, before the edit call returns; never longer, and not
# at all while earlier saves are still pending (a stalled peer then costs nothing). The test
# suite raises it (SIRST_STUDIO_SAVE_GRACE_S) so that a loaded machine cannot make it flaky.
DEFAULT_GRACE_S = 0.1
GRACE_S = float(os.environ.get("SIRST_STUDIO_SAVE_GRACE_S") or DEFAULT_GRACE_S)


class WriteState(enum.Enum):
    PENDING = "pending"  # queued, not tried yet
    WRITING = "writing"  # the worker is committing it
    BUSY = "busy"  # the image is locked by someone else: retried after a back-off
    LANDED = "landed"  # committed
    FAILED = "failed"  # refused (a conflict, a deleted image): nothing of it was written
    DISCARDED = "discarded"  # dropped by the user while busy or pending


FINAL = (WriteState.LANDED, WriteState.FAILED, WriteState.DISCARDED)


@dataclass(eq=False)
class PendingWrite:
    """One edit on its way to the database. ``edit`` is what the document shows: new targets
    carry provisional ids (< 0); ``resolved`` is what was committed (real ids, version)."""

    seq: int
    edit: AnnotationEdit
    owner: object | None = None  # the undo command; told when it lands or is refused
    state: WriteState = WriteState.PENDING
    resolved: AnnotationEdit | None = None
    error: Exception | None = None
    attempts: int = 0
    retry_in: float = 0.0
    holders: tuple[str, ...] = ()  # who keeps the image locked, when the server can tell
    handled: bool = False  # the GUI thread has taken its result
    discard_requested: bool = False  # discarded while being written: dropped if it fails busy
    started: float = 0.0  # time.monotonic() when the current attempt began
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def image_id(self) -> int:
        return self.edit.image_id


@dataclass(frozen=True)
class SaveStatus:
    """What the status bar says: how many saves are pending, the busy one if any, and how long
    the save being tried has waited for the database (a held lock makes it wait)."""

    pending: int
    busy: PendingWrite | None = None
    waiting_s: float = 0.0


class SaveQueue(QObject):
    """The ordered writer of one project. ``submit`` from the GUI thread; results are taken by
    ``drain`` (connected to ``advanced``) and handed to ``on_result``."""

    advanced = Signal()  # emitted from the worker: a write finished or changed state
    status_changed = Signal(object)  # SaveStatus, on the GUI thread

    def __init__(self, project, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.on_result: Callable[[PendingWrite], None] | None = None
        self._cond = threading.Condition()
        self._queue: deque[PendingWrite] = deque()
        self._results: deque[PendingWrite] = deque()
        self._ids: dict[int, int] = {}  # provisional id -> the id it got when its add landed
        self._seq = 0
        self._closing = False
        self.advanced.connect(self.drain)
        self._thread = threading.Thread(target=self._run, name="save-queue", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- GUI thread
    def submit(self, edit: AnnotationEdit, owner: object | None = None) -> PendingWrite:
        with self._cond:
            if self._closing:
                raise ProjectError("the project is closing; the edit was not made")
            self._seq += 1
            write = PendingWrite(self._seq, edit, owner)
            self._queue.append(write)
            self._cond.notify_all()
        self.status_changed.emit(self.status())
        return write

    def idle(self) -> bool:
        with self._cond:
            return not self._queue

    def status(self) -> SaveStatus:
        with self._cond:
            # waiting for its retry or being retried: busy until it lands (no flicker)
            busy = next((w for w in self._queue if w.attempts > 0), None)
            head = self._queue[0] if self._queue else None
            waiting = time.monotonic() - head.started if head and head.state == WriteState.WRITING else 0.0
            return SaveStatus(len(self._queue), busy, waiting)

    def unsaved(self, image_id: int | None = None) -> list[PendingWrite]:
        """The writes not committed yet (of ``image_id`` only, if given), in order."""
        with self._cond:
            return [w for w in self._queue if image_id is None or w.image_id == image_id]

    def known(self, edit: AnnotationEdit) -> AnnotationEdit:
        """``edit`` with every provisional id whose add has landed replaced by its real id."""
        with self._cond:
            ids = dict(self._ids)
        return _translate(edit, ids)[0] if ids else edit

    def wait(self, write: PendingWrite, timeout: float) -> bool:
        """Wait up to ``timeout`` s for ``write`` to finish; True when it did (its result is
        then the caller's: ``drain`` skips it)."""
        if write.done.wait(timeout):
            write.handled = True
            return True
        return False

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until every write finished; True when the queue is empty."""
        with self._cond:
            self._cond.wait_for(lambda: not self._queue, timeout)
            empty = not self._queue
        self.drain()
        return empty

    def reown(self, old: object, new: object) -> None:
        """``old``'s unsaved writes now belong to ``new`` (an undo step merged into another)."""
        with self._cond:
            for w in (*self._queue, *self._results):
                if w.owner is old:
                    w.owner = new

    def discard(self, image_id: int | None = None) -> int:
        """Drop every unsaved write of ``image_id`` (the busy one and those made on top of it;
        None: of every image); returns how many. A write being tried right now is dropped when
        the attempt comes back busy (if it lands instead, it is saved)."""
        with self._cond:
            mine = [w for w in self._queue if image_id in (None, w.image_id)]
            gone = [w for w in mine if w.state != WriteState.WRITING]
            for w in mine:
                w.discard_requested = True
            for w in gone:
                self._queue.remove(w)
                w.state, w.error = WriteState.DISCARDED, None  # the user's choice: no error
                w.done.set()
                self._results.append(w)
            self._cond.notify_all()
        self.drain()
        return len(mine)

    def drain(self) -> None:
        """Hand the finished writes to ``on_result`` (GUI thread), then announce the status."""
        while True:
            with self._cond:
                if not self._results:
                    break
                write = self._results.popleft()
            if not write.handled:
                write.handled = True
                if self.on_result is not None:
                    try:
                        self.on_result(write)
                    except Exception:  # noqa: BLE001 - e.g. a reload while the server is down
                        sys.excepthook(*sys.exc_info())  # said; the other results still follow
        self.status_changed.emit(self.status())

    def close(self) -> None:
        """Stop the worker (after the write it is committing); unsaved writes are dropped, so
        callers ``flush`` first."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=60)
        self.advanced.disconnect(self.drain)
        self.deleteLater()  # one queue per opened project: not kept by the window

    # ---------------------------------------------------------------- worker thread
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closing or self._ready())
                if self._closing:
                    return
                write = self._queue[0]
                write.state, write.started = WriteState.WRITING, time.monotonic()
                ids = dict(self._ids)
            self._write(write, ids)

    def _ready(self) -> bool:
        return bool(self._queue) and self._queue[0].state != WriteState.BUSY

    def _write(self, write: PendingWrite, ids: dict[int, int]) -> None:
        try:
            edit, fresh = _translate(write.edit, ids, for_writing=True)
            resolved = self.project.apply_edit(edit)
        except (ImageBusy, ServerUnreachable) as exc:  # worth waiting for: kept, retried
            self._busy(write, exc)
            return
        except Exception as exc:  # noqa: BLE001 - any refusal is the GUI's to report
            self._finish(write, WriteState.FAILED, error=exc)
            return
        learned = {pid: resolved.targets[i].after.id for i, pid in fresh.items()}
        self._finish(write, WriteState.LANDED, resolved=resolved, learned=learned)

    def _busy(self, write: PendingWrite, exc: ImageBusy | ServerUnreachable) -> None:
        if write.discard_requested:  # the user gave it up while this attempt ran
            self._finish(write, WriteState.DISCARDED)
            return
        try:
            holders = tuple(self.project.stalled_savers())
        except Exception:  # noqa: BLE001 - only for the message: never in the way of the retry
            holders = ()
        with self._cond:
            write.holders = holders
            write.attempts += 1
            write.error = exc
            write.retry_in = min(RETRY_FIRST_S * 2 ** (write.attempts - 1), RETRY_MAX_S)
            if write.state == WriteState.WRITING:
                write.state = WriteState.BUSY
        self.advanced.emit()
        with self._cond:  # woken early by a discard or by closing
            self._cond.wait_for(lambda: self._closing or write.state != WriteState.BUSY,
                                write.retry_in)  # fmt: skip
            if write.state == WriteState.BUSY:
                write.state = WriteState.PENDING

    def _finish(self, write: PendingWrite, state: WriteState, resolved=None, error=None,
                learned: dict[int, int] | None = None) -> None:  # fmt: skip
        with self._cond:
            self._ids.update(learned or {})
            write.state, write.resolved, write.error = state, resolved, error
            if self._queue and self._queue[0] is write:
                self._queue.popleft()
            finished = [write]
            if state == WriteState.FAILED and write.owner is not None:
                # Its command's later steps (an undo of it...) were made on top of an edit that
                # never happened: they are refused with it, not written.
                for w in [w for w in self._queue if w.owner is write.owner]:
                    self._queue.remove(w)
                    w.state, w.error = WriteState.FAILED, error
                    finished.append(w)
            for w in finished:
                self._results.append(w)
                w.done.set()
            self._cond.notify_all()
        self.advanced.emit()


def _translate(
    edit: AnnotationEdit, ids: dict[int, int], for_writing: bool = False
) -> tuple[AnnotationEdit, dict[int, int]]:
    """``edit`` with provisional ids replaced by the real ids in ``ids``. ``for_writing``: an
    added target whose provisional id is still unknown is written as new (id None); returns the
    edit and {index of that change: its provisional id}, to learn the id it gets."""
    fresh: dict[int, int] = {}
    changes = []
    for i, c in enumerate(edit.targets):
        before, after = c.before, c.after
        if before is not None and before.id is not None and before.id < 0:
            real = ids.get(int(before.id))
            if real is None and for_writing:
                raise ProjectError(f"{edit.text}: it changes a target whose own save was refused")
            if real is not None:
                before = replace(before, id=real)
        if after is not None and after.id is not None and after.id < 0:
            real = ids.get(int(after.id))
            if real is not None:
                after = replace(after, id=real)
            elif for_writing:
                fresh[i] = int(after.id)
                after = replace(after, id=None)
        changes.append(TargetChange(before, after) if (before, after) != (c.before, c.after) else c)
    if not fresh and all(a is b for a, b in zip(changes, edit.targets, strict=True)):
        return edit, fresh
    return replace(edit, targets=tuple(changes)), fresh
