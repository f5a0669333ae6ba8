"""core.imageio: full-depth reads of every format, typed errors, header parsing, display maths."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from core import imageio
from core.errors import ImageReadError


def _ramp(h: int, w: int, dtype, hi: int) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) % (hi + 1)).astype(dtype)


def _write(path: Path, img: np.ndarray) -> Path:
    """Written by a reference library (tifffile for TIFF, OpenCV otherwise), not by core.imageio."""
    if path.suffix in (".tif", ".tiff"):
        tifffile.imwrite(path, img)
    else:
        cv2.imwrite(str(path), img)
    return path


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp"])
def test_gray8_lossless_roundtrip(tmp_path: Path, suffix: str) -> None:
    img = _ramp(13, 17, np.uint8, 255)
    path = _write(tmp_path / f"a{suffix}", img)
    out = imageio.read_image(path)
    assert out.dtype == np.uint8 and out.shape == (13, 17)
    assert np.array_equal(out, img)
    assert imageio.read_header(path) == imageio.ImageHeader(17, 13, 8, 1)


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
def test_14bit_in_16bit_container_kept_at_full_depth(tmp_path: Path, suffix: str) -> None:
    img = _ramp(20, 30, np.uint16, 16383)  # 14-bit values
    path = _write(tmp_path / f"ir{suffix}", img)
    out = imageio.read_image(path)
    assert out.dtype == np.uint16 and np.array_equal(out, img)
    assert imageio.read_header(path).bit_depth == 16
    # The display window follows the data (percentiles), not the dtype maximum.
    disp = imageio.normalize_for_display(out, 0.0, 100.0)
    assert disp.max() == 255 and disp.min() == 0


def test_rgb_png_comes_back_in_rgb_order(tmp_path: Path) -> None:
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red
    cv2.imwrite(str(tmp_path / "c.png"), rgb[..., ::-1])  # cv2 writes BGR
    out = imageio.read_image(tmp_path / "c.png")
    assert out.shape == (4, 5, 3) and out[0, 0].tolist() == [200, 0, 0]
    assert imageio.read_header(tmp_path / "c.png") == imageio.ImageHeader(5, 4, 8, 3)


def test_rgba_and_rgb_tiff(tmp_path: Path) -> None:
    rgba = np.random.default_rng(0).integers(0, 255, (6, 7, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    assert np.array_equal(imageio.read_image(tmp_path / "a.png"), rgba)
    rgb16 = np.random.default_rng(1).integers(0, 65535, (6, 7, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "b.tif", rgb16, photometric="rgb")
    assert np.array_equal(imageio.read_image(tmp_path / "b.tif"), rgb16)
    assert imageio.read_header(tmp_path / "b.tif") == imageio.ImageHeader(7, 6, 16, 3)


def test_jpeg_reads(tmp_path: Path) -> None:
    img = np.full((16, 16), 120, np.uint8)
    cv2.imwrite(str(tmp_path / "j.jpg"), img)
    out = imageio.read_image(tmp_path / "j.jpg")
    assert out.shape == (16, 16) and abs(int(out.mean()) - 120) <= 2


def test_missing_corrupt_and_truncated_files_raise_named_errors(tmp_path: Path) -> None:
    good = tmp_path / "g.png"
    cv2.imwrite(str(good), _ramp(64, 64, np.uint8, 255))
    data = good.read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.png").write_bytes(b"this is not an image at all")
    (tmp_path / "empty.bmp").write_bytes(b"")
    (tmp_path / "bad.tif").write_bytes(b"II*\x00garbage")
    cases = {
        "nope.png": "not found",
        "trunc.png": "truncated",
        "junk.png": "corrupt",
        "empty.bmp": "empty",
        "bad.tif": "TIFF",
    }
    for name, words in cases.items():
        with pytest.raises(ImageReadError) as err:
            imageio.read_image(tmp_path / name)
        assert name in str(err.value) and words in err.value.reason
    with pytest.raises(ImageReadError, match="not a PNG"):
        imageio.read_header(tmp_path / "junk.png")


def test_reading_never_modifies_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    cv2.imwrite(str(path), _ramp(9, 9, np.uint16, 4000))
    before = imageio.file_sha256(path)
    imageio.read_image(path)
    imageio.read_header(path)
    assert imageio.file_sha256(path) == before


def test_to_gray_keeps_dtype_and_ignores_alpha() -> None:
    rgba = np.zeros((2, 2, 4), np.uint16)
    rgba[..., :3] = 1000
    rgba[..., 3] = 7
    g = imageio.to_gray(rgba)
    assert g.dtype == np.uint16 and g.shape == (2, 2) and (g == 1000).all()


def test_normalize_levels_and_gamma() -> None:
    img = np.array([[0, 100, 200, 300]], np.uint16)
    out = imageio.normalize_for_display(img, levels=(100, 300))
    assert out.tolist() == [[0, 0, 128, 255]]
    bright = imageio.normalize_for_display(img, levels=(100, 300), gamma=0.5)
    assert bright[0, 2] == round(255 * 0.5**0.5)  # the canvas's curve: v ** gamma
    dark = imageio.normalize_for_display(img, levels=(100, 300), gamma=2.0)
    assert dark[0, 2] == round(255 * 0.5**2) < out[0, 2]
    flat = imageio.normalize_for_display(np.full((3, 3), 5, np.uint8))
    assert flat.dtype == np.uint8 and flat.shape == (3, 3)


def test_to_model_input_ranges() -> None:
    g8 = np.array([[0, 255]], np.uint8)
    assert imageio.to_model_input(g8).tolist() == [[0.0, 1.0]]
    g16 = np.array([[1000, 3000, 5000]], np.uint16)
    out = imageio.to_model_input(g16)
    assert out.dtype == np.float32 and out.tolist() == [[0.0, 0.5, 1.0]]


def test_encode_png_roundtrip_16bit_rgb(tmp_path: Path) -> None:
    img = np.random.default_rng(2).integers(0, 65535, (5, 6, 3), dtype=np.uint16)
    path = tmp_path / "e.png"
    path.write_bytes(imageio.encode_png(img))
    assert np.array_equal(imageio.read_image(path), img)


def test_probe_checks_every_png_chunk(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), np.random.default_rng(4).integers(0, 255, (64, 64), dtype=np.uint8))
    header, sha = imageio.probe_file(path)
    assert header == imageio.read_header(path) and sha == imageio.file_sha256(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # IEND still there: only the CRC walk can notice
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="checksum"):
        imageio.probe_file(path)
