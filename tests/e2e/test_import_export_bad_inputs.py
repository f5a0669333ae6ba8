"""Bad inputs through the import CLI: each bad image is reported (naming the file and the reason)
and skipped, the rest imports, and the exit code says so. Unusable sources change nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.formats import densesirst as ds
from core.store.project import Project
from tests._support.cli import cli_here


def _cli(*args: str | Path) -> subprocess.CompletedProcess:
    return cli_here(*args)  # main.py's command in this process (tests/_support/cli.py)


@pytest.fixture
def broken_root(demo_project_dir: Path, tmp_path: Path) -> Path:
    """A copy of the demo's DenseSIRST folder with one defect per image (demo-05, 09, 10 intact)."""
    root = tmp_path / "SIRSTdevkit"
    shutil.copytree(demo_project_dir / "demo_data" / "SIRSTdevkit", root)
    png = root / ds.IMAGES / "demo-01.png"
    png.write_bytes(png.read_bytes()[:-2000])  # truncated image
    (root / ds.BBOX / "demo-02.xml").write_text("<annotation><object><bndbox>")  # malformed XML
    xml = root / ds.BBOX / "demo-03.xml"
    xml.write_text(xml.read_text().replace("<xmin>", "<xmin>abc", 1))  # non-numeric box
    cv2.imwrite(str(root / ds.TARGET_BIN / "demo-04_pixels0.png"), np.zeros((10, 10), np.uint8))
    (root / ds.POINTS / "demo-06_pixels0.txt").unlink()  # missing point file
    (root / ds.IMAGES / "demo-07.png").unlink()  # listed in Splits/val.txt, file missing
    data = bytearray((root / ds.IMAGES / "demo-08.png").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the pixel data
    (root / ds.IMAGES / "demo-08.png").write_bytes(bytes(data))
    train = root / ds.SPLITS / "train.txt"
    train.write_text(train.read_text() + "\n../../evil")  # malicious id
    return root


EXPECTED_REASONS = {
    "demo-01": ("demo-01.png", "truncated"),
    "demo-02": ("demo-02.xml", "malformed"),
    "demo-03": ("demo-03.xml", "not a number"),
    "demo-04": ("demo-04_pixels0.png", "10x10 but the image is 320x256"),
    "demo-06": ("demo-06_pixels0.txt", "not found"),
    "demo-07": ("demo-07.png", "not found"),
    "demo-08": ("demo-08.png", "checksum"),
    "../../evil": ("train.txt", "unsafe image id"),
}


def test_bad_files_are_reported_and_skipped(broken_root: Path, tmp_path: Path) -> None:
    project_dir = tmp_path / "project"
    result = _cli("import", broken_root, project_dir, "--format", "densesirst")
    assert result.returncode == 1, result.stderr
    skipped = {}
    for line in result.stderr.splitlines():
        if line.startswith("skipped "):
            name, _, message = line[len("skipped ") :].partition(": ")
            skipped[name] = message
    assert set(skipped) == set(EXPECTED_REASONS)
    for name, (file_part, reason) in EXPECTED_REASONS.items():
        assert file_part in skipped[name] and reason in skipped[name], (name, skipped[name])
    assert "3 added" in result.stdout and "8 skipped" in result.stdout
    with Project.open(project_dir) as project:
        infos = {i.name: i for i in project.list_images()}
        assert set(infos) == {"demo-05", "demo-09", "demo-10"}
        for name, info in infos.items():  # the good ones are complete
            sample = ds.read_sample(broken_root, name)
            assert info.n_targets == len(sample.annotation.targets) > 0
    assert not any(p.name == "evil" for p in tmp_path.rglob("evil*"))


def test_fixing_a_file_and_rerunning_adds_only_it(
    broken_root: Path, tmp_path: Path, demo_project_dir: Path
) -> None:
    project_dir = tmp_path / "project"
    assert _cli("import", broken_root, project_dir).returncode == 1
    good = demo_project_dir / "demo_data" / "SIRSTdevkit" / ds.BBOX / "demo-02.xml"
    shutil.copyfile(good, broken_root / ds.BBOX / "demo-02.xml")
    result = _cli("import", broken_root, project_dir)
    assert "1 added, 3 already in the project, 7 skipped" in result.stdout
    with Project.open(project_dir) as project:
        assert len(project.list_images()) == 4


def test_unusable_source_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    project_dir = tmp_path / "project"
    result = _cli("import", tmp_path / "nowhere", project_dir)
    assert result.returncode == 2 and "PNGImages" in result.stderr
    (tmp_path / "bad.json").write_text("[1, 2")
    result = _cli("import", tmp_path / "bad.json", project_dir, "--format", "coco")
    assert result.returncode == 2 and "bad.json" in result.stderr
    assert not project_dir.exists()


def test_plain_image_folder_import(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((20, 30), 4000, np.uint16))
    cv2.imwrite(str(folder / "b.bmp"), np.full((20, 30), 7, np.uint8))
    (folder / "c.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    project_dir = tmp_path / "project"
    result = _cli("import", folder, project_dir, "--format", "images", "--split", "train")
    assert result.returncode == 1 and "skipped c.png" in result.stderr
    with Project.open(project_dir) as project:
        infos = {i.name: i for i in project.list_images()}
        assert set(infos) == {"a", "b"}
        assert infos["a"].bit_depth == 16 and infos["a"].status == "new"
        assert {i.split for i in infos.values()} == {"train"}
    again = _cli("import", folder, project_dir, "--format", "images")
    assert "0 added, 2 already in the project" in again.stdout
