"""Export / demo CLI and exporter behaviour: DenseSIRST round trip of the demo project (16-bit
frame included), missing files, cancel, and the split filter."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from core import imageio
from core.domain import Split
from core.formats import densesirst as ds
from core.services.exporter import export_project
from core.services.importer import import_densesirst
from core.store.project import Project
from tests._support.cli import cli_here


def _cli(*args: str | Path) -> subprocess.CompletedProcess:
    return cli_here(*args)  # main.py's command in this process (tests/_support/cli.py)


def test_demo_cli_builds_a_deterministic_project(tmp_path: Path, demo_project) -> None:
    result = _cli("demo", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    assert "12 images" in result.stdout
    with Project.open(tmp_path / "demo") as mine:
        ours = {i.name: i.sha256 for i in mine.list_images()}
    assert ours == {i.name: i.sha256 for i in demo_project.list_images()}  # same pixels, same bytes
    again = _cli("demo", tmp_path / "demo")
    assert again.returncode == 0 and "12 images" in again.stdout
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    refused = _cli("demo", tmp_path / "other")
    assert refused.returncode == 2 and "not empty" in refused.stderr


def test_export_cli_densesirst_round_trip(
    demo_project_dir: Path, demo_project, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = _cli("export", demo_project_dir, out, "--format", "densesirst")
    assert result.returncode == 0, result.stderr
    assert ds.list_splits(out) == ["test", "train", "val"]  # the names the demo was imported with
    assert ds.read_split(out, "val") == ["demo-07", "demo-08"]
    sixteen = imageio.read_image(out / ds.IMAGES / "demo-05.png")
    assert sixteen.dtype == np.uint16 and sixteen.max() < 16384
    with Project.create(tmp_path / "again") as project:
        report = import_densesirst(project, out)
        assert report.errors == []
        for info in demo_project.list_images(split=Split.TRAIN):
            mine = project.find_image(info.name)
            assert mine.sha256 == info.sha256 and mine.split == Split.TRAIN
            a, b = demo_project.annotation(info.id), project.annotation(mine.id)
            assert sorted((t.box, t.point) for t in a.targets) == sorted(
                (t.box, t.point) for t in b.targets
            )
            assert np.array_equal(a.sky, b.sky)


def test_export_reports_missing_files_and_exit_code(demo_project_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "demo"
    shutil.copytree(demo_project_dir, root)
    (root / "demo_data" / "SIRSTdevkit" / ds.IMAGES / "demo-03.png").unlink()
    result = _cli("export", root, tmp_path / "out", "--format", "yolo")
    assert result.returncode == 1
    assert "skipped demo-03: image file missing" in result.stderr
    assert "11 images" in result.stdout
    assert not (tmp_path / "out" / "labels" / "train" / "demo-03.txt").exists()


def test_export_split_filter_and_cancel(demo_project, tmp_path: Path) -> None:
    report = export_project(demo_project, tmp_path / "val", "voc", split="val")
    assert report.exported == 2
    assert sorted(p.stem for p in (tmp_path / "val" / "Annotations").iterdir()) == [
        "demo-07",
        "demo-08",
    ]
    calls = []
    report = export_project(demo_project, tmp_path / "cancel", "densesirst",
                            progress=lambda done, total, *_: calls.append((done, total)),
                            cancel=lambda: len(calls) >= 3)  # fmt: skip
    assert report.cancelled and report.exported == 3 and calls[-1] == (3, 12)
    assert len(ds.list_ids(tmp_path / "cancel")) == 3
    leftovers = [p for p in (tmp_path / "cancel").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_export_to_a_file_path_is_refused(demo_project, tmp_path: Path) -> None:
    target = tmp_path / "a_file"
    target.write_text("keep me")
    result = _cli("export", demo_project.root, target)
    assert result.returncode == 2 and "choose a folder" in result.stderr
    assert target.read_text() == "keep me"
