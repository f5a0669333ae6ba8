"""On SQLite, opening a project never waits on another writer's lock (issue 22): before, a
writer holding the lock made Project.open fail after 30 s with "database is locked"."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from core.store.project import Project
from tests.unit.test_project import new

HOLD = textwrap.dedent(
    """
    import sqlite3, sys, time
    c = sqlite3.connect(sys.argv[1], isolation_level=None)
    c.execute("BEGIN IMMEDIATE")
    c.execute("UPDATE images SET note = 'being written'")
    print("locked", flush=True)
    time.sleep(120)
    """
)


def test_open_and_list_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    root = tmp_path / "p"
    with Project.create(root) as p:
        p.add_images([new("a"), new("b")])
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(root / "project.sqlite")],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with Project.open(root) as q:  # raised "database is locked" after 30 s before
            assert sorted(i.name for i in q.list_images()) == ["a", "b"]
            assert all(i.note in ("", None) for i in q.list_images())  # the uncommitted write is unseen
    finally:
        holder.kill()
        holder.wait(10)
