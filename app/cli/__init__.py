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
COMMANDS = ["gui", "demo", "import_cmd", "export_cmd", "info", "synth", "train", "predict", "export_model", "evaluate"]


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
