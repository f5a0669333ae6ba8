"""docs/architecture.md is the contract between modules: every MainWindow member and panel method
it names exists, and the additions it documents are really there."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end >= 0 else len(text)]


def test_every_documented_main_window_member_exists(main_window):
    names = set(re.findall(r"\bwindow\.(\w+)", section("MainWindow API")))
    assert {"document", "apply_edit", "record_edit", "project_closed", "close_project", "undo_stacks"} <= names
    missing = sorted(n for n in names if not hasattr(main_window, n))
    assert missing == []


def test_every_documented_panel_method_exists():
    from app.main_window import MainWindow

    bullets = re.findall(r"^- `(app/\w+\.py)`:(.*?)(?=^- `|\Z)", section("Panels"), re.M | re.S)
    assert len(bullets) == 10  # preannotate, training, bagcp, inspector, image actions, stats, team,
    # review keys, object list, navigator
    for path, text in bullets:
        module = importlib.import_module(path[:-3].replace("/", "."))
        owners = [module, *(c for _, c in inspect.getmembers(module, inspect.isclass)
                            if c.__module__ == module.__name__)]  # fmt: skip
        assert callable(module.install)
        for name in re.findall(r"`(\w+)\(", text):
            found = any(hasattr(o, name) for o in owners) or hasattr(MainWindow, name)
            assert found, f"{path}: {name} is documented but does not exist"


def test_documented_core_additions_exist():
    from core import bagcp, imageio
    from core.services import demo, importer, split_record
    from core.target_library import TargetLibrary

    assert "pastes" in {f.name for f in dataclasses.fields(bagcp.BagcpResult)}
    assert "existing" in {f.name for f in dataclasses.fields(importer.ImportReport)}
    assert "progress" in inspect.signature(TargetLibrary.from_densesirst).parameters
    assert callable(imageio.probe_file)
    assert inspect.signature(demo.create_demo).return_annotation in ("Project", demo.Project)
    assert split_record.SPLIT_RECORD in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["JobThread", "keyword_job", "stop_thread", "PanelJob"])
def test_documented_job_helpers_live_in_app_jobs(name):
    from app import jobs

    assert getattr(jobs, name).__module__ == "app.jobs"
