"""How a ``Project`` is found and connected: a project folder (SQLite, read-write or read-only)
or a PostgreSQL URL, created, opened or either, with the schema upgraded on the way in. A mixin
of ``core.store.project.Project`` (kept apart so that module stays small); its classmethods build the
project with ``cls(root, engine, ...)`` and touch nothing else of it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Self

from sqlalchemy.exc import DBAPIError

from core.errors import ProjectError
from core.machine import MachineSettings
from core.store import db, schema
from core.store.location import as_url, redact, server_root

DB_NAME = "project.sqlite"
MODELS_DIR = "models"


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
        schema.upgrade_schema(engine, label, adopt_empty)
    except (DBAPIError, sqlite3.Error) as e:
        engine.dispose()
        raise db.damaged(label, e) from e
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
    engine = db.make_engine(tmp)
    try:
        try:
            schema.upgrade_schema(engine, path)
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
            engine = db.make_engine(db_path, read_only=True, immutable=immutable)
            try:
                schema.check_schema_read_only(engine, db_path)
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
        engine = db.make_engine(root / DB_NAME)
        _upgrade(engine, root / DB_NAME, adopt_empty=False)  # only _create_database makes schemas
        return cls(root, engine, machine=machine)

    @classmethod
    def _connect_server(cls, url: str, machine: MachineSettings | None, create: bool | None) -> Self:
        """``create``: True = the database must be empty, False = it must hold a project,
        None = either (open or create)."""
        engine = db.make_engine(url)
        label = redact(url)
        if create is not None:
            try:
                with engine.connect() as conn:
                    version, _app_id, has_tables = schema.read_meta(conn)
            except (DBAPIError, sqlite3.Error) as e:
                engine.dispose()
                raise db.damaged(label, e) from e
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
