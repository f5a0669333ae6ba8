"""The per-user folders of SIRST Studio (XDG base directories), in one place.

Each folder is an override variable when it is set (tests and packagers point it elsewhere), else
``$XDG_<KIND>_HOME/sirst-studio``, else the XDG default under the home folder.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path

APP_FOLDER = "sirst-studio"


class XdgKind(Enum):
    """An XDG base directory: (its variable, its default below the home folder)."""

    CONFIG = ("XDG_CONFIG_HOME", ".config")
    CACHE = ("XDG_CACHE_HOME", ".cache")
    STATE = ("XDG_STATE_HOME", ".local/state")


def user_dir(kind: XdgKind, override_env: str) -> Path:
    """``$override_env`` when set (used as it is), else the app's folder in the XDG ``kind`` dir."""
    env = os.environ.get(override_env)
    if env:
        return Path(env)
    variable, default = kind.value
    base = os.environ.get(variable)
    return (Path(base) if base else Path.home() / default) / APP_FOLDER
