"""core.formats.densesirst: reading, point/box pairing, exact writing, bad files, unsafe ids."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core import imageio
from core.domain import ImageAnnotation, Target, TargetMask
from core.errors import FormatError, ImageReadError
from core.formats import densesirst as ds
from core.formats._pairing import pair_points_boxes

W, H = 48, 32


def _annotation() -> ImageAnnotation:
    targets = []
    mask = np.zeros((H, W), bool)
    for x, y in [(5, 6), (20, 10), (30, 25)]:
        mask[y : y + 3, x : x + 3] = True
        crop = mask[y : y + 3, x : x + 3].copy()
        targets.append(
            Target(point=(x + 1, y + 1), box=(x, y, x + 3, y + 3), mask=TargetMask(x, y, crop))
        )
    extra = np.zeros((H, W), bool)
    extra[0, 40] = True  # a target-mask pixel in no box: must survive the round trip
    sky = np.zeros((H, W), bool)
    sky[:20] = True
    return ImageAnnotation(targets=targets, sky=sky, target_mask_extra=extra)


def _write(root: Path, image_id: str = "img-1", ann: ImageAnnotation | None = None) -> Path:
    src = root.parent / f"{image_id}-src.png"
    cv2.imwrite(str(src), np.arange(W * H, dtype=np.uint16).reshape(H, W))
    ds.write_sample(root, image_id, src, ann or _annotation(), W, H)
    return src


def test_write_then_read_roundtrip(tmp_path: Path) -> None:
    root = tmp_path / "out"
    src = _write(root)
    assert (root / "PNGImages/img-1.png").read_bytes() == src.read_bytes()  # byte for byte
    sample = ds.read_sample(root, "img-1")
    ann, orig = sample.annotation, _annotation()
    assert (sample.width, sample.height) == (W, H)
    assert sorted(t.box for t in ann.targets) == sorted(t.box for t in orig.targets)
    assert sorted(t.point for t in ann.targets) == sorted(t.point for t in orig.targets)
    for t in ann.targets:  # each point was paired with the box that holds it
        x0, y0, x1, y1 = t.box
        assert x0 <= t.point[0] < x1 and y0 <= t.point[1] < y1
        assert t.mask is not None and t.mask.pixels.all()
    assert np.array_equal(ann.sky, orig.sky)
    assert np.array_equal(ann.target_mask_extra, orig.target_mask_extra)
    assert np.array_equal(ann.target_mask(H, W), orig.target_mask(H, W))
    assert ds.list_ids(root) == ["img-1"]


def test_palette_masks_match_binary_masks(tmp_path: Path) -> None:
    root = tmp_path / "out"
    _write(root)
    # (folders, PNG bit depth, colour of index 1) as upstream: 1-bit black/red for targets,
    # 8-bit VOC colormap (index 1 = dark red) for the sky
    cases = [
        (ds.TARGET_BIN, ds.TARGET_PAL, 1, [255, 0, 0]),
        (ds.SKY_BIN, ds.SKY_PAL, 8, [128, 0, 0]),
    ]
    for bin_dir, pal_dir, depth, colour in cases:
        binary = cv2.imread(str(root / bin_dir / "img-1_pixels0.png"), cv2.IMREAD_UNCHANGED)
        pal_path = root / pal_dir / "img-1.png"
        head = pal_path.read_bytes()[:26]
        assert (head[24], head[25]) == (depth, 3)  # IHDR: bit depth, colour type 3 = palette
        rgb = imageio.read_image(pal_path)
        assert np.array_equal((rgb == colour).all(axis=2), binary == 255)
        assert np.array_equal((rgb == 0).all(axis=2), binary == 0)


def test_splits_roundtrip_without_trailing_newline(tmp_path: Path) -> None:
    ds.write_split(tmp_path, "train_v2", ["a", "b-2", "c_3"])
    assert (tmp_path / "Splits/train_v2.txt").read_bytes() == b"a\nb-2\nc_3"
    assert ds.read_split(tmp_path, "train_v2") == ["a", "b-2", "c_3"]
    assert ds.list_splits(tmp_path) == ["train_v2"]
    with pytest.raises(FormatError, match="splits available: train_v2"):
        ds.read_split(tmp_path, "val_v2")


def test_pairing_is_global_not_greedy() -> None:
    # Point 0 lies in both boxes; point 1 only in box 0: a greedy pass would strand point 1.
    boxes = [(0, 0, 4, 4), (2, 0, 8, 4)]
    points = [(3, 1), (0, 1)]
    pairs, lone_p, lone_b = pair_points_boxes(points, boxes)
    assert sorted(pairs) == [(0, 1), (1, 0)] and lone_p == [] and lone_b == []


def test_unpaired_points_and_boxes_become_single_targets(tmp_path: Path) -> None:
    boxes = [(0, 0, 3, 3), (10, 10, 13, 13)]
    points = [(1, 1), (30, 30)]
    mask = np.zeros((40, 40), bool)
    targets, extra = ds.build_targets(points, boxes, mask)
    kinds = sorted((t.point is not None, t.box is not None) for t in targets)
    assert kinds == [(False, True), (True, False), (True, True)]
    assert extra is None


@pytest.mark.parametrize(
    ("victim", "content", "words"),
    [
        ("SIRST/BBox/img-1.xml", b"<annotation><object>", "malformed"),
        (
            "SIRST/BBox/img-1.xml",
            b"<annotation><object><bndbox><xmin>a</xmin></bndbox></object></annotation>",
            "not a number",
        ),
        ("SIRST/Point_label/img-1_pixels0.txt", b"1 2\nthree 4\n", "line 2"),
        ("SIRST/Point_label/img-1_pixels0.txt", None, "point file not found"),
        (
            "SIRST/BBox/img-1.xml",
            b'<!DOCTYPE a [<!ENTITY x "y">]><annotation>&x;</annotation>',
            "unsafe",
        ),
    ],
)
def test_bad_annotation_files_raise_format_error(
    tmp_path: Path, victim: str, content: bytes | None, words: str
) -> None:
    root = tmp_path / "out"
    _write(root)
    if content is None:
        (root / victim).unlink()
    else:
        (root / victim).write_bytes(content)
    with pytest.raises(FormatError) as err:
        ds.read_sample(root, "img-1")
    assert victim.split("/")[-1] in str(err.value) and words in str(err.value)


def test_mask_of_wrong_size_and_corrupt_image(tmp_path: Path) -> None:
    root = tmp_path / "out"
    _write(root)
    mask_path = root / ds.TARGET_BIN / "img-1_pixels0.png"
    cv2.imwrite(str(mask_path), np.zeros((H + 1, W), np.uint8))
    with pytest.raises(FormatError, match="48x33 but the image is 48x32"):
        ds.read_sample(root, "img-1")
    (root / "PNGImages/img-1.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(ImageReadError, match="img-1.png"):
        ds.read_sample(root, "img-1")


@pytest.mark.parametrize("bad_id", ["../evil", "a/b", "..", "x\\y", "/abs", ""])
def test_unsafe_ids_never_write_outside(tmp_path: Path, bad_id: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(FormatError, match="image id"):
        ds.write_sample(out, bad_id, np.zeros((H, W), np.uint8), ImageAnnotation(), W, H)
    with pytest.raises(FormatError):
        ds.write_split(out, "train", ["ok", bad_id])
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_array_source_is_encoded_at_full_depth(tmp_path: Path) -> None:
    img = np.full((H, W), 12345, np.uint16)
    ds.write_sample(tmp_path, "arr", img, ImageAnnotation(), W, H)
    assert np.array_equal(imageio.read_image(tmp_path / "PNGImages/arr.png"), img)
    sample = ds.read_sample(tmp_path, "arr")
    assert sample.annotation.targets == [] and not sample.annotation.sky.any()


@pytest.mark.dataset
def test_real_files_are_reproduced_exactly(densesirst_root: Path, tmp_path: Path) -> None:
    ids = ds.read_split(densesirst_root, "val_v2")[:25]
    for i in ids:
        s = ds.read_sample(densesirst_root, i)
        assert all(t.point is not None and t.box is not None for t in s.annotation.targets)
        ds.write_sample(tmp_path, i, s.image_path, s.annotation, s.width, s.height)
        for rel in [f"{ds.BBOX}/{i}.xml", f"{ds.IMAGES}/{i}.png"]:
            assert (tmp_path / rel).read_bytes() == (densesirst_root / rel).read_bytes(), rel
        for rel in [f"{ds.TARGET_BIN}/{i}_pixels0.png", f"{ds.SKY_BIN}/{i}_pixels0.png"]:
            a = cv2.imread(str(tmp_path / rel), cv2.IMREAD_UNCHANGED)
            b = cv2.imread(str(densesirst_root / rel), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(a, b), rel
        pts = f"{ds.POINTS}/{i}_pixels0.txt"
        assert sorted((tmp_path / pts).read_text().split("\n")) == sorted(
            (densesirst_root / pts).read_text().split("\n")
        )


def test_stale_binarymask_xml_is_ignored(tmp_path: Path) -> None:
    root = tmp_path / "out"
    _write(root)
    stale = ds.bbox_xml("img-1", W, H, [(1, 1, 47, 31)])  # one old box over everything
    (root / ds.TARGET_BIN / "img-1.xml").write_text(stale)
    boxes = sorted(t.box for t in ds.read_sample(root, "img-1").annotation.targets)
    assert boxes == sorted(t.box for t in _annotation().targets)
