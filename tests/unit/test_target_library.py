"""Target library: patch extraction, fitting, npz save/load round trip and errors, DenseSIRST build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.domain import ImageAnnotation, Target, TargetMask, TargetState
from core.errors import FormatError
from core.formats import densesirst
from core.target_library import TargetLibrary, TargetPatch, gray_f32, value_range

PLUS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)


def labelled_image() -> tuple[np.ndarray, ImageAnnotation]:
    """8-bit background 50 +- 2 with a plus-shaped masked target (+100), a box-only target
    (+60) with a touching neighbour (+80), a point-only target and a proposal (both skipped)."""
    rng = np.random.default_rng(0)
    img = rng.integers(48, 53, size=(64, 80)).astype(np.float64)
    img[10:13, 20:23] += 100 * PLUS
    img[30:33, 40:44] += 60
    img[30:33, 45:47] += 80  # dense neighbour one pixel away: must not raise the background
    targets = [
        Target(point=(21, 11), box=(20, 10, 23, 13), mask=TargetMask(20, 10, PLUS)),
        Target(box=(40, 30, 44, 33)),
        Target(box=(45, 30, 47, 33)),
        Target(point=(60, 50)),
        Target(box=(5, 50, 8, 53), state=TargetState.PROPOSAL),
    ]
    return img.astype(np.uint8), ImageAnnotation(targets=targets)


def test_patches_are_background_subtracted_crops() -> None:
    img, ann = labelled_image()
    lib = TargetLibrary.from_annotations([(img, ann)])
    assert len(lib) == 3  # point-only and proposal skipped
    plus, box, _ = lib
    assert np.array_equal(plus.mask, PLUS)
    assert plus.background == pytest.approx(50, abs=2)
    assert np.all(np.abs(plus.contrast[PLUS] - 100) <= 4) and (plus.contrast[~PLUS] == 0).all()
    assert box.mask.shape == (3, 4) and box.mask.all()
    assert box.background == pytest.approx(50, abs=2), "neighbour target leaked into background"
    assert np.all(np.abs(box.contrast - 60) <= 4)
    assert plus.contrast.dtype == np.float32
    lo, span = value_range(gray_f32(img))
    assert (plus.vmin, plus.vrange) == (lo, span) and span > 0


def test_targets_without_positive_contrast_or_outside_are_skipped() -> None:
    img = np.full((20, 20), 50, np.uint8)
    ann = ImageAnnotation(targets=[Target(box=(5, 5, 8, 8)), Target(box=(30, 30, 33, 33))])
    assert len(TargetLibrary.from_annotations([(img, ann)])) == 0


def test_fitted_shrinks_large_patches_and_normalises() -> None:
    big = TargetPatch(np.full((10, 7), 50, np.float32), np.ones((10, 7), bool), 20.0, 10.0, 100.0)
    small = TargetPatch(np.full((3, 2), 30, np.float32), np.ones((3, 2), bool), 20.0, 10.0, 100.0)
    fb, fs = TargetLibrary([big, small]).fitted(5)
    assert fb.mask.shape == (5, 4) and fb.mask.all()
    assert fb.contrast == pytest.approx(np.full((5, 4), 0.5))
    assert fs.mask.shape == (3, 2) and fs.level == pytest.approx(0.1)
    assert fs.contrast == pytest.approx(np.full((3, 2), 0.3))


def test_gray_of_rgb_is_luminance() -> None:
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 1] = 100
    assert gray_f32(rgb) == pytest.approx(np.full((2, 2), 58.7))
    with pytest.raises(ValueError):
        gray_f32(np.zeros((2, 2, 2)))


def test_save_load_round_trip(tmp_path: Path) -> None:
    img, ann = labelled_image()
    lib = TargetLibrary.from_annotations([(img, ann), (img, ann)])
    path = tmp_path / "bagcp_library.npz"
    lib.save(path)
    lib.save(path)  # replacing an existing library works too
    back = TargetLibrary.load(path)
    assert len(back) == len(lib) == 6
    for a, b in zip(lib, back, strict=True):
        assert np.array_equal(a.contrast, b.contrast) and a.contrast.dtype == b.contrast.dtype
        assert np.array_equal(a.mask, b.mask)
        assert (a.background, a.vmin, a.vrange, a.source) == (
            b.background,
            b.vmin,
            b.vrange,
            b.source,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bagcp_library.npz"], "temp file left"
    empty = tmp_path / "empty.npz"
    TargetLibrary().save(empty)
    assert len(TargetLibrary.load(empty)) == 0


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not found"):
        TargetLibrary.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip archive")
    with pytest.raises(FormatError, match="junk.npz"):
        TargetLibrary.load(junk)
    img, ann = labelled_image()
    good = tmp_path / "good.npz"
    TargetLibrary.from_annotations([(img, ann)]).save(good)
    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["contrast"] = arrays["contrast"][:-2]  # truncated
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(FormatError, match="disagree in size"):
        TargetLibrary.load(bad)
    del arrays["mask"]
    np.savez(bad, **arrays)
    with pytest.raises(FormatError, match="lacks mask"):
        TargetLibrary.load(bad)


def test_failed_save_leaves_the_old_library(tmp_path: Path, monkeypatch) -> None:
    img, ann = labelled_image()
    path = tmp_path / "lib.npz"
    TargetLibrary.from_annotations([(img, ann)]).save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError):
        TargetLibrary.from_annotations([(img, ann), (img, ann)]).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["lib.npz"]


def test_from_densesirst_reads_a_split_and_skips_broken_samples(tmp_path: Path) -> None:
    img, ann = labelled_image()
    h, w = img.shape
    ann.sky = np.ones((h, w), bool)
    ann.targets = [t for t in ann.targets if t.state == TargetState.ACCEPTED]
    for image_id in ("a_1", "b_2", "c_3"):
        densesirst.write_sample(tmp_path, image_id, img, ann, w, h)
    densesirst.write_split(tmp_path, "train", ["a_1", "c_3"])
    (tmp_path / "SIRST" / "BBox" / "c_3.xml").write_text("<annotation><object>", "utf-8")
    calls = []
    lib = TargetLibrary.from_densesirst(tmp_path, "train", lambda d, t: calls.append((d, t)))
    assert calls == [(1, 2), (2, 2)]
    assert len(lib.skipped) == 1 and lib.skipped[0].startswith("c_3")
    assert {p.source for p in lib} == {"a_1"} and len(lib) == 3
    assert len(TargetLibrary.from_densesirst(tmp_path)) == 6  # every image, c_3 still skipped
