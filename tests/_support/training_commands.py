"""The Training dock's command line, caught instead of run: the panel's ``command_builder`` records
the arguments ``training_panel.default_command`` builds and starts ``python -c pass`` (nothing
trains), so a test reads the flags a click sends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from app import training_panel


def capture_commands(panel) -> list[list[str]]:
    """Every argument list the panel builds from now on, in order."""
    seen: list[list[str]] = []

    def build(root, run_dir, opts):
        program, args = training_panel.default_command(root, run_dir, opts)
        seen.append(args)
        return program, ["-c", "pass"]  # nothing runs

    panel.command_builder = build
    return seen


def flag(args: list[str], name: str) -> str | None:
    """The value after ``name`` in ``args`` (None when the flag is absent)."""
    return args[args.index(name) + 1] if name in args else None


@contextlib.contextmanager
def training_dock(qtbot, tmp_path, images: int, train: int) -> Iterator[tuple]:
    """The Training dock on a fake window over a project of ``images`` reviewed images, the first
    ``train`` of them in the train split and the rest in val: yields (window, panel, project)."""
    from core.domain import ReviewStatus, Split
    from tests._support.labels import set_split, set_status
    from tests.gui.test_preannotate_support import FakeWindow, make_project

    project, ids = make_project(tmp_path, images)
    for k, image_id in enumerate(ids):
        set_split(project, image_id, Split.TRAIN if k < train else Split.VAL)
        set_status(project, image_id, ReviewStatus.REVIEWED)
    window = FakeWindow(project)
    qtbot.addWidget(window)
    training_panel.install(window)
    panel = window.dock_widget(training_panel.DOCK_NAME)
    try:
        yield window, panel, project
    finally:
        panel.process.shutdown(2000)
        project.close()
