"""Read a project's rows with plain sqlite3, read-only: the database itself as the independent
truth beside the app's own code (which a test must not use to check itself)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def project_rows(root: Path, sql: str, *args) -> list[tuple]:
    """The rows of ``sql`` (``?`` placeholders filled from ``args``) in ``root``/project.sqlite."""
    con = sqlite3.connect(f"file:{Path(root) / 'project.sqlite'}?mode=ro", uri=True)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()
