"""The warm model in the real app (issue 19, ADR 0013): opening a project loads the active model in
the background (the probe reports the status bar's state), and a pre-annotation pressed after it
stores its result. Checked against project.sqlite read with sqlite3."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from core.services.importer import import_images
from core.store.project import Project
from tests.screen.conftest import test_pattern, write_image

PREANNOTATE_KEY = "ctrl+shift+p"  # app/preannotate_panel.py: Pre-annotate Current Image


def _status(root: Path) -> str | None:
    con = sqlite3.connect(f"file:{root / 'project.sqlite'}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT status FROM images").fetchone()[0]
    except sqlite3.OperationalError:  # the app holds the write lock for a moment
        return None
    finally:
        con.close()


def test_the_model_loads_when_the_project_opens_and_the_run_uses_it(run_app, tmp_path, monkeypatch):
    folder = tmp_path / "images"
    folder.mkdir()
    pixels = test_pattern(512, 640, np.uint8, seed=3)
    pixels[200:203, 300:303] = 255  # a small bright target on the pattern
    write_image(folder / "frame.png", pixels)
    root = tmp_path / "project"
    with Project.create(root) as project:
        assert import_images(project, folder).added == 1
    monkeypatch.setenv("SIRST_STUDIO_WARM_MODEL", "1")  # the harness switches it off by default
    monkeypatch.setenv("SIRST_STUDIO_CACHE", str(tmp_path / "cache"))
    app = run_app(root)
    app.wait_image("frame", timeout=120)
    state = app.wait_for(lambda s: s.get("model") == "ready", 600, "the background model load")
    assert state["image"] == "frame"
    assert _status(root) == "new"  # loading the model changed nothing in the project
    app.focus()
    app.key(PREANNOTATE_KEY)
    app.wait_for(lambda s: _status(root) == "pre-annotated", 120, "the pre-annotation")
