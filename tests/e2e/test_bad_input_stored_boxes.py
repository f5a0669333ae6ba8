"""Issue 25 item 8: boxes written straight into project.sqlite by another tool. A box stored by
two opposite corners (x0 > x1, y0 > y1) is the same rectangle and is exported with its corners in
order; a box that cannot be a rectangle (empty, a corner missing) skips its image with the reason (exit 1) and
the rest is exported (real CLI; the rows are written with sqlite3, the export read back as JSON)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests._support.cli import assert_clean, cli_here, skipped, tiny_densesirst


@pytest.fixture
def project(tmp_path: Path) -> Path:
    src = tmp_path / "SIRSTdevkit"
    tiny_densesirst(src, n=3)  # img-k: one 3x3 box at (5+k, 6+k)
    project = tmp_path / "project"
    assert cli_here("import", src, project, "--format", "densesirst").returncode == 0
    return project


def _write(project: Path, image: str, x0, y0, x1, y1) -> None:
    con = sqlite3.connect(project / "project.sqlite")
    with con:
        n = con.execute("UPDATE targets SET x0=?, y0=?, x1=?, y1=? WHERE image_id = "
                        "(SELECT id FROM images WHERE name=?)", (x0, y0, x1, y1, image)).rowcount  # fmt: skip
    con.close()
    assert n == 1


def _coco_boxes(out: Path) -> dict[str, list[list[float]]]:
    boxes: dict[str, list[list[float]]] = {}
    for f in sorted((out / "annotations").glob("instances_*.json")):
        doc = json.loads(f.read_text())
        names = {im["id"]: Path(im["file_name"]).stem for im in doc["images"]}
        for name in names.values():
            boxes.setdefault(name, [])
        for a in doc["annotations"]:
            boxes[names[a["image_id"]]].append([round(v, 3) for v in a["bbox"]])
    return boxes


def test_inverted_box_is_exported_as_the_same_rectangle(project: Path, tmp_path: Path) -> None:
    _write(project, "img-0", 8.0, 9.0, 5.0, 6.0)  # corners swapped in x and y
    _write(project, "img-1", 9.0, 7.0, 6.0, 10.0)  # swapped in x only
    out = tmp_path / "coco"
    result = cli_here("export", project, out, "--format", "coco")
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    # COCO bbox = [x, y, w, h]: the rectangles as tiny_densesirst drew them
    assert _coco_boxes(out) == {"img-0": [[5, 6, 3, 3]], "img-1": [[6, 7, 3, 3]], "img-2": [[7, 8, 3, 3]]}


@pytest.mark.parametrize("box", [(6.0, 7.0, 6.0, 10.0), (6.0, None, 9.0, 10.0)])  # empty; half a box
def test_a_box_that_is_no_rectangle_skips_its_image_with_the_reason(project: Path, tmp_path: Path, box) -> None:
    _write(project, "img-1", *box)
    for fmt in ("coco", "voc", "yolo", "densesirst"):
        out = tmp_path / fmt
        result = cli_here("export", project, out, "--format", fmt)
        assert_clean(result)
        assert result.returncode == 1, result.stderr
        reasons = skipped(result)
        assert list(reasons) == ["img-1"] and "stored target" in reasons["img-1"], result.stderr
        if fmt == "coco":
            assert _coco_boxes(out) == {"img-0": [[5, 6, 3, 3]], "img-2": [[7, 8, 3, 3]]}
