"""COCO: export of the demo project parsed back and compared; import round trip; polygons, RLE."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.domain import Split, Target, TargetMask, TargetState
from core.errors import FormatError
from core.formats._polygons import mask_to_polygons, polygons_to_mask, rle_to_mask
from core.formats.coco import read_coco, split_from_name
from core.services.coco_import import import_coco
from core.services.exporter import export_project
from core.store.project import Project
from tests._support.labels import replace_proposals


@pytest.fixture(scope="module")
def coco_out(demo_project_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("coco")
    with Project.open(demo_project_dir) as project:
        report = export_project(project, out, "coco")
    assert report.exported == 12 and report.errors == [] and report.skipped_targets == 0
    return out


def _docs(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "annotations").glob("*.json")}


def test_json_structure_is_mmdetection_ready(coco_out: Path) -> None:
    docs = _docs(coco_out)
    assert set(docs) == {f"instances_{s}" for s in ("train", "val", "test", "unassigned")}
    ann_ids = []
    for doc in docs.values():
        assert doc["categories"] == [{"id": 1, "name": "target", "supercategory": "target"}]
        image_ids = {img["id"] for img in doc["images"]}
        for img in doc["images"]:
            assert (coco_out / "images" / img["file_name"]).is_file()
        for ann in doc["annotations"]:
            assert ann["image_id"] in image_ids and ann["iscrowd"] == 0 and ann["category_id"] == 1
            assert all(len(p) >= 6 and len(p) % 2 == 0 for p in ann["segmentation"])
            ann_ids.append(ann["id"])
    assert len(ann_ids) == len(set(ann_ids))


def test_values_match_the_project(coco_out: Path, demo_project) -> None:
    by_name = {i.name: i for i in demo_project.list_images()}
    for doc in _docs(coco_out).values():
        anns_of: dict[int, list[dict]] = {}
        for ann in doc["annotations"]:
            anns_of.setdefault(ann["image_id"], []).append(ann)
        for img in doc["images"]:
            info = by_name[Path(img["file_name"]).stem]
            assert (img["width"], img["height"], img["split"]) == (
                info.width,
                info.height,
                info.split,
            )
            truth = demo_project.annotation(info.id)
            got = anns_of.get(img["id"], [])
            want = sorted((t.box, t.point, int(t.mask.pixels.sum())) for t in truth.targets)
            have = sorted(
                ((a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]),
                 tuple(a["point"]), int(a["area"]))
                for a in got
            )  # fmt: skip
            assert have == want
            for a in got:
                mask = np.zeros((info.height, info.width), bool)
                polygons_to_mask(a["segmentation"], info.height, info.width).paste_into(mask)
                assert mask.sum() == a["area"]


def test_coco_import_reproduces_the_demo_labels(
    coco_out: Path, demo_project, tmp_path: Path
) -> None:
    with Project.create(tmp_path / "p") as project:
        for path in sorted((coco_out / "annotations").glob("*.json")):
            report = import_coco(project, path, coco_out / "images")
            assert report.errors == []
        assert len(project.list_images()) == 12
        for info in demo_project.list_images():
            mine = project.find_image(info.name)
            assert mine is not None and mine.split == info.split
            a, b = demo_project.annotation(info.id), project.annotation(mine.id)
            key = lambda t: (t.box, t.point)  # noqa: E731
            for ta, tb in zip(sorted(a.targets, key=key), sorted(b.targets, key=key), strict=True):
                assert (ta.box, ta.point, ta.mask) == (tb.box, tb.point, tb.mask)
            assert (a.sky is None) == (b.sky is None)
            if a.sky is not None:
                assert np.array_equal(a.sky, b.sky)


def test_proposals_are_not_exported(demo_project_dir: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "p"
    shutil.copytree(demo_project_dir, root)
    with Project.open(root) as project:
        info = project.find_image("demo-11")
        replace_proposals(project,
            info.id, [Target(box=(5, 5, 8, 8), state=TargetState.PROPOSAL)], None
        )
        export_project(project, tmp_path / "out", "coco", split=Split.UNASSIGNED)
    doc = json.loads((tmp_path / "out/annotations/instances_unassigned.json").read_text())
    assert len(doc["images"]) == 2 and doc["annotations"] == []


def test_bad_coco_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(FormatError, match="not valid JSON"):
        read_coco(bad)
    bad.write_text(json.dumps({"annotations": []}))
    with pytest.raises(FormatError, match="no 'images' list"):
        read_coco(bad)
    bad.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 4, "height": 4}],
                               "annotations": [{"id": 1, "image_id": 9, "bbox": [0, 0, 1, 1]}]}))  # fmt: skip
    with pytest.raises(FormatError, match="refers to no image"):
        read_coco(bad)


def test_coco_file_name_outside_images_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    doc = {
        "images": [{"id": 1, "file_name": "../secret.png", "width": 4, "height": 4}],
        "annotations": [],
    }
    path = tmp_path / "images" / "instances_train.json"
    path.write_text(json.dumps(doc))
    with Project.create(tmp_path / "p") as project:
        report = import_coco(project, path, tmp_path / "images")
        assert report.skipped == 1 and "outside" in report.errors[0][1]
        assert project.list_images() == []


def test_polygons_are_exact_for_hole_free_masks() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        pixels = rng.random((6, 7)) < 0.6
        pixels[1:-1, 1:-1] |= True  # no holes in the interior
        mask = TargetMask(10, 20, pixels)
        back = polygons_to_mask(mask_to_polygons(mask), 40, 40)
        a, b = np.zeros((40, 40), bool), np.zeros((40, 40), bool)
        mask.paste_into(a)
        back.paste_into(b)
        assert np.array_equal(a, b)
    diagonal = TargetMask(0, 0, np.eye(2, dtype=bool))  # parts touching at a corner
    assert len(mask_to_polygons(diagonal)) == 2


def test_rle_decoding_both_forms() -> None:
    assert rle_to_mask({"counts": [1, 2, 3], "size": [2, 3]}, 2, 3).tolist() == [
        [False, True, False],
        [True, False, False],
    ]
    # pycocotools' compressed string for the same mask ("12" + "3" after delta coding)
    compressed = rle_to_mask({"counts": "123", "size": [2, 3]}, 2, 3)
    assert compressed.tolist() == [[False, True, False], [True, False, False]]


def test_split_from_file_name() -> None:
    assert split_from_name("instances_train2017") == Split.TRAIN
    assert split_from_name("instances_val") == Split.VAL
    assert split_from_name("trainval") is None
