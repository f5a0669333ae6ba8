"""VOC and YOLO export of the demo project, parsed back and compared with the project's labels."""

from __future__ import annotations

from pathlib import Path

import pytest
from defusedxml import ElementTree

from core.domain import Split
from core.formats.voc import voc_box
from core.formats.yolo import label_line, parse_label_line
from core.services.exporter import export_project
from core.store.project import Project


@pytest.fixture(scope="module")
def exported(demo_project_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    outs = {}
    with Project.open(demo_project_dir) as project:
        for fmt in ("voc", "yolo"):
            out = tmp_path_factory.mktemp(fmt)
            report = export_project(project, out, fmt)
            assert report.exported == 12 and report.errors == []
            outs[fmt] = out
    return outs


def test_voc_boxes_are_one_based_inclusive(exported: dict[str, Path], demo_project) -> None:
    out = exported["voc"]
    for info in demo_project.list_images():
        root = ElementTree.parse(out / "Annotations" / f"{info.name}.xml").getroot()
        assert root.findtext("filename") == f"{info.name}.png"
        assert (out / "JPEGImages" / f"{info.name}.png").read_bytes() == (
            demo_project.resolve_path(info).read_bytes()
        )
        size = root.find("size")
        assert (int(size.findtext("width")), int(size.findtext("height"))) == (
            info.width,
            info.height,
        )
        got = sorted(
            tuple(int(o.find("bndbox").findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
            for o in root.iter("object")
        )
        assert all(o.findtext("name") == "target" for o in root.iter("object"))
        want = sorted((int(x0) + 1, int(y0) + 1, int(x1), int(y1))
                      for x0, y0, x1, y1 in (t.box for t in demo_project.annotation(info.id).targets))  # fmt: skip
        assert got == want


def test_voc_image_sets(exported: dict[str, Path], demo_project) -> None:
    main = exported["voc"] / "ImageSets" / "Main"
    for split in Split:
        names = {i.name for i in demo_project.list_images(split=split)}
        assert set((main / f"{split.value}.txt").read_text().split()) == names
    trainval = {i.name for i in demo_project.list_images() if i.split in (Split.TRAIN, Split.VAL)}
    assert set((main / "trainval.txt").read_text().split()) == trainval


def test_voc_box_rounding() -> None:
    assert voc_box((3, 4, 6, 8), 100, 100) == (4, 5, 6, 8)
    assert voc_box((3.2, 4.0000001, 5.5, 8), 100, 100) == (4, 5, 6, 8)  # outwards, noise ignored
    assert voc_box((-2, -1, 120, 8), 100, 100) == (1, 1, 100, 8)  # clipped to the image


def test_yolo_labels_parse_back_to_the_boxes(exported: dict[str, Path], demo_project) -> None:
    out = exported["yolo"]
    for info in demo_project.list_images():
        split = info.split.value
        assert (out / "images" / split / f"{info.name}.png").is_file()
        lines = (out / "labels" / split / f"{info.name}.txt").read_text().splitlines()
        got = sorted(parse_label_line(line, info.width, info.height) for line in lines)
        want = sorted((0, t.box) for t in demo_project.annotation(info.id).targets)
        assert len(got) == len(want)
        for (cls, box), (_, truth) in zip(got, want, strict=True):
            assert cls == 0
            assert box == pytest.approx(truth, abs=1e-4)


def test_yolo_dataset_files(exported: dict[str, Path]) -> None:
    out = exported["yolo"]
    assert (out / "classes.txt").read_text() == "target\n"
    data = dict(
        line.split(": ", 1) for line in (out / "data.yaml").read_text().splitlines() if ": " in line
    )
    assert data["train"] == "images/train" and data["val"] == "images/val"
    assert data["test"] == "images/test" and data["nc"] == "1"
    # no absolute "path:": Ultralytics then uses data.yaml's folder, so a moved export works
    assert "path" not in data and str(out) not in (out / "data.yaml").read_text()


def test_yolo_line_format() -> None:
    assert label_line((10, 20, 14, 24), 100, 200) == "0 0.12000000 0.11000000 0.04000000 0.02000000"
