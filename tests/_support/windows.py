"""The real main window for widget tests, without the extension panels (each test installs the
panels it is about), so that a test sees only the docks it asked for."""

from __future__ import annotations


def bare_window(qtbot):
    """A new ``MainWindow(install_panels=False)`` in the test application, closed by qtbot."""
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings

    create_application(exception_hook=False)
    window = MainWindow(AppSettings(), install_panels=False)
    qtbot.addWidget(window)
    return window


def show_window(qtbot, window, size: tuple[int, int] | None = None) -> None:
    """Resize (when ``size`` is given), show and wait until the window (any top-level widget) is
    exposed on the screen."""
    if size is not None:
        window.resize(*size)
    window.show()
    qtbot.waitExposed(window)


def team_window(qtbot):
    """A shown bare window with the team panel (File > Open server project...); closed after."""
    from app import team_panel

    window = bare_window(qtbot)
    team_panel.install(window)
    show_window(qtbot, window)
    yield window
    window.close()
