"""Schema versions of a project database: reading and writing the version stamp, upgrading an
older database through core/store/migrations.py, refusing foreign, newer or empty ones. The tables
themselves are core/store/db.py's; this module only decides which schema a database holds and brings
it to SCHEMA_VERSION.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, exc, text

from core.errors import ProjectError
from core.store.db import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    WRITE_OPTION,
    Base,
    damaged,
    is_server,
)
from core.store.migrations import MIGRATIONS

# Server projects are born at v4 (SIRST Studio never wrote older schemas there); the migrations
# from v4 on must therefore run on both engines (tests/pg/test_pg_project.py opens a v4 one).
_META = "sirst_meta"  # server: key/value table holding what SQLite keeps in PRAGMAs


def _pragma(conn: Connection, name: str) -> int:
    return int(conn.exec_driver_sql(f"PRAGMA {name}").scalar() or 0)


def read_meta(conn: Connection) -> tuple[int, int, bool]:
    """(schema version, application id, database has tables)."""
    if not is_server(conn):
        n = conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE type='table'").scalar()
        return _pragma(conn, "user_version"), _pragma(conn, "application_id"), bool(n)
    from sqlalchemy import inspect

    tables = set(inspect(conn).get_table_names())
    if _META not in tables:
        return 0, 0, bool(tables)
    meta = dict(conn.exec_driver_sql(f"SELECT key, value FROM {_META}").all())
    return int(meta.get("schema_version", 0)), int(meta.get("application_id", 0)), True


def _write_meta(conn: Connection, version: int) -> None:
    if not is_server(conn):
        conn.exec_driver_sql(f"PRAGMA application_id={APPLICATION_ID}")
        conn.exec_driver_sql(f"PRAGMA user_version={version}")
        return
    conn.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {_META} (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)"
    )
    for key, value in (("application_id", APPLICATION_ID), ("schema_version", version)):
        conn.execute(
            text(f"INSERT INTO {_META} (key, value) VALUES (:k, :v) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
            {"k": key, "v": str(value)},
        )  # fmt: skip


def upgrade_schema(engine: Engine, db_path: Path | str, adopt_empty: bool = True) -> int:
    """Bring the database to SCHEMA_VERSION (creating it in an empty database, unless
    ``adopt_empty`` is False: then an empty database is refused as ``check_schema_read_only``
    refuses it); returns the version found before upgrading (0: it was empty).

    Everything runs in one transaction, so a failure leaves the database as it was. On a server
    an advisory lock makes two clients opening a new project at once take turns.
    """
    try:
        # Opening a current project reads only: it never waits on another writer's lock.
        with engine.connect() as conn:
            version, app_id, has_tables = read_meta(conn)
        if version == SCHEMA_VERSION and app_id == APPLICATION_ID:
            return version
        with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
            if is_server(conn):
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({APPLICATION_ID})")
            version, app_id, has_tables = read_meta(conn)
            if version == 0 and app_id == 0 and not has_tables:
                if not adopt_empty:
                    raise empty_database(db_path)
                found = 0  # a new database: create the schema
                Base.metadata.create_all(conn)
            else:
                found = version
                _check_version(db_path, version, app_id, is_server(conn))
                for v in range(version, SCHEMA_VERSION):
                    MIGRATIONS[v](conn)
            _write_meta(conn, SCHEMA_VERSION)
    except exc.DatabaseError as e:
        raise damaged(db_path, e) from e
    return found


def empty_database(db_path: Path | str) -> ProjectError:
    """An SQLite project file without any schema (left by an older version whose project creation
    failed, e.g. on a full disk): every command refuses it with this message (issue 25)."""
    return ProjectError(
        f"{db_path} is an empty database without a SIRST Studio schema (a project creation that "
        "failed?); delete it (and any project.sqlite-wal / -shm beside it) and create the project again"
    )


def _check_version(db_path: Path | str, version: int, app_id: int, server: bool = False) -> None:
    if app_id != APPLICATION_ID:
        if server:
            raise ProjectError(
                f"database {db_path} holds tables but is not a SIRST Studio project; "
                "use an empty database (CREATE DATABASE) or another URL"
            )
        raise ProjectError(
            f"{db_path} is an SQLite file but not a SIRST Studio project database; "
            "move it away or choose another folder"
        )
    if version > SCHEMA_VERSION:
        raise ProjectError(
            f"{db_path} was made by a newer SIRST Studio (schema v{version}; this version reads up "
            f"to v{SCHEMA_VERSION}); update SIRST Studio to open it"
        )
    if version < 1 or any(v not in MIGRATIONS for v in range(version, SCHEMA_VERSION)):
        raise ProjectError(
            f"{db_path} has an unknown schema version v{version}; it cannot be opened"
        )


def check_schema_read_only(engine: Engine, db_path: Path) -> None:
    """A read-only project must already have the current schema (no migration can run)."""
    try:
        with engine.connect() as conn:
            version, app_id, tables = read_meta(conn)
    except exc.DatabaseError as e:
        raise damaged(db_path, e) from e
    if version == 0 and app_id == 0 and not tables:
        raise empty_database(db_path)
    _check_version(db_path, version, app_id)
    if version < SCHEMA_VERSION:
        raise ProjectError(
            f"{db_path} uses schema v{version} and is read-only, so it cannot be upgraded to "
            f"v{SCHEMA_VERSION}; copy the project to a writable folder and open the copy"
        )
