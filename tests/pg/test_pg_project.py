"""Server projects: a URL wherever a PROJECT is taken, one schema and one migration path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.errors import ProjectError
from core.store import db
from core.store.location import as_url, project_arg, server_root
from core.store.project import Project
from tests.unit.test_project import new

REPO = Path(__file__).resolve().parents[2]


def _main(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "main.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_a_url_is_never_taken_for_a_folder(tmp_path: Path) -> None:
    url = "postgresql+psycopg://ann@db.example:5432/ir"
    assert project_arg(url) == url
    assert as_url(Path(url)) == url  # Path() folded "//": still recognised, and repaired
    assert project_arg("C:/data/proj") == Path("C:/data/proj")  # a drive letter is no scheme
    assert project_arg(str(tmp_path)) == tmp_path
    with pytest.raises(ProjectError, match="not supported"):
        Project.open("mysql://u@h/db")


def test_cli_with_a_url_uses_the_server_and_creates_no_local_folder(pg_url, tmp_path: Path) -> None:
    r = _main("info", pg_url, cwd=tmp_path)
    assert r.returncode == 2 and "holds no SIRST Studio project" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []  # no "postgresql+psycopg:" folder appeared
    with Project.create(pg_url) as p:
        p.add_images([new("a"), new("b")])
    r = _main("info", pg_url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "total" in r.stdout and " 2" in r.stdout.splitlines()[-3] + r.stdout
    # The images' files (/nowhere/...) exist on no machine and no mapping covers them.
    assert "2 under /nowhere: no path mapping covers it" in r.stdout and "path_map" in r.stdout
    assert list(tmp_path.iterdir()) == []


def test_server_unreachable_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    r = _main("info", f"postgresql+psycopg://nobody@127.0.0.1:{port}/x", cwd=tmp_path)
    assert r.returncode == 2 and "check that the server runs" in r.stderr
    assert "Traceback" not in r.stderr


def test_create_open_and_refusals(pg_url, pg_server) -> None:
    with pytest.raises(ProjectError, match="holds no SIRST Studio project"):
        Project.open(pg_url)
    with Project.create(pg_url) as p:
        assert p.is_server and p.root == server_root(pg_url) and p.models_dir.is_dir()
        p.add_images([new("a")])
    with pytest.raises(ProjectError, match="already holds"):
        Project.create(pg_url)
    with Project.open_or_create(pg_url) as p:
        assert [i.name for i in p.list_images()] == ["a"]
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:  # a newer SIRST Studio wrote this database
        conn.exec_driver_sql(f"UPDATE sirst_meta SET value = '{db.SCHEMA_VERSION + 1}' "
                             "WHERE key = 'schema_version'")  # fmt: skip
    engine.dispose()
    with pytest.raises(ProjectError, match="newer SIRST Studio"):
        Project.open(pg_url)
    foreign = pg_server.create_database()
    try:
        engine = sa.create_engine(foreign)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE customers (id INTEGER)")
        engine.dispose()
        with pytest.raises(ProjectError, match="not a SIRST Studio project"):
            Project.open_or_create(foreign)
    finally:
        pg_server.drop_database(foreign)


def test_same_schema_on_both_backends(pg_url, tmp_path: Path) -> None:
    """Tables and columns the ORM creates on PostgreSQL equal those SQLite has after the
    migrations from v1 (one migration path)."""
    from tests.unit.test_project_schema import make_v1

    root = tmp_path / "old"
    make_v1(root)
    Project.open(root).close()
    with Project.create(pg_url):
        pass

    def columns(url: str) -> dict[str, set[str]]:
        engine = sa.create_engine(url)
        insp = sa.inspect(engine)
        out = {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()}
        engine.dispose()
        out.pop("sirst_meta", None)  # the server's stand-in for PRAGMA user_version
        out.pop("sqlite_sequence", None)
        return out

    assert columns(f"sqlite:///{root / 'project.sqlite'}") == columns(pg_url)
