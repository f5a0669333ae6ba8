"""Issue 11 "Interchange": what independent tools need from our exports, and the exact geometry
code the issue found slow (scanline polygon fill, pairing of 2,000 boxes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.domain import ImageAnnotation, Target, TargetMask
from core.formats import densesirst as ds
from core.formats._pairing import pair_points_boxes
from core.formats._polygons import polygons_to_mask
from core.services.exporter import export_project
from core.services.importer import import_densesirst
from core.store.project import Project
from tests._support.labels import set_status


def _reference_fill(ring: np.ndarray, h: int, w: int) -> np.ndarray:
    """Even-odd test of every pixel centre against every edge (slow, obviously right)."""
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    inside = np.zeros((h, w), bool)
    for (xa, ya), (xb, yb) in zip(ring, np.roll(ring, -1, axis=0), strict=True):
        if ya == yb:
            continue
        crosses = (ya > yy) != (yb > yy)
        x_at = xa + (yy - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (xx < x_at)
    return inside


@pytest.mark.parametrize("seed", range(6))
def test_scanline_fill_matches_the_reference_on_random_polygons(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = 23, 31
    n = int(rng.integers(3, 12))
    ring = rng.uniform(-5, 36, (n, 2))  # self-intersecting, partly outside: all allowed
    if seed % 2:
        ring = np.round(ring)  # vertices exactly on pixel edges and centres' rows
    got = polygons_to_mask([ring.ravel().tolist()], h, w)
    full = np.zeros((h, w), bool)
    if got is not None:
        got.paste_into(full)
    np.testing.assert_array_equal(full, _reference_fill(ring, h, w))


def test_polygon_with_non_finite_or_huge_coordinates() -> None:
    with pytest.raises(ValueError, match="finite"):
        polygons_to_mask([[0, 0, 5, float("nan"), 5, 5]], 10, 10)
    got = polygons_to_mask([[-1e300, -1e300, 1e300, -1e300, 1e300, 1e300, -1e300, 1e300]], 4, 6)
    assert got is not None and got.pixels.all() and got.pixels.shape == (4, 6)


def test_2000_overlapping_boxes_pair_every_point_inside_its_box() -> None:
    rng = np.random.default_rng(3)
    boxes = []
    for _ in range(2000):
        x, y = int(rng.integers(0, 8)), int(rng.integers(0, 8))
        boxes.append((x, y, x + 20, y + 20))
    points = [(float(b[0] + 10), float(b[1] + 10)) for b in boxes]
    order = rng.permutation(2000)
    pairs, lone_p, lone_b = pair_points_boxes([points[i] for i in order], boxes)
    assert len(pairs) == 2000 and lone_p == [] and lone_b == []
    for p, b in pairs:
        (x, y), (x0, y0, x1, y1) = points[order[p]], boxes[b]
        assert x0 <= x < x1 and y0 <= y < y1


@pytest.fixture
def offset_source(tmp_path: Path) -> Path:
    """A DenseSIRST image whose target blob is 1 px right of its box (as 14 Misc_* images)."""
    root = tmp_path / "src"
    w, h = 20, 16
    img = np.full((h, w), 10, np.uint8)
    blob = TargetMask(6, 5, np.ones((3, 3), bool))  # pixels x 6..8, y 5..7
    ann = ImageAnnotation([Target(point=(6.0, 6.0), box=(5, 5, 8, 8), mask=blob)])
    ds.write_sample(root, "Misc_1", img, ann, w, h)
    ds.write_split(root, "train", ["Misc_1"])
    return root


def test_target_masks_keep_pixels_past_their_box_through_coco(offset_source, tmp_path) -> None:
    pycoco = pytest.importorskip("pycocotools.coco")
    project = Project.create(tmp_path / "p")
    with project:
        assert import_densesirst(project, offset_source).added == 1
        export_project(project, tmp_path / "coco", "coco")
    truth = ds.read_mask(offset_source / ds.TARGET_BIN / "Misc_1_pixels0.png", 20, 16)
    api = pycoco.COCO(str(tmp_path / "coco" / "annotations" / "instances_train.json"))
    (ann,) = api.loadAnns(api.getAnnIds())
    np.testing.assert_array_equal(api.annToMask(ann).astype(bool), truth)  # all 9 pixels
    assert ann["area"] == 9 and ann["bbox"] == [5.0, 5.0, 3.0, 3.0]
    # and the DenseSIRST round trip still reproduces the mask exactly
    with Project.open(tmp_path / "p") as project:
        export_project(project, tmp_path / "ds", "densesirst")
    back = ds.read_mask(tmp_path / "ds" / ds.TARGET_BIN / "Misc_1_pixels0.png", 20, 16)
    np.testing.assert_array_equal(back, truth)


def test_voc_labelmap_and_relocatable_yolo(offset_source, tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as project:
        import_densesirst(project, offset_source)
        export_project(project, tmp_path / "voc", "voc")
        export_project(project, tmp_path / "yolo", "yolo")
    lines = (tmp_path / "voc" / "labelmap.txt").read_text().splitlines()
    assert lines[0] == "# label:color_rgb:parts:actions"
    labels = {ln.split(":")[0]: ln.split(":")[1] for ln in lines[1:]}
    assert labels == {"background": "0,0,0", "target": "128,0,0"}
    xml = (tmp_path / "voc" / "Annotations" / "Misc_1.xml").read_text()
    assert "<name>target</name>" in xml  # every object label is declared in the map
    moved = tmp_path / "moved_yolo"
    shutil.move(tmp_path / "yolo", moved)
    text = (moved / "data.yaml").read_text()
    assert str(tmp_path) not in text
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if key in ("train", "val"):
            assert (moved / value).is_dir()  # relative to data.yaml's folder


def test_reviewed_only_export(offset_source, tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as project:
        import_densesirst(project, offset_source)
        info = project.list_images()[0]
        report = export_project(project, tmp_path / "a", "coco", reviewed_only=True)
        assert report.exported == 1
        set_status(project, info.id, "new")
        report = export_project(project, tmp_path / "b", "coco", reviewed_only=True)
        assert report.exported == 0
    doc = json.loads((tmp_path / "a" / "annotations" / "instances_train.json").read_text())
    assert [i["file_name"] for i in doc["images"]] == ["Misc_1.png"]
