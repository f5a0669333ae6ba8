"""The "Image" dock: the current image's facts plus its status, split and note (all undoable)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.document_view import BAD_PIXEL_TIP
from core.domain import ImageInfo, ReviewStatus, Split
from widgets.scrolling import set_scrolled_layout
from widgets.text import plural


class _NoteEdit(QPlainTextEdit):
    focus_lost = Signal()

    def sizeHint(self) -> QSize:  # noqa: N802
        # Four lines by default (it grows with the dock): the Image dock must fit a 768-px screen.
        return QSize(200, self.fontMetrics().lineSpacing() * 4 + 12)

    def focusOutEvent(self, event) -> None:  # noqa: N802
        super().focusOutEvent(event)
        self.focus_lost.emit()


class ImagePanel(QWidget):
    """Emits ``field_edited(image_id, field, value)``; the window turns it into an undoable command."""

    field_edited = Signal(int, str, object)  # image id, field, value
    mark_reviewed_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image_id: int | None = None
        self._saved_note = ""
        self._info: ImageInfo | None = None
        # (info) -> (proposals at or above the threshold, threshold); set by app.image_actions.
        self.proposal_counter: Callable[[ImageInfo], tuple[int, float]] | None = None
        self.name_label = QLabel("No image", self)
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts_label = QLabel("", self)
        self.facts_label.setWordWrap(True)
        self.status_combo = QComboBox(self)
        for status in ReviewStatus:
            self.status_combo.addItem(status.value, status.value)
        self.split_combo = QComboBox(self)
        for split in Split:
            self.split_combo.addItem(split.value, split.value)
        self.note_edit = _NoteEdit(self)
        self.note_edit.setPlaceholderText("Notes about this image (saved automatically)")
        self.review_button = QPushButton("Mark reviewed && next", self)
        self.review_button.setToolTip("Mark this image reviewed and open the next unreviewed one "
                                      "(Ctrl+Enter)")  # fmt: skip
        for combo in (self.status_combo, self.split_combo):  # the dock may be narrow
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self._build()
        self.status_combo.activated.connect(lambda _i: self._emit("status", self.status_combo))
        self.split_combo.activated.connect(lambda _i: self._emit("split", self.split_combo))
        # Saved at every change (consecutive note edits of an image merge into one undo step,
        # app/commands.py): a crash right after typing loses nothing shown (issue 19).
        self.note_edit.textChanged.connect(self.commit_note)
        self.note_edit.focus_lost.connect(self.commit_note)
        self.review_button.clicked.connect(self.mark_reviewed_clicked)
        self.set_info(None)

    def _build(self) -> None:
        form = QFormLayout()
        form.addRow("Status", self.status_combo)
        form.addRow("Split", self.split_combo)
        layout = QVBoxLayout()
        set_scrolled_layout(self, layout)  # a short dock scrolls, the window keeps its size
        layout.addWidget(self.name_label)
        layout.addWidget(self.facts_label)
        layout.addLayout(form)
        layout.addWidget(QLabel("Note", self))
        layout.addWidget(self.note_edit, 1)
        layout.addWidget(self.review_button)

    def set_info(self, info: ImageInfo | None) -> None:
        """Show ``info`` without emitting edits (called after every change of that image)."""
        if info is not None and info.id == self._image_id and self.note_edit.hasFocus():
            keep_note = True  # do not overwrite what the user is typing
        else:
            keep_note = False
            self.commit_note()
        self._image_id = info.id if info is not None else None
        self._info = info
        for widget in (self.status_combo, self.split_combo, self.note_edit, self.review_button):
            widget.setEnabled(info is not None)
        if info is None:
            self.name_label.setText("No image")
            self.facts_label.setText("")
            for combo in (self.status_combo, self.split_combo):  # no stale "reviewed / train"
                combo.setCurrentIndex(-1)
            self.note_edit.blockSignals(True)
            self.note_edit.clear()
            self.note_edit.blockSignals(False)
            self._saved_note = ""
            return
        self.name_label.setText(f"<b>{info.name}</b>")
        facts = (f"{info.width} x {info.height}, {info.bit_depth}-bit, {info.channels} ch<br>"
                 f"{plural(info.n_targets, 'target')}, {self._proposal_text(info)}")  # fmt: skip
        tip = ""
        if info.n_bad_pixels is not None:  # recorded by the latest pre-annotation
            facts += f"<br>{plural(info.n_bad_pixels, 'bad pixel')} repaired"
            tip = BAD_PIXEL_TIP
        self.facts_label.setToolTip(tip)
        if info.missing:
            facts += "<br><span style='color:#d9534f'>File missing: move it back to " \
                     f"{info.path} or re-import it.</span>"  # fmt: skip
        self.facts_label.setText(facts)
        for combo, value in ((self.status_combo, info.status), (self.split_combo, info.split)):
            combo.blockSignals(True)
            combo.setCurrentIndex(combo.findData(str(value)))
            combo.blockSignals(False)
        self._saved_note = info.note
        if not keep_note and self.note_edit.toPlainText() != info.note:  # keeps the cursor
            self.note_edit.blockSignals(True)
            self.note_edit.setPlainText(info.note)
            self.note_edit.blockSignals(False)

    def _proposal_text(self, info: ImageInfo) -> str:
        if self.proposal_counter is None or not info.n_proposals:
            return plural(info.n_proposals, "proposal")
        shown, thr = self.proposal_counter(info)
        return f"{plural(shown, 'proposal')} at score >= {thr:.2f} (of {info.n_proposals})"

    def refresh(self) -> None:
        """Re-show the current image's facts (after the score threshold moved)."""
        if self._info is not None:
            self.set_info(self._info)

    def commit_note(self) -> None:
        """Emit the note when it differs from what the project holds."""
        text = self.note_edit.toPlainText()
        if self._image_id is not None and text != self._saved_note:
            self._saved_note = text
            self.field_edited.emit(self._image_id, "note", text)

    def _emit(self, field: str, combo: QComboBox) -> None:
        if self._image_id is not None:
            self.field_edited.emit(self._image_id, field, combo.currentData())
