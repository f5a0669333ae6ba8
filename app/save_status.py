"""The status bar's save state and the flush before a project closes (ADR 0022).

"saved 12:03:41" when every edit is in the database; "saving 3 edits..." while the queue works;
"not saved yet: Misc_12 is being saved by someone else, retrying in 4 s" with a Discard button
while a stalled peer holds the image. Closing the project waits for the pending saves (a dialog
after a moment) and never drops one unless the user says so.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog, QPushButton

from app.save_queue import PendingWrite, SaveQueue, SaveStatus
from core.errors import ImageBusy, ServerUnreachable
from widgets.text import plural

QUIET_FLUSH_S = 1.0  # closing waits this long for pending saves before it shows a dialog
SLOW_SAVE_S = 2.0  # a save waiting longer than this for the database is said to be waiting


class SaveStatusBar(QObject):
    """Keeps the window's ``saved_label`` and a Discard button in step with its SaveQueue."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.queue: SaveQueue | None = None
        self._busy_told: int | None = None  # the busy write already announced
        self.discard_button = QPushButton("Discard unsaved", window)
        self.discard_button.setObjectName("discard_unsaved")
        self.discard_button.setToolTip("Give up the edits that cannot be saved yet (asks first)")
        self.discard_button.setVisible(False)
        self.discard_button.clicked.connect(self.ask_discard)
        window.statusBar().addPermanentWidget(self.discard_button)
        # While saves are pending the text is refreshed every second (how long it has waited).
        self._tick = QTimer(self, interval=1000)
        self._tick.timeout.connect(lambda: self.show(self.queue.status()) if self.queue else None)

    def attach(self, queue: SaveQueue | None) -> None:
        self.queue = queue
        self._busy_told = None
        self._tick.stop()
        self.discard_button.setVisible(False)
        if queue is not None:
            # Queued: the bar says "saving..." right after the edit's call returns, before the
            # next paint, instead of inside it (the edit path does not wait for the status bar).
            # (a status still queued when its project closed is not said).
            queue.status_changed.connect(lambda status, q=queue: self._show_of(q, status),
                                         Qt.ConnectionType.QueuedConnection)  # fmt: skip

    def name(self, image_id: int) -> str:
        info = self.window.list_model.info(image_id)
        return info.name if info is not None else f"image {image_id}"

    def describe(self, status: SaveStatus) -> str:
        n = plural(status.pending, "edit")
        busy = status.busy
        if busy is None and status.waiting_s >= SLOW_SAVE_S:
            return (f"saving {n}... (waiting {status.waiting_s:.0f} s for the database: someone "
                    "else is saving)")  # fmt: skip
        if busy is None:
            return f"saving {n}..."
        if isinstance(busy.error, ServerUnreachable):
            return (f"{n} not saved yet: the server cannot be reached; "
                    f"retrying ({plural(busy.attempts, 'try', 'tries')} so far)")  # fmt: skip
        return (f"{n} not saved yet: {self.name(busy.image_id)} is being saved by {_who(busy)}; "
                f"retrying ({plural(busy.attempts, 'try', 'tries')} so far)")  # fmt: skip

    def _show_of(self, queue: SaveQueue, status: SaveStatus) -> None:
        if queue is self.queue:
            self.show(status)

    def show(self, status: SaveStatus) -> None:
        label = self.window.saved_label
        self.discard_button.setVisible(status.busy is not None)
        if status.pending and not self._tick.isActive():
            self._tick.start()
        elif not status.pending:
            self._tick.stop()
        if status.pending == 0:
            if label.text().startswith("saving") or "not saved" in label.text():
                label.setText(f"saved {time.strftime('%H:%M:%S')}")
            return
        label.setText(self.describe(status))
        busy = status.busy
        if busy is not None and busy.seq != self._busy_told and isinstance(busy.error, ImageBusy):
            self._busy_told = busy.seq
            self.window.show_message(
                f"{self.name(busy.image_id)} is being saved by {_who(busy)}, whose program is not "
                "responding: try again later, or keep working: your edits are kept and shown, and "
                "saved as soon as it is free (retrying). Discard unsaved gives them up.", 15000)  # fmt: skip

    def ask_discard(self) -> None:
        status = self.queue.status() if self.queue is not None else None
        if status is None or status.busy is None:
            return
        image_id = status.busy.image_id
        n = len(self.queue.unsaved(image_id))
        answer = QMessageBox.question(
            self.window, "Discard unsaved edits",
            f"Discard {plural(n, 'unsaved edit')} of {self.name(image_id)}? They are lost; the "
            "image shows its stored labels again.",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )  # fmt: skip
        if answer == QMessageBox.StandardButton.Discard:
            gone = self.queue.discard(image_id)
            self.window.show_message(f"Discarded {plural(gone, 'unsaved edit')} of {self.name(image_id)}")

    def refused(self, write: PendingWrite) -> None:
        """A save of another image than the open one was refused: its list row re-reads."""
        if write.image_id != self.window.current_image_id:
            self.window.rows.reread(write.image_id)


def _who(write: PendingWrite) -> str:
    return " and ".join(write.holders) if write.holders else "someone else"


def flush_before_close(window, queue: SaveQueue) -> bool:
    """Wait for every pending save; after QUIET_FLUSH_S a dialog shows what is left and offers
    to discard it (asks again). True when everything was saved."""
    if queue.flush(QUIET_FLUSH_S):
        return True
    dialog = QProgressDialog("", "Discard and close", 0, 0, window)
    dialog.setWindowTitle("Saving edits")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)
    bar = window.save_status
    discarded = False
    try:
        while True:
            status = queue.status()
            if status.pending == 0:
                return not discarded
            dialog.setLabelText(f"Waiting for the database before closing: {bar.describe(status)}")
            dialog.show()
            QApplication.processEvents()
            if dialog.wasCanceled():
                answer = QMessageBox.question(
                    window, "Discard unsaved edits",
                    f"{plural(status.pending, 'edit')} could not be saved yet. Close anyway and "
                    "lose them?", QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                    QMessageBox.StandardButton.Cancel)  # fmt: skip
                if answer == QMessageBox.StandardButton.Discard:
                    queue.discard()  # a write being tried ends with this attempt
                    discarded = True
                dialog.reset()
            queue.flush(0.1)
    finally:
        dialog.close()
        dialog.deleteLater()
