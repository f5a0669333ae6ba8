"""`python main.py gui [PROJECT]`: start the annotation GUI (also what `python main.py` runs)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from app.cli import EXIT_USAGE
from core.store.location import project_arg


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "gui",
        help="start the annotation GUI (the default command)",
        description="Start SIRST Studio. Without PROJECT, the welcome screen offers new / open / "
        "recent projects and the demo project.",
    )
    parser.add_argument("project", nargs="?", type=project_arg, help="project folder or server URL "
                        "(postgresql+psycopg://user@host:port/db) to open directly")  # fmt: skip
    parser.set_defaults(func=run)


def launch(project: Path | str | None, on_ready: Callable[[object], None] | None = None) -> int:
    """Create the app and the window, open ``project``, run ``on_ready(window)``, run the loop."""
    from app.application import create_application
    from app.main_window import MainWindow

    qt_app = create_application(sys.argv[:1])
    window = MainWindow()
    window.show()
    if project is not None:
        window.open_project(project)
    if on_ready is not None:
        on_ready(window)
    return int(qt_app.exec())


def run(args: argparse.Namespace) -> int:
    project = args.project  # a folder Path or a checked server URL (core.store.location.project_arg)
    if isinstance(project, Path) and not project.is_dir():
        print(f"error: {project} is not a folder; pass a project folder (one that holds "
              "project.sqlite) or run without PROJECT to use the welcome screen", file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    return launch(project)
