"""Where a project lives: a local folder (SQLite) or a database server (a SQLAlchemy URL).

A server project has no folder of its own, yet the app keeps files beside the database (trained
models, thumbnails, caches, split records). Those go to a per-machine local directory keyed by
the URL (ADR 0008), so two machines never fight over one cache and the server holds only rows.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from pathlib import Path

from core.errors import ProjectError
from core.userdirs import XdgKind, user_dir

# "scheme://" where scheme is a SQLAlchemy dialect[+driver]; two letters at least so that a
# Windows drive ("C:/") is never taken for a URL. ":/" alone: a URL that went through Path(),
# which folds "//" into "/" (``Path("postgresql://h/db")`` -> "postgresql:/h/db").
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]+):/(?P<rest>.*)$")
SERVER_DIALECTS = ("postgresql",)


def as_url(target: object) -> str | None:
    """The database URL ``target`` names, or None when it is a folder path."""
    m = _URL.match(str(target))
    if m is None:
        return None
    rest = m.group("rest")
    if not rest.startswith("/"):
        rest = "/" + rest  # undo Path()'s folding of "//"
    return f"{m.group('scheme')}:/{rest}"


def check_server_url(url: str) -> str:
    """``url`` if it names a supported server back-end, else a ProjectError saying what works."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as e:  # ValueError: a port that is not a number, "[::1"
        raise ProjectError(f"{redact(url)} is not a valid database URL ({_url_problem(url, e)}); "
                           f"the form is {URL_FORM}") from e
    if parsed.get_backend_name() not in SERVER_DIALECTS:
        raise ProjectError(
            f"{redact(url)}: SIRST Studio projects live in a folder (SQLite) or on a PostgreSQL "
            f"server ({URL_FORM}); '{parsed.get_backend_name()}' is not supported"
        )
    try:
        parsed.get_dialect()  # the driver after "+": one SQLAlchemy knows, before any connection
    except ArgumentError as e:  # NoSuchModuleError
        raise ProjectError(
            f"{redact(url)}: unknown database driver '{parsed.get_driver_name()}'; "
            f"use postgresql+psycopg ({URL_FORM})"
        ) from e
    except ImportError:
        pass  # a known driver that is not installed: make_engine says how to install it
    if not parsed.database:
        raise ProjectError(f"{redact(url)} names no database; add /DATABASE at the end")
    return url


URL_FORM = "postgresql+psycopg://user@host:port/database"


def _url_problem(url: str, e: Exception) -> str:
    """SQLAlchemy's parse error in the user's terms."""
    if url.count("[") != url.count("]"):
        return "the [ ] around an IPv6 host are not closed"
    if "invalid literal for int()" in str(e):
        return "the port is not a number"
    return str(e)


def redact(url: str) -> str:
    """The URL without its password (for messages and window titles)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def cache_home() -> Path:
    """The per-machine cache root (SIRST_CACHE_DIR, else $XDG_CACHE_HOME/sirst-studio)."""
    return user_dir(XdgKind.CACHE, "SIRST_CACHE_DIR")


def server_root(url: str) -> Path:
    """The local folder of a server project on this machine: models/, .cache/, split records.

    Keyed by host, port and database (not user or password: one folder per project, whoever
    logs in), readable name plus a hash so that different servers never collide."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    key = f"{u.get_backend_name()}://{u.host or 'local'}:{u.port or ''}/{u.database}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{u.host or 'local'}_{u.port or ''}_{u.database}")
    return cache_home() / "servers" / f"{slug}-{digest}"


class BadLocation(ProjectError, argparse.ArgumentTypeError):
    """A server URL that cannot name a project: argparse reports it as a usage error (exit 2,
    before the command touches anything), everything else as the ProjectError it is."""


def project_arg(text: str) -> Path | str:
    """argparse ``type`` for PROJECT: a server URL stays a string (``Path`` would fold its
    "//" and make a local folder of it), checked here so that every command refuses a malformed
    one before it starts; anything else is a folder path."""
    url = as_url(text)
    if url is None:
        return Path(text)
    try:
        return check_server_url(url)
    except ProjectError as e:
        raise BadLocation(str(e)) from None


def describe(target: Path | str) -> str:
    """A project location for messages: the folder, or the URL without its password."""
    return redact(target) if isinstance(target, str) and as_url(target) else str(target)
