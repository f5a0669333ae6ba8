"""Command-line interface. One module per subcommand; each exposes ``add_parser(subparsers)``
(which registers the command and sets ``func``) and keeps heavy imports (torch, Qt) inside its
run function so that `python main.py info` starts fast and never loads Qt or torch.

Exit codes: 0 success, 1 finished with reported problems (e.g. some files skipped),
2 usage / bad input (nothing changed), 3 interrupted (state saved), 4 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_INTERNAL = 0, 1, 2, 3, 4

# Subcommand modules, in the order `--help` lists them.
COMMANDS = ["gui", "demo", "import_cmd", "export_cmd", "info", "synth", "train", "train_sky", "predict", "export_model", "evaluate"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="SIRST Studio: annotate infrared small targets. Without a command, starts the GUI.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"app.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"app.cli.{name}":
                continue  # command not built in this checkout
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str]) -> int:
    """Run one command. Every outcome maps to a documented exit code: a bug never ends in a bare
    traceback, but in a one-line message, the traceback in a log file, and EXIT_INTERNAL."""
    from core.errors import SirstError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui", *argv])
    try:
        return int(args.func(args) or 0)
    except SirstError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # the environment refused (permissions, disk full, read-only mount)
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:  # a bug: say so briefly, keep the details for the bug report
        log = write_crash_log(args.command or "gui")
        print(
            f"internal error in '{args.command}': {sys.exc_info()[1]!r}\n"
            f"this is a bug; the traceback was written to {log}",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def write_crash_log(command: str) -> str:
    """Write the current exception's traceback to a log file; returns where (or why not)."""
    import os
    import tempfile
    import time
    import traceback

    from core.userdirs import XdgKind, user_dir

    text = f"main.py {command}: {time.strftime('%Y-%m-%d %H:%M:%S')}\n{traceback.format_exc()}"
    base = user_dir(XdgKind.STATE, "SIRST_LOG_DIR")
    for folder in (base, tempfile.gettempdir()):
        try:
            os.makedirs(folder, exist_ok=True)
            fd, path = tempfile.mkstemp(prefix="crash-", suffix=".log", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            return path
        except OSError:
            continue
    return "nowhere (no writable log folder)"
