"""Issue 25 item 9: a project creation that fails on a full disk leaves nothing behind (no
schema-less project.sqlite, no folder it made), and a schema-less project.sqlite left by an older
version is refused by `info`, `import` and `demo` alike with one message (real CLI; the full disk
is RLIMIT_FSIZE: every write beyond the limit fails)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests._support.cli import assert_clean, cli, cli_here, tiny_densesirst


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("src") / "SIRSTdevkit"
    tiny_densesirst(root, n=2)
    return root


@pytest.mark.parametrize("limit", [4096, 20_000, 40_000])  # the first page; part of the schema
def test_creation_failing_on_a_full_disk_leaves_nothing(src: Path, tmp_path: Path, limit: int) -> None:
    project = tmp_path / "new" / "project"
    for args in (["import", src, project, "--format", "densesirst"], ["demo", project]):
        result = cli(*args, max_file_bytes=limit)
        assert_clean(result)
        assert result.returncode == 2, result.stderr
        assert "cannot create the project database" in result.stderr or "File too large" in result.stderr, result.stderr
        assert not (tmp_path / "new").exists(), sorted(p.name for p in (tmp_path / "new").rglob("*"))
    # the same creation with room to spare works: the failure was the disk
    assert cli_here("import", src, project, "--format", "densesirst").returncode == 0
    assert (project / "project.sqlite").is_file()


def _leftover(folder: Path) -> Path:
    """What older versions left: a 4 KB SQLite file in WAL mode with no table and no ids."""
    folder.mkdir(parents=True)
    con = sqlite3.connect(folder / "project.sqlite")
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    assert (folder / "project.sqlite").stat().st_size > 0
    return folder


def test_info_import_and_demo_refuse_a_schema_less_project_file_alike(src: Path, tmp_path: Path) -> None:
    project = _leftover(tmp_path / "project")
    before = (project / "project.sqlite").read_bytes()
    messages = set()
    for args in (["info", project], ["import", src, project, "--format", "densesirst"], ["demo", project]):
        result = cli_here(*args)
        assert_clean(result)
        assert result.returncode == 2, (args, result.stderr)
        error = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
        assert len(error) == 1, (args, result.stderr)
        messages.add(error[0])
    assert len(messages) == 1 and "empty database without a SIRST Studio schema" in messages.pop()
    assert (project / "project.sqlite").read_bytes() == before  # not adopted
    con = sqlite3.connect(project / "project.sqlite")
    assert con.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    con.close()
