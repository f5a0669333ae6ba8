"""QApplication setup and the last-resort exception hook (a dialog instead of a silent crash)."""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from app.settings import APPLICATION, ORGANIZATION
from core.errors import EditConflict, SirstError

log = logging.getLogger(__name__)

_showing_error = False  # an error raised while the dialog is up must not stack dialogs


def create_application(argv: list[str] | None = None, exception_hook: bool = True) -> QApplication:
    """The process's QApplication (created once), named so that QSettings finds its store."""
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
        app.setStyle("Fusion")
    app.setApplicationDisplayName(APPLICATION)
    # Garbage is collected on the GUI thread only, from the moment the application exists, so no
    # thread (worker, pool, export job) has to remember to arrange it (see app/gui_gc.py, ADR 0023).
    from app.gui_gc import ensure_gui_thread_gc

    ensure_gui_thread_gc()
    if exception_hook:
        sys.excepthook = show_exception
    return app


def error_text(exc: BaseException) -> tuple[str, str]:
    """(headline, what to do) for a dialog: our own errors already say both."""
    if isinstance(exc, SirstError):
        return str(exc), "Nothing was changed by the failed action."
    return (
        f"Unexpected error: {type(exc).__name__}: {exc}",
        "The action was not completed. Every edit made before it is saved in the project. "
        "If this keeps happening, report it with the details below.",
    )


CONFLICT_MESSAGE_MS = 20_000


def tell_conflict(exc: EditConflict) -> bool:
    """Say a refused edit in the status bar of the main window(s): someone else changed the
    image first (ADR 0008), the image already shows their labels and nothing was lost, so this
    is news, not an error. False when no window can say it (the error dialog then does)."""
    told = False
    for widget in QApplication.topLevelWidgets():
        say = getattr(widget, "show_message", None)
        if say is not None and widget.isVisible():
            say(f"Not applied: {exc}", CONFLICT_MESSAGE_MS)
            told = True
    if told:
        log.info("edit conflict: %s", exc)
    return told


def show_exception(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """sys.excepthook: log the traceback and show it in a dialog (Qt would otherwise abort)."""
    global _showing_error
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    log.error("uncaught exception:\n%s", details)
    if issubclass(exc_type, KeyboardInterrupt) or QApplication.instance() is None:
        sys.__excepthook__(exc_type, exc, tb)
        return
    if isinstance(exc, EditConflict) and tell_conflict(exc):
        return  # routine in a team: a status message, not an error dialog
    if _showing_error:
        return
    _showing_error = True
    try:
        headline, advice = error_text(exc)
        box = QMessageBox(QMessageBox.Icon.Critical, "SIRST Studio: error", headline)
        box.setInformativeText(advice)
        box.setDetailedText(details)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.exec()
    finally:
        _showing_error = False
