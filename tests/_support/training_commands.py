"""The Training dock's command line, caught instead of run: the panel's ``command_builder`` records
the arguments ``training_panel.default_command`` builds and starts ``python -c pass`` (nothing
trains), so a test reads the flags a click sends."""

from __future__ import annotations

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
