"""The engine of a project database: connection set-up per engine (SQLite pragmas, BEGIN
IMMEDIATE for writers, PostgreSQL timeouts), and the ProjectError for a database the engine
refuses. Split from core/store/db.py (the tables and rows), which does not need it: a module
that only reads or writes rows never imports the connection set-up (ADR 0025).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import Connection

from core.errors import ImageBusy, ProjectError, ServerUnreachable

# Execution option that makes a Session start its transaction with BEGIN IMMEDIATE.
WRITE_OPTION = "sirst_write"


def make_engine(
    target: Path | str, read_only: bool = False, immutable: bool = False, user: str | None = None
) -> Engine:
    """The engine of a project database: an SQLite file path, or a server URL (str) that
    core.store.location.check_server_url has passed (project_open checks it first).

    Shared by threads: one pooled connection per Session. SQLite gets its pragmas on each
    connection and BEGIN IMMEDIATE for writers; a server needs neither (row locks, MVCC).
    ``read_only`` (SQLite) opens with ``mode=ro`` (nothing is ever written, no journal mode
    change); ``immutable`` also skips locking and the -shm file, for a database on a read-only
    folder or mount, where SQLite could not create one."""
    if isinstance(target, str):
        return _server_engine(target, user)
    db_path = Path(target)
    if not read_only:
        url = f"sqlite:///{db_path}"
    else:
        flag = "immutable=1" if immutable else "mode=ro"
        url = f"sqlite:///file:{quote(str(db_path.absolute()))}?{flag}&uri=true"
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30.0})
    event.listen(engine, "connect", _on_connect_read_only if read_only else _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def _on_connect_read_only(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA query_only=ON")
    finally:
        cur.close()


APP_NAME = "sirst-studio"  # the server sessions' application_name (":<user>" appended)
LOCK_TIMEOUT_MS = 4000
IDLE_TX_TIMEOUT_MS = 10000
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for lock_timeout


def _server_engine(url: str, user: str | None = None) -> Engine:
    try:
        return create_engine(
            url,
            pool_pre_ping=True,  # a server restart must not break the next edit
            connect_args={
                "connect_timeout": 10,
                # who this session saves for: named to a colleague whose save it blocks
                "application_name": f"{APP_NAME}:{user}"[:63] if user else APP_NAME,
                # Nobody waits on a stalled peer (ADR 0008): a writer gives up on a row lock after
                # LOCK_TIMEOUT_MS, and the server ends a transaction left idle (a suspended
                # laptop holding a lock) after IDLE_TX_TIMEOUT_MS, which frees its locks.
                "options": f"-c lock_timeout={LOCK_TIMEOUT_MS} "
                f"-c idle_in_transaction_session_timeout={IDLE_TX_TIMEOUT_MS}",
            },
        )
    except ModuleNotFoundError as e:  # the DBAPI driver is imported here
        raise ProjectError(
            f"the database driver for this URL is not installed ({e.name}); "
            "install it with `pip install 'psycopg[binary]'`"
        ) from e


def _on_connect(dbapi_conn, _record) -> None:
    # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit BEGIN would defeat BEGIN IMMEDIATE).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()


def _on_begin(conn: Connection) -> None:
    # Writers take the write lock up front: a deferred read-then-write transaction can fail with
    # SQLITE_BUSY at once (no busy wait) when another thread committed in between.
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def damaged(db_path: Path | str, error: Exception) -> ProjectError:
    """The ProjectError for a database the engine refuses to read or write."""
    orig = getattr(error, "orig", None) or error
    if getattr(orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
        return ImageBusy(
            f"another user's save of this image has not finished within {LOCK_TIMEOUT_MS // 1000} s "
            "(their program may be frozen or offline); nothing was changed: try again in a few "
            "seconds (the server releases a stalled save after "
            f"{IDLE_TX_TIMEOUT_MS // 1000} s)"
        )
    if isinstance(orig, sqlite3.OperationalError) and "database is locked" in str(orig):
        # Another program's write has held the project for the whole busy timeout (a frozen
        # process): the same edit may simply be retried (the GUI's save queue does, ADR 0022).
        return ImageBusy(
            f"another program has been saving to project database {db_path} for 30 s without "
            "finishing (it may be frozen); nothing was changed: try again when it is done"
        )
    if isinstance(error, exc.IntegrityError | sqlite3.IntegrityError):
        return ProjectError(
            f"the project database refused the change ({orig}); nothing was saved, reload and retry"
        )
    if isinstance(db_path, str):  # a server URL (already without its password)
        # Unreachable (down, restarting, network cut) is worth retrying; the rest is not.
        cls = ServerUnreachable if isinstance(error, exc.OperationalError | exc.InterfaceError) \
            else ProjectError  # fmt: skip
        return cls(
            f"project database {db_path} cannot be used ({str(orig).strip()}); check that the "
            "server runs, the URL (user, host, port, database) and that you may log in"
        )
    return ProjectError(
        f"project database {db_path} cannot be used ({orig}); if it is damaged, restore it from a "
        "backup, or if another program holds it locked, close that program and retry"
    )

