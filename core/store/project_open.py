"""How a ``Project`` is found and connected: a project folder (SQLite, read-write or read-only)
or a PostgreSQL URL, created, opened or either, with the schema upgraded on the way in: the
version stamp read and written, an older database brought to SCHEMA_VERSION through
core/store/migrations.py, foreign, newer or empty ones refused (the tables themselves are
core/store/db.py's). A mixin of ``core.store.project.Project`` (kept apart so that module stays
small); its classmethods build the project with ``cls(root, engine, ...)`` and touch nothing else
of it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Self

from sqlalchemy import Connection, Engine, exc, text
from sqlalchemy.exc import DBAPIError

from core.errors import ProjectError
from core.machine import MachineSettings
from core.store.db import APPLICATION_ID, SCHEMA_VERSION, Base, is_server
from core.store.engine import WRITE_OPTION, damaged, make_engine
from core.store.location import as_url, check_server_url, redact, server_root
from core.store.migrations import MIGRATIONS

DB_NAME = "project.sqlite"
MODELS_DIR = "models"


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


def is_writable(root: Path) -> bool:
    """Can this process write the project (folder and database file; a read-only mount too)?"""
    files = [root, root / DB_NAME]
    return all(os.access(p, os.W_OK) for p in files if p.exists())


def _machine_settings() -> MachineSettings:
    from core import machine

    return machine.load()


def _upgrade(engine, label: Path | str, adopt_empty: bool = True) -> None:
    """Bring the schema up to date; the engine is disposed when that fails."""
    try:
        upgrade_schema(engine, label, adopt_empty)
    except (DBAPIError, sqlite3.Error) as e:
        engine.dispose()
        raise damaged(label, e) from e
    except BaseException:
        engine.dispose()
        raise


_SIDE_FILES = ("-wal", "-shm", "-journal")


def _create_database(path: Path) -> None:
    """A new project database at ``path``, all or nothing: the schema is made in a temp file
    beside it, checkpointed into that one file and moved into place, so a failure (a full disk)
    or a kill leaves no schema-less project.sqlite behind, only a temp file that is removed."""
    import secrets

    from sqlalchemy.exc import SQLAlchemyError

    for stale in path.parent.glob(f".{path.name}.*.tmp*"):  # a creation killed earlier
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    engine = make_engine(tmp)
    try:
        try:
            upgrade_schema(engine, path)
            with engine.connect() as conn:  # the WAL into the file: nothing may stay behind in it
                busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        except (DBAPIError, sqlite3.Error, SQLAlchemyError, ProjectError) as e:  # "disk I/O error" when full
            cause = e.__cause__ if isinstance(e, ProjectError) and e.__cause__ is not None else e
            why = str(getattr(cause, "orig", None) or cause).strip()
            raise ProjectError(f"cannot create the project database {path} ({why}); nothing was left "
                               "behind: check the free space and that the folder is writable") from e
        finally:
            engine.dispose()
        if busy:
            raise ProjectError(f"could not finish writing {path}; check the free space and retry")
        if path.exists():
            raise ProjectError(f"{path.parent} already holds a project; open it instead of creating one")
        os.replace(tmp, path)
    finally:
        for suffix in ("", *_SIDE_FILES):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)


class ProjectConnect:
    """``Project.create`` / ``open`` / ``open_or_create`` and the connections behind them."""

    @classmethod
    def create(cls, root: Path | str, machine: MachineSettings | None = None) -> Self:
        """Make a new project folder (it may exist, but must not hold a project yet), or a new
        project in an empty server database (``root`` a URL)."""
        machine = machine if machine is not None else _machine_settings()  # bad settings: touch nothing
        url = as_url(root)
        if url is not None:
            return cls._connect_server(url, machine, create=True)
        root = Path(root).absolute()
        if (root / DB_NAME).exists():
            raise ProjectError(f"{root} already holds a project; open it instead of creating one")
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root} is a file; choose a folder for the new project")
        made, folder = [], root / MODELS_DIR  # the folders this creation makes, deepest first
        while not folder.exists() and folder != folder.parent:
            made.append(folder)
            folder = folder.parent
        (root / MODELS_DIR).mkdir(parents=True, exist_ok=True)
        try:
            _create_database(root / DB_NAME)
        except BaseException:
            for folder in made:  # leave the disk as it was (each only while still empty)
                try:
                    folder.rmdir()
                except OSError:
                    pass
            raise
        return cls._connect(root, machine)

    @classmethod
    def open(
        cls, root: Path | str, machine: MachineSettings | None = None, read_only: bool | None = None
    ) -> Self:
        """Open an existing project (a folder or a server URL), upgrading its schema when it was
        made by an older version. ``read_only`` (SQLite): True never writes (info, export); None
        (default) opens read-only only when the folder, the database file or the mount is not
        writable."""
        machine = machine if machine is not None else _machine_settings()
        url = as_url(root)
        if url is not None:
            return cls._connect_server(url, machine, create=False)
        root = Path(root).absolute()
        if not (root / DB_NAME).is_file():
            raise ProjectError(
                f"{root} is not a SIRST Studio project (no {DB_NAME} inside); create one with "
                "File > New Project in the GUI or by importing images with `main.py import`"
            )
        if read_only is None:
            read_only = not is_writable(root)
        if read_only:
            return cls._connect_read_only(root, machine)
        (root / MODELS_DIR).mkdir(exist_ok=True)
        return cls._connect(root, machine)

    @classmethod
    def _connect_read_only(cls, root: Path, machine: MachineSettings | None) -> Self:
        db_path = root / DB_NAME
        # mode=ro still needs the -shm file of a WAL database; on a read-only folder or
        # mount SQLite cannot create it, and only immutable=1 can read the file
        for immutable in (False, True):
            engine = make_engine(db_path, read_only=True, immutable=immutable)
            try:
                check_schema_read_only(engine, db_path)
                return cls(root, engine, machine=machine, read_only=True)
            except ProjectError:
                engine.dispose()
                if immutable or is_writable(root):
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def open_or_create(cls, root: Path | str, machine: MachineSettings | None = None) -> Self:
        machine = machine if machine is not None else _machine_settings()
        url = as_url(root)
        if url is not None:
            return cls._connect_server(url, machine, create=None)
        root = Path(root)
        return cls.open(root, machine) if (root / DB_NAME).exists() else cls.create(root, machine)

    @classmethod
    def _connect(cls, root: Path, machine: MachineSettings | None) -> Self:
        engine = make_engine(root / DB_NAME)
        _upgrade(engine, root / DB_NAME, adopt_empty=False)  # only _create_database makes schemas
        return cls(root, engine, machine=machine)

    @classmethod
    def _connect_server(cls, url: str, machine: MachineSettings | None, create: bool | None) -> Self:
        """``create``: True = the database must be empty, False = it must hold a project,
        None = either (open or create)."""
        machine = machine if machine is not None else _machine_settings()
        engine = make_engine(check_server_url(url), user=machine.user_name)
        label = redact(url)
        if create is not None:
            try:
                with engine.connect() as conn:
                    version, _app_id, has_tables = read_meta(conn)
            except (DBAPIError, sqlite3.Error) as e:
                engine.dispose()
                raise damaged(label, e) from e
            if create and (version or has_tables):
                engine.dispose()
                raise ProjectError(f"{label} already holds tables; open it instead of creating one")
            if not create and not version:
                engine.dispose()
                raise ProjectError(
                    f"{label} holds no SIRST Studio project (the database is empty or foreign); "
                    "create one with `main.py import SRC URL` or File > Open server project"
                )
        _upgrade(engine, label)
        root = server_root(url)
        (root / MODELS_DIR).mkdir(parents=True, exist_ok=True)
        return cls(root, engine, url=url, machine=machine)
