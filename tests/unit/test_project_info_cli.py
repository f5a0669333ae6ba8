"""`main.py info PROJECT`: the summary table, exit code 2 for a non-project, no Qt/torch loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from core.domain import ImageAnnotation, ModelVersion, ReviewStatus, Split, Target, TargetState
from core.store.new_image import NewImage
from core.store.project import Project

REPO = Path(__file__).resolve().parents[2]


def _run(*code_or_args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def _build(root: Path, tmp_path: Path) -> None:
    hdr = SimpleNamespace(width=16, height=12, bit_depth=8, channels=1)
    present = tmp_path / "present.png"
    present.write_bytes(b"x")
    sky = np.zeros((12, 16), bool)
    with Project.create(root) as p:
        p.add_images([
            NewImage(present, "present", Split.TRAIN, ImageAnnotation(
                targets=[Target(point=(1, 1)), Target(point=(2, 2)),
                         Target(point=(3, 3), state=TargetState.PROPOSAL)], sky=sky),
                status=ReviewStatus.REVIEWED, header=hdr, sha256="a"),
            NewImage(tmp_path / "lost.png", "lost", Split.VAL, header=hdr, sha256="b"),
            NewImage(tmp_path / "lost2.png", "lost2", Split.VAL, header=hdr, sha256="c"),
        ])  # fmt: skip
        p.add_model_version(ModelVersion(None, "base", "/w/base.safetensors", "2025-01-01"))
        p.add_model_version(
            ModelVersion(
                None, "tuned", "/w/t.safetensors", "2025-02-01", {"mAP07": 0.3}, active=True
            )
        )


def test_info_prints_the_summary_without_qt_or_torch(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _build(root, tmp_path)
    code = (
        "import sys; from app.cli import main; rc = main(['info', sys.argv[1]]); "
        "heavy = [m for m in ('torch', 'PySide6', 'pyqtgraph') if m in sys.modules]; "
        "print('HEAVY', heavy); sys.exit(rc)"
    )
    res = _run("-c", code, str(root))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "HEAVY []" in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert lines["train"] == ["0", "0", "1", "1"]  # new, pre-annotated, reviewed, total
    assert lines["val"] == ["2", "0", "0", "2"]
    assert lines["total"] == ["2", "0", "1", "3"]
    assert "Targets:          2 accepted, 1 proposals" in out
    assert "Images with sky:  1 of 3" in out
    assert "Missing files:    2" in out and "lost2.png" in out
    assert "* #2 tuned" in out and "mAP07=0.300" in out
    assert "  #1 base" in out and "* #1" not in out


def test_info_on_a_plain_folder_exits_2_with_a_hint(tmp_path: Path) -> None:
    res = _run("main.py", "info", str(tmp_path))
    assert res.returncode == 2
    assert "not a SIRST Studio project" in res.stderr and "New Project" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "project.sqlite").exists()


def test_info_stats_each_file_once_or_not_at_all(tmp_path: Path, monkeypatch, capsys) -> None:
    """Issue 22: `info` used to stat every file twice (missing files, then unmapped ones)."""
    import os.path

    from app.cli import main

    root = tmp_path / "proj"
    _build(root, tmp_path)
    stats: list[str] = []
    real_exists = os.path.exists

    def counting_exists(path) -> bool:
        if str(path).endswith(".png"):
            stats.append(str(path))
        return real_exists(path)

    monkeypatch.setattr(os.path, "exists", counting_exists)
    assert main(["info", str(root)]) == 0
    assert "Missing files:    2" in capsys.readouterr().out
    assert sorted(stats) == sorted(str(tmp_path / f"{n}.png") for n in ("present", "lost", "lost2"))
    stats.clear()
    assert main(["info", "--no-check-files", str(root)]) == 0
    out = capsys.readouterr().out
    assert stats == [] and "Missing files:    not checked (3 images" in out
    assert "Targets:          2 accepted, 1 proposals" in out  # the rest still answers
