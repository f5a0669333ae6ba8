"""Per-machine team settings, Qt-free so that the CLI and the GUI read the same file.

``machine.json`` in the config dir (SIRST_CONFIG_DIR, else $XDG_CONFIG_HOME/sirst-studio):
    {"user": "alice", "path_map": [["/mnt/share/ir", "Z:/ir"], ...]}
``user`` overrides the OS login name recorded on every edit; ``path_map`` maps image paths as
stored in a shared project (first element) to where this machine sees them (second).
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from core.errors import ProjectError
from core.userdirs import XdgKind, user_dir

FILE_NAME = "machine.json"


def config_dir() -> Path:
    return user_dir(XdgKind.CONFIG, "SIRST_CONFIG_DIR")


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers) and no LOGNAME/USER
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _norm(prefix: str) -> str:
    """A prefix compared as a POSIX string without a trailing slash (Windows '\\' -> '/')."""
    p = str(prefix).replace("\\", "/")
    return p.rstrip("/") if p not in ("/", "") else p


@dataclass(frozen=True)
class PathMap:
    """Stored prefix -> local prefix pairs; the longest matching prefix wins."""

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, pairs) -> PathMap:
        out = []
        for pair in pairs or ():
            if len(pair) != 2 or not str(pair[0]).strip() or not str(pair[1]).strip():
                raise ProjectError(f"a path mapping needs a stored and a local prefix, got {pair!r}")
            out.append((_norm(pair[0]), _norm(pair[1])))
        return cls(tuple(out))

    @staticmethod
    def _swap(path: str, pairs) -> str | None:
        p = _norm(path)
        best = None
        for src, dst in pairs:
            if p == src or p.startswith(src.rstrip("/") + "/"):
                if best is None or len(src) > len(best[0]):
                    best = (src, dst)
        if best is None:
            return None
        tail = p[len(best[0]) :].lstrip("/")
        return str(PurePosixPath(best[1]) / tail) if tail else best[1]

    def to_local(self, stored: str) -> str | None:
        """Where this machine sees a stored path; None when no mapping covers it."""
        return self._swap(stored, self.pairs)

    def to_stored(self, local: str) -> str | None:
        """The shared form of a local path (the reverse mapping); None when none covers it."""
        return self._swap(local, [(dst, src) for src, dst in self.pairs])


@dataclass
class MachineSettings:
    user: str | None = None  # None: the OS login name
    path_map: PathMap = field(default_factory=PathMap)

    @property
    def user_name(self) -> str:
        return self.user.strip() if self.user and self.user.strip() else os_user()


def load(path: Path | None = None) -> MachineSettings:
    """The settings file, or defaults when there is none; a broken file is a ProjectError."""
    path = path or config_dir() / FILE_NAME
    if not path.is_file():
        return MachineSettings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ProjectError(f"machine settings {path} cannot be read ({e}); fix or delete it") from e
    # Checked field by field before any project is touched: a wrong type must be a clear error
    # naming the field, never a crash later in the middle of creating a project.
    if not isinstance(data, dict):
        raise _bad_field(path, None, "must be a JSON object like " + _EXAMPLE, data)
    user = data.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad_field(path, "user", "must be your name as text (or null for the login name)", user)
    pairs = data.get("path_map")
    if pairs is not None and not (
        isinstance(pairs, list)
        and all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs)
    ):
        raise _bad_field(path, "path_map", 'must be a list of ["stored prefix", "local prefix"] pairs', pairs)
    try:
        path_map = PathMap.of(pairs)
    except ProjectError as e:
        raise ProjectError(f'machine settings {path}: "path_map": {e}; fix or delete the file') from e
    return MachineSettings(user=user or None, path_map=path_map)


_EXAMPLE = '{"user": "alice", "path_map": [["/mnt/share/ir", "Z:/ir"]]}'


def _bad_field(path: Path, name: str | None, rule: str, value: object) -> ProjectError:
    what = f'"{name}" ' if name else ""
    shown = json.dumps(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return ProjectError(f"machine settings {path}: {what}{rule}, not {shown}; fix or delete the file")


def save(settings: MachineSettings, path: Path | None = None) -> Path:
    """Write atomically (temp + replace), honouring the umask."""
    from core.fileio import atomic_write_bytes  # the one atomic writer (umask-honouring)

    path = path or config_dir() / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"user": settings.user, "path_map": [list(p) for p in settings.path_map.pairs]}
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
    return path
