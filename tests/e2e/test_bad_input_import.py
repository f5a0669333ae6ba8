"""Issue 11, import side: every bad input ends in a clear error or a skip with a reason, never a
traceback or a hang, and the good images still import (driving the real CLI)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.formats import densesirst as ds
from core.store.project import Project
from tests._support.cli import assert_clean, cli, cli_here, skipped, tiny_densesirst, warnings
from tests._support.crafted import bmp_header_bomb, jpeg_header_bomb, png_bomb, png_bytes


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "SIRSTdevkit"
    tiny_densesirst(r, n=3)
    return r


def _names(project_dir: Path) -> set[str]:
    with Project.open(project_dir, read_only=True) as p:
        return {i.name for i in p.list_images()}


# ---------------------------------------------------------------- item 1: header bombs
def test_header_bombs_are_skipped_and_the_good_images_import(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "good.png"), np.full((12, 16), 9, np.uint8))
    (folder / "bomb.bmp").write_bytes(bmp_header_bomb())
    (folder / "bomb.jpg").write_bytes(jpeg_header_bomb())
    project = tmp_path / "p"
    for attempt in range(2):  # re-running fails the same way, and keeps the good one
        result = cli_here("import", folder, project, "--format", "images")
        assert_clean(result)
        assert result.returncode == 1
        bad = skipped(result)
        assert "50000x50000" in bad["bomb.bmp"] and "limit" in bad["bomb.bmp"]
        assert "65000x65000" in bad["bomb.jpg"]
        assert _names(project) == {"good"}
        assert f"{1 - attempt} added" in result.stdout


def test_target_mask_bomb_is_skipped_and_the_limit_can_be_raised(root: Path, tmp_path) -> None:
    (root / ds.TARGET_BIN / "img-1_pixels0.png").write_bytes(png_bomb(11000, 10000))
    project = tmp_path / "p"
    result = cli_here("import", root, project)
    assert_clean(result)
    assert result.returncode == 1
    assert "110 megapixels" in skipped(result)["img-1"]
    assert _names(project) == {"img-0", "img-2"}
    # with a higher limit the mask is decoded, and refused for its size (not the image's)
    again = cli_here("import", root, project, "--max-pixels", "200000000")
    assert_clean(again)
    assert "11000x10000 but the image is 40x30" in skipped(again)["img-1"]


def test_png_that_lies_or_cannot_be_decoded_is_not_imported_as_reviewed(root, tmp_path) -> None:
    raw = b"".join(b"\x00" + bytes([50]) * 40 for _ in range(29))
    (root / ds.IMAGES / "img-0.png").write_bytes(png_bytes(40, 30, raw))  # data: 1 row short
    bad = png_bytes(40, 30, b"\x07" * (41 * 30))  # valid CRCs, invalid row filters
    (root / ds.IMAGES / "img-1.png").write_bytes(bad)
    result = cli_here("import", root, tmp_path / "p")
    assert_clean(result)
    reasons = skipped(result)
    assert "needs" in reasons["img-0"] and "filter" in reasons["img-1"]
    assert _names(tmp_path / "p") == {"img-2"}


# ---------------------------------------------------------------- item 2: boxes outside
def test_boxes_outside_the_image_are_clipped_or_refused(root: Path, tmp_path: Path) -> None:
    xml = root / ds.BBOX / "img-0.xml"
    xml.write_text(xml.read_text().replace("<xmax>8</xmax>", "<xmax>45</xmax>"))  # 40 px wide
    xml1 = root / ds.BBOX / "img-1.xml"
    text = xml1.read_text().replace("<xmin>6</xmin>", "<xmin>5001</xmin>")
    xml1.write_text(text.replace("<xmax>9</xmax>", "<xmax>5640</xmax>"))
    result = cli_here("import", root, tmp_path / "p")
    assert_clean(result)
    assert result.returncode == 1
    assert "lies outside the 40x30 image" in skipped(result)["img-1"]
    assert "clipped to (5, 6, 40, 9)" in warnings(result)["img-0"]
    with Project.open(tmp_path / "p", read_only=True) as p:
        info = p.find_image("img-0")
        assert [t.box for t in p.targets(info.id)] == [(5, 6, 40, 9)]
    out = tmp_path / "voc"
    assert cli_here("export", tmp_path / "p", out, "--format", "voc").returncode == 0
    assert "<xmax>40</xmax>" in (out / "Annotations" / "img-0.xml").read_text()


def test_points_outside_or_infinite_refuse_the_image(root: Path, tmp_path: Path) -> None:
    (root / ds.POINTS / "img-0_pixels0.txt").write_text("1e999 5\n")
    (root / ds.POINTS / "img-1_pixels0.txt").write_text("7 300\n")
    result = cli_here("import", root, tmp_path / "p")
    assert_clean(result)
    reasons = skipped(result)
    assert "not finite" in reasons["img-0"] and "outside the 40x30 image" in reasons["img-1"]


# ---------------------------------------------------------------- item 4: hangs
def test_fifo_in_place_of_xml_or_png_is_skipped_without_blocking(root, tmp_path) -> None:
    (root / ds.BBOX / "img-0.xml").unlink()
    os.mkfifo(root / ds.BBOX / "img-0.xml")
    (root / ds.IMAGES / "img-1.png").unlink()
    os.mkfifo(root / ds.IMAGES / "img-1.png")
    result = cli("import", root, tmp_path / "p", timeout=60)
    assert_clean(result)
    reasons = skipped(result)
    assert "FIFO" in reasons["img-0"] and "FIFO" in reasons["img-1"]
    assert _names(tmp_path / "p") == {"img-2"}


def test_2000_overlapping_boxes_and_a_200k_vertex_polygon_import(tmp_path: Path) -> None:
    """Both used to take minutes (quadratic code); they must import, correctly."""
    root = tmp_path / "d"
    tiny_densesirst(root, n=1, size=(400, 300))
    rng = np.random.default_rng(1)
    objs, pts = [], []
    for _ in range(2000):
        x, y = int(rng.integers(100, 110)), int(rng.integers(100, 110))
        objs.append(f"<object><name>Target</name><bndbox><xmin>{x}</xmin><ymin>{y}</ymin>"
                    f"<xmax>{x + 20}</xmax><ymax>{y + 20}</ymax></bndbox></object>")  # fmt: skip
        pts.append(f"{x + 10} {y + 10}")
    (root / ds.BBOX / "img-0.xml").write_text(f"<annotation>{''.join(objs)}</annotation>")
    (root / ds.POINTS / "img-0_pixels0.txt").write_text("\n".join(pts))
    result = cli_here("import", root, tmp_path / "p")
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    with Project.open(tmp_path / "p", read_only=True) as p:
        targets = p.targets(p.find_image("img-0").id)
        assert len(targets) == 2000
        # every point sits inside its own box (the pairing's first duty)
        for t in targets:
            (x, y), (x0, y0, x1, y1) = t.point, t.box
            assert x0 <= x < x1 and y0 <= y < y1

    # COCO: a 200k-vertex polygon (a circle of radius 100 around (200, 150))
    img_dir = tmp_path / "coco"
    img_dir.mkdir()
    cv2.imwrite(str(img_dir / "a.png"), np.zeros((300, 400), np.uint8))
    th = np.linspace(0, 2 * np.pi, 200_000, endpoint=False)
    poly = np.stack([200 + 100 * np.cos(th), 150 + 100 * np.sin(th)], 1).ravel().tolist()
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 400, "height": 300}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [100, 50, 200, 200],
                            "segmentation": [poly]}],
           "categories": [{"id": 1, "name": "target"}]}  # fmt: skip
    (img_dir / "a.json").write_text(json.dumps(doc))
    result = cli_here("import", img_dir / "a.json", tmp_path / "q", "--format", "coco")
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    with Project.open(tmp_path / "q", read_only=True) as p:
        (t,) = p.targets(p.find_image("a").id)
        yy, xx = np.mgrid[0:300, 0:400] + 0.5
        truth = (xx - 200) ** 2 + (yy - 150) ** 2 < 100**2
        full = np.zeros((300, 400), bool)
        t.mask.paste_into(full)
        assert np.count_nonzero(full != truth) < 20  # only pixels on the rim may differ
        assert abs(int(full.sum()) - int(truth.sum())) < 20


def test_coco_sky_mask_pointing_at_dev_zero_is_skipped(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((10, 10), np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((10, 10), np.uint8))
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10,
                       "sky_mask": "/dev/zero"},
                      {"id": 2, "file_name": "b.png", "width": 10, "height": 10}],
           "annotations": [], "categories": [{"id": 1, "name": "target"}]}  # fmt: skip
    (tmp_path / "c.json").write_text(json.dumps(doc))
    result = cli("import", tmp_path / "c.json", tmp_path / "p", "--format", "coco", timeout=60)
    assert_clean(result)
    assert result.returncode == 1 and "device" in skipped(result)["a"]
    assert _names(tmp_path / "p") == {"b"}


# ---------------------------------------------------------------- item 5: COCO tracebacks
def _coco(tmp_path: Path, **changes: object) -> Path:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((10, 10), np.uint8))
    doc: dict = {"images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10}],
                 "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3]}],
                 "categories": [{"id": 1, "name": "target"}]}  # fmt: skip
    for key, value in changes.items():
        if key in ("width", "id"):
            doc["images"][0][key] = value
        elif key in ("image_id", "point", "bbox"):
            doc["annotations"][0][key] = value
        else:
            doc[key] = value
    path = tmp_path / "c.json"
    text = json.dumps(doc).replace('"INF"', "1e999")  # json.dumps cannot write 1e999 itself
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"width": "INF"}, "width"),
        ({"id": "INF"}, "id"),
        ({"image_id": [1]}, "refers to no image"),
        ({"annotations": 5}, "'annotations' must be a list"),
        ({"categories": 3}, "'categories' must be a list"),
        ({"categories": ["sky"]}, "must be an object"),
        ({"categories": [{"name": "sky"}]}, "id is None"),
    ],
)
def test_malformed_coco_exits_2_with_a_message(tmp_path: Path, changes, words) -> None:
    result = cli_here("import", _coco(tmp_path, **changes), tmp_path / "p", "--format", "coco")
    assert_clean(result)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert not (tmp_path / "p").exists()


def test_deeply_nested_coco_and_bad_numbers_in_annotations(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"images": ' + "[" * 100_000 + "]" * 100_000 + "}")
    result = cli_here("import", path, tmp_path / "p", "--format", "coco")
    assert_clean(result)
    assert result.returncode == 2 and "nested too deeply" in result.stderr
    for change in ({"point": ["INF", 2]}, {"bbox": [1e308, 1, 1e308, 3]}, {"bbox": ["1", 1, 2, 2]}):
        result = cli_here("import", _coco(tmp_path, **change), tmp_path / "q", "--format", "coco")
        assert_clean(result)
        assert result.returncode == 1 and "a" in skipped(result), (change, result.stderr)


def test_disk_full_while_writing_the_split_record_reports_everything(
    root: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """In-process (to inject ENOSPC): the images are added, the failure and every skipped
    image are printed, and the exit code says "finished with problems", not "nothing changed"."""
    import errno

    from app.cli import main
    from core.services import split_record

    (root / ds.BBOX / "img-2.xml").write_text("<annotation")

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(split_record, "atomic_write_text", full)
    code = main(["import", str(root), str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 1
    assert "skipped img-2:" in err and "malformed" in err
    assert "densesirst_splits.json: could not be written (No space left on device)" in err
    assert _names(tmp_path / "p") == {"img-0", "img-1"}


# ---------------------------------------------------------------- item 6: split files
def test_hidden_and_odd_split_files_do_not_sink_the_import(root: Path, tmp_path) -> None:
    (root / ds.SPLITS / "._train.txt").write_bytes(b"\x00\x05\x16\x07\xff\xfe Mac OS X")
    shutil.copyfile(root / ds.SPLITS / "train.txt", root / ds.SPLITS / "train..v2.txt")
    (root / ds.SPLITS / "val2.txt").write_bytes(b"img-2\n\xff\xfe")
    result = cli_here("import", root, tmp_path / "p")
    assert_clean(result)
    assert _names(tmp_path / "p") == {"img-0", "img-1", "img-2"}
    warned = warnings(result)
    assert "unsafe" in warned["Splits/train..v2.txt"] and "Splits/val2.txt" in warned
    assert not any("._train" in k for k in warned)
    assert result.returncode == 0


def test_unknown_split_or_corrupt_split_record_changes_nothing(root: Path, tmp_path) -> None:
    result = cli_here("import", root, tmp_path / "p", "--split", "bogus")
    assert_clean(result)
    assert result.returncode == 2 and "unknown split 'bogus'" in result.stderr
    assert not (tmp_path / "p").exists()
    assert cli_here("import", root, tmp_path / "p", "--split", "train").returncode == 0
    (tmp_path / "p" / "densesirst_splits.json").write_text("{not json")
    result = cli_here("import", root, tmp_path / "p")
    assert_clean(result)
    assert result.returncode == 2 and "densesirst_splits.json" in result.stderr
    assert _names(tmp_path / "p") == {"img-0", "img-1"}  # nothing was added


# ---------------------------------------------------------------- item 8: demo
def test_demo_refuses_a_file_and_a_real_project(root: Path, tmp_path: Path) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("keep")
    result = cli_here("demo", afile)
    assert_clean(result)
    assert result.returncode == 2 and "is a file" in result.stderr and afile.read_text() == "keep"
    assert cli_here("import", root, tmp_path / "real").returncode == 0
    result = cli_here("demo", tmp_path / "real")
    assert_clean(result)
    assert result.returncode == 2 and "not the demo" in result.stderr
    assert _names(tmp_path / "real") == {"img-0", "img-1", "img-2"}


# ---------------------------------------------------------------- item 9: silent acceptance
def test_mask_values_other_than_0_255_are_imported_with_a_warning(root: Path, tmp_path) -> None:
    path = root / ds.TARGET_BIN / "img-0_pixels0.png"
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    mask[mask == 255] = 128
    mask[0, 0] = 255
    cv2.imwrite(str(path), mask)
    result = cli_here("import", root, tmp_path / "p")
    assert_clean(result)
    assert result.returncode == 0
    assert "values 0, 128, 255" in warnings(result)["img-0"]


def test_empty_folder_and_unexportable_names(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli_here("import", tmp_path / "empty", tmp_path / "p", "--format", "images")
    assert_clean(result)
    assert result.returncode == 2 and "holds no PNG" in result.stderr
    assert not (tmp_path / "p").exists()
    (tmp_path / "empty" / "PNGImages").mkdir()
    result = cli_here("import", tmp_path / "empty", tmp_path / "p")
    assert result.returncode == 2 and "lists no images" in result.stderr
    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ("a..b.png", "zz .png", "new\nline.png", "ok.png"):
        cv2.imwrite(str(folder / "x.png"), np.zeros((5, 5), np.uint8))
        (folder / "x.png").rename(folder / name)
    result = cli_here("import", folder, tmp_path / "p", "--format", "images")
    assert_clean(result)
    assert result.returncode == 1
    reasons = skipped(result)
    assert "unsafe image id 'a..b'" in reasons["a..b.png"]
    assert "blanks" in reasons["zz .png"] and "control" in reasons["'new\\nline.png'"]
    assert _names(tmp_path / "p") == {"ok"}


def test_upper_case_extension_is_imported(root: Path, tmp_path: Path) -> None:
    (root / ds.IMAGES / "img-1.png").rename(root / ds.IMAGES / "img-1.PNG")
    result = cli_here("import", root, tmp_path / "p")
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    assert _names(tmp_path / "p") == {"img-0", "img-1", "img-2"}


def test_wrong_xml_root_and_bad_coco_segmentations_are_refused(root: Path, tmp_path) -> None:
    (root / ds.BBOX / "img-0.xml").write_text("<a>" * 10_000 + "</a>" * 10_000)
    result = cli_here("import", root, tmp_path / "p")
    assert_clean(result)
    assert "not <annotation>" in skipped(result)["img-0"]
    for seg, words in (({"counts": "\u00ff\u00fe~~", "size": [10, 10]}, "outside '0'..'o'"),
                       ({"counts": [5, 10], "size": [10, 10]}, "do not add up"),
                       ([[1, 1, 4, 1, 4]], "even count")):  # fmt: skip
        path = _coco(tmp_path, bbox=[1, 1, 3, 3])
        doc = json.loads(path.read_text())
        doc["annotations"][0]["segmentation"] = seg
        path.write_text(json.dumps(doc))
        result = cli_here("import", path, tmp_path / "q", "--format", "coco")
        assert_clean(result)
        assert result.returncode == 1 and words in skipped(result)["a"], result.stderr
