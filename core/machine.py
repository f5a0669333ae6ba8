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

FILE_NAME = "machine.json"


def config_dir() -> Path:
    env = os.environ.get("SIRST_CONFIG_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "sirst-studio"


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
        return MachineSettings(user=data.get("user") or None, path_map=PathMap.of(data.get("path_map")))
    except (OSError, ValueError, AttributeError, TypeError) as e:
        raise ProjectError(f"machine settings {path} cannot be read ({e}); fix or delete it") from e


def save(settings: MachineSettings, path: Path | None = None) -> Path:
    """Write atomically (temp + replace), honouring the umask."""
    from core.fileio import atomic_write_bytes  # the one atomic writer (umask-honouring)

    path = path or config_dir() / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"user": settings.user, "path_map": [list(p) for p in settings.path_map.pairs]}
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
    return path
