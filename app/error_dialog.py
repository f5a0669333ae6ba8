"""The one error dialog: what went wrong, what to do, and the details (a traceback) on request."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def show_error(
    parent: QWidget | None, title: str, message: str, advice: str, details: str = ""
) -> None:
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, parent=parent)
    box.setInformativeText(advice)
    if details:
        box.setDetailedText(details)
    box.exec()
