"""SIRST Studio entry point: `python main.py` starts the GUI; `python main.py <command>` runs a CLI command."""

from __future__ import annotations

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
