"""`main.py synth`: a small temp DenseSIRST folder in, a parseable DenseSIRST folder out."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main
from core.domain import ImageAnnotation, Target, TargetMask
from core.formats import densesirst
from core.imageio import read_image

REPO = Path(__file__).resolve().parents[2]
H, W = 80, 96
BLOB = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)


def _source(root: Path) -> None:
    """Three 8-bit images: sky on the top 50 rows, four real targets each; one has no sky."""
    rng = np.random.default_rng(0)
    for k, image_id in enumerate(("Misc_1", "iraytek-2", "nosky_3")):
        img = rng.integers(40, 60, size=(H, W)).astype(np.uint8)
        targets = []
        for x, y in ((10, 10), (80, 12), (20, 40), (70, 65)):
            img[y : y + 3, x : x + 3] += (90 * BLOB).astype(np.uint8)
            targets.append(
                Target(point=(x + 1, y + 1), box=(x, y, x + 3, y + 3), mask=TargetMask(x, y, BLOB))
            )
        sky = np.zeros((H, W), bool)
        if k < 2:
            sky[:50] = True
        ann = ImageAnnotation(targets=targets, sky=sky)
        densesirst.write_sample(root, image_id, img, ann, W, H)
    densesirst.write_split(root, "train_v2", ["Misc_1", "iraytek-2", "nosky_3"])


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    _source(root)
    return root


def test_synth_writes_a_parseable_densesirst_folder(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = [
        "synth",
        str(src),
        str(out),
        "--count",
        "5",
        "--seed",
        "3",
        "--split",
        "train_v2",
        "--quiet",
    ]
    assert main(argv) == EXIT_OK
    ids = densesirst.list_ids(out)
    assert len(ids) == 5
    assert all(re.fullmatch(r"(Misc_1|iraytek-2)_bagcp[0-4]", i) for i in ids), ids
    assert sorted(densesirst.read_split(out, "train_v2")) == ids
    for image_id in ids:
        sample = densesirst.read_sample(out, image_id)
        source = densesirst.read_sample(src, image_id.rsplit("_bagcp", 1)[0])
        assert (sample.width, sample.height) == (W, H)
        assert np.array_equal(sample.annotation.sky, source.annotation.sky)
        boxes = {t.box for t in sample.annotation.targets}
        assert {t.box for t in source.annotation.targets} <= boxes, "original targets lost"
        new = [
            t
            for t in sample.annotation.targets
            if t.box not in {s.box for s in source.annotation.targets}
        ]
        assert len(new) >= 8 and all(t.point is not None and t.mask is not None for t in new)
        assert all(sample.annotation.sky[int(t.point[1]), int(t.point[0])] for t in new)
        image = read_image(sample.image_path)
        assert image.dtype == np.uint8 and image.shape == (H, W)
        assert not np.array_equal(image, read_image(source.image_path))


def test_synth_is_deterministic_and_keeps_src(src: Path, tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    for name in ("a", "b"):
        assert main(["synth", str(src), str(tmp_path / name), "--count", "3", "--quiet"]) == 0
    a = {
        p.relative_to(tmp_path / "a"): p.read_bytes()
        for p in (tmp_path / "a").rglob("*")
        if p.is_file()
    }
    b = {
        p.relative_to(tmp_path / "b"): p.read_bytes()
        for p in (tmp_path / "b").rglob("*")
        if p.is_file()
    }
    assert a == b
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before


def test_synth_refuses_bad_input_and_changes_nothing(src: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["synth", str(src), str(out), "--count", "2", "--quiet"]) == EXIT_USAGE
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert main(["synth", str(src), str(tmp_path / "o"), "--count", "0"]) == EXIT_USAGE
    assert main(["synth", str(src), str(src), "--count", "1"]) == EXIT_USAGE
    assert main(["synth", str(src), str(tmp_path / "o"), "--count", "1", "--split", "nope"]) == 2
    assert "no such split" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_synth_reports_when_no_background_has_room(src: Path, tmp_path: Path, capsys) -> None:
    densesirst.write_split(src, "only_nosky", ["nosky_3"])
    out = tmp_path / "out"
    argv = [
        "synth",
        str(src),
        str(out),
        "--count",
        "2",
        "--split",
        "only_nosky",
        "--quiet",
        "--library",
        str(_library(src, tmp_path)),
    ]
    assert main(argv) == EXIT_PARTIAL
    err = capsys.readouterr().err
    assert "nosky_3" in err and "no sky" in err and "only 0 of 2" in err


def _library(src: Path, tmp_path: Path) -> Path:
    from core.target_library import TargetLibrary

    path = tmp_path / "bagcp_library.npz"
    TargetLibrary.from_densesirst(src, "train_v2").save(path)
    return path


def test_synth_is_listed_in_help() -> None:
    proc = subprocess.run(
        [sys.executable, "main.py", "synth", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "--count" in proc.stdout and "--strategy" in proc.stdout
