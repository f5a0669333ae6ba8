"""Persistent user settings (QSettings): window layout, last project / image, recent projects.

Tests redirect QSettings to a temp dir (tests/gui/conftest.py) and the per-user data dir through
``SIRST_STUDIO_DATA_DIR``, so nothing here touches the real user profile during a test run.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths
from PySide6.QtWidgets import QMainWindow

ORGANIZATION = "SIRST Studio"
APPLICATION = "SIRST Studio"
DATA_DIR_ENV = "SIRST_STUDIO_DATA_DIR"
MAX_RECENT = 10


def data_dir() -> Path:
    """The per-user data folder (demo project, caches); ``SIRST_STUDIO_DATA_DIR`` overrides it."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(location or Path.home() / ".sirst-studio")


def demo_project_dir() -> Path:
    return data_dir() / "demo-project"


def _location(root: Path | str) -> str:
    """A folder as an absolute path; a server project's URL as it is (Path would break it)."""
    from core.store.location import as_url

    return as_url(root) or str(Path(root).absolute())


def _project_key(root: Path | str) -> str:
    # QSettings treats "/" in keys as groups: hash the path into one flat key.
    return hashlib.sha1(str(Path(root).absolute()).encode()).hexdigest()[:16]


class AppSettings:
    """Typed accessors over one QSettings store."""

    def __init__(self, store: QSettings | None = None) -> None:
        self._s = store if store is not None else QSettings()

    def sync(self) -> None:
        self._s.sync()

    # ---------------------------------------------------------------- projects
    def recent_projects(self) -> list[str]:
        value = self._s.value("recent_projects", [])
        if isinstance(value, str):  # QSettings returns a bare string for one-element lists
            value = [value]
        return [str(v) for v in (value or []) if v]

    def add_recent(self, root: Path | str) -> None:
        path = _location(root)
        recent = [p for p in self.recent_projects() if p != path]
        self._s.setValue("recent_projects", [path, *recent][:MAX_RECENT])

    def remove_recent(self, root: Path | str) -> None:
        path = _location(root)
        self._s.setValue("recent_projects", [p for p in self.recent_projects() if p != path])

    def last_project(self) -> str | None:
        value = self._s.value("last_project", "")
        return str(value) or None

    def set_last_project(self, root: Path | str | None) -> None:
        self._s.setValue("last_project", _location(root) if root else "")

    def last_image(self, root: Path | str) -> str | None:
        """Name of the image last shown in that project (names survive a re-import, ids may not)."""
        value = self._s.value(f"last_image/{_project_key(root)}", "")
        return str(value) or None

    def set_last_image(self, root: Path | str, image_name: str) -> None:
        self._s.setValue(f"last_image/{_project_key(root)}", image_name)

    # ---------------------------------------------------------------- editing
    def score_threshold(self, default: float = 0.5) -> float:
        try:
            return float(self._s.value("score_threshold", default))
        except (TypeError, ValueError):
            return default

    def set_score_threshold(self, value: float) -> None:
        self._s.setValue("score_threshold", float(value))

    def brush_radius(self, default: float) -> float:
        """The sky brush's radius in image pixels, as the user left it (``default`` when unset or bad)."""
        try:
            value = float(self._s.value("brush_radius", default))
        except (TypeError, ValueError):
            return default
        return value if value > 0 and value < float("inf") else default

    def set_brush_radius(self, value: float) -> None:
        self._s.setValue("brush_radius", float(value))

    def last_dir(self, purpose: str, default: Path | str | None = None) -> str:
        return str(self._s.value(f"last_dir/{purpose}", str(default or Path.home())))

    def set_last_dir(self, purpose: str, path: Path | str) -> None:
        self._s.setValue(f"last_dir/{purpose}", str(path))

    # ---------------------------------------------------------------- window
    def save_window(self, window: QMainWindow) -> None:
        """The window's geometry (its dock layout: ``save_layout``)."""
        self._s.setValue("window/geometry", window.saveGeometry())
        self._s.remove("window/state")  # the unversioned layout of before LAYOUT_VERSION

    def restore_window(self, window: QMainWindow) -> bool:
        """Restore the geometry; False when nothing was saved yet (first run)."""
        geometry = self._s.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes) and geometry:
            return window.restoreGeometry(QByteArray(geometry))
        return False

    def save_layout(self, version: int, workspace: str, states: dict[str, QByteArray]) -> None:
        """The current workspace and each workspace's dock arrangement, tagged with ``version``."""
        self._s.remove("layout")
        self._s.setValue("layout/version", int(version))
        self._s.setValue("layout/workspace", workspace)
        for name, state in states.items():
            self._s.setValue(f"layout/state_{name}", state)

    def saved_layout(self, version: int) -> tuple[str | None, dict[str, QByteArray]]:
        """(workspace, states) saved under ``version``; (None, {}) for another version or none:
        a layout saved by an older default must not come back half-broken."""
        try:
            saved = int(self._s.value("layout/version", -1))
        except (TypeError, ValueError):
            saved = -1
        if saved != int(version):
            return None, {}
        workspace = str(self._s.value("layout/workspace", "") or "") or None
        states = {}
        self._s.beginGroup("layout")
        keys = self._s.childKeys()
        self._s.endGroup()
        for key in keys:
            value = self._s.value(f"layout/{key}")
            if key.startswith("state_") and isinstance(value, QByteArray | bytes) and value:
                states[key.removeprefix("state_")] = QByteArray(value)
        return workspace, states
