"""core.userdirs: the override variable wins, then $XDG_*_HOME, then the XDG default under HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.machine import config_dir
from core.store.location import cache_home
from core.userdirs import XdgKind, user_dir

VARIABLES = ("SIRST_CONFIG_DIR", "SIRST_CACHE_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
             "XDG_STATE_HOME", "SIRST_X")  # fmt: skip


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.parametrize("kind, default", [(XdgKind.CONFIG, ".config/sirst-studio"),
                                           (XdgKind.CACHE, ".cache/sirst-studio"),
                                           (XdgKind.STATE, ".local/state/sirst-studio")])  # fmt: skip
def test_default_is_the_xdg_default_under_home(home, kind, default):
    assert user_dir(kind, "SIRST_X") == home / default


def test_xdg_variable_then_override(home, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert user_dir(XdgKind.STATE, "SIRST_X") == tmp_path / "state" / "sirst-studio"
    monkeypatch.setenv("SIRST_X", str(tmp_path / "mine"))
    assert user_dir(XdgKind.STATE, "SIRST_X") == tmp_path / "mine"  # used as it is
    monkeypatch.setenv("SIRST_X", "")
    assert user_dir(XdgKind.STATE, "SIRST_X") == tmp_path / "state" / "sirst-studio"


def test_machine_config_and_server_cache_folders(home, monkeypatch, tmp_path):
    assert config_dir() == home / ".config" / "sirst-studio"
    assert cache_home() == home / ".cache" / "sirst-studio"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("SIRST_CACHE_DIR", str(tmp_path / "c"))
    assert config_dir() == tmp_path / "cfg" / "sirst-studio"
    assert cache_home() == tmp_path / "c"


def test_crash_log_goes_to_the_state_folder(home, monkeypatch, tmp_path):
    from app.cli import write_crash_log

    monkeypatch.delenv("SIRST_LOG_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    try:
        raise RuntimeError("boom for the log")
    except RuntimeError:
        path = Path(write_crash_log("info"))
    assert path.parent == tmp_path / "state" / "sirst-studio"
    assert "boom for the log" in path.read_text(encoding="utf-8")


def test_onnx_graph_cache_folder(home, monkeypatch, tmp_path):
    from model.onnx_export import cache_dir

    monkeypatch.delenv("SIRST_STUDIO_CACHE", raising=False)
    assert cache_dir() == home / ".cache" / "sirst-studio"
    monkeypatch.setenv("SIRST_STUDIO_CACHE", str(tmp_path / "graphs"))
    assert cache_dir() == tmp_path / "graphs"
