"""Issue 11 item 1 and 9: images are checked from their headers before decoding, and PNG data is
verified at probe time (header lying about its size, undecodable data with valid CRCs)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core import imageio, imagelimits
from core.errors import ImageReadError
from tests._support.crafted import bmp_header_bomb, jpeg_header_bomb, png_bomb, png_bytes


@pytest.fixture(autouse=True)
def _default_limit():
    imagelimits.set_max_pixels(None)
    yield
    imagelimits.set_max_pixels(None)


@pytest.mark.parametrize(
    "name, data, dims",
    [
        ("bomb.bmp", bmp_header_bomb(), "50000x50000"),
        ("bomb.jpg", jpeg_header_bomb(), "65000x65000"),
        ("bomb.png", png_bytes(40000, 40000, b"\x00" * 10), "40000x40000"),
    ],
)
def test_header_bombs_are_refused_before_decoding(tmp_path: Path, name, data, dims) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert len(data) < 400
    for reader in (imageio.read_image, imageio.read_header, imageio.probe_file):
        with pytest.raises(ImageReadError, match=f"{dims}.*limit"):
            reader(path)


def test_real_png_bomb_is_refused_and_the_limit_is_configurable(tmp_path, monkeypatch) -> None:
    path = tmp_path / "mask_pixels0.png"
    path.write_bytes(png_bomb(11000, 10000))  # 110 MP of zeros in ~100 kB
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImageReadError, match="110 megapixels"):
        imageio.read_image(path)
    monkeypatch.setenv("SIRST_MAX_PIXELS", "50")
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((8, 8), np.uint8))  # 64 pixels
    with pytest.raises(ImageReadError, match="limit"):
        imageio.read_header(small)
    monkeypatch.setenv("SIRST_MAX_PIXELS", "64")
    assert imageio.read_image(small).shape == (8, 8)
    imagelimits.set_max_pixels(63)
    with pytest.raises(ImageReadError, match="limit"):
        imageio.probe_file(small)


def test_tiff_page_above_the_limit_is_refused(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.zeros((20, 30), np.uint16))
    imagelimits.set_max_pixels(500)
    with pytest.raises(ImageReadError, match="30x20"):
        imageio.read_image(path)
    with pytest.raises(ImageReadError, match="30x20"):
        imageio.read_header(path)


def test_png_whose_header_lies_about_its_size_is_refused_at_probe(tmp_path: Path) -> None:
    raw = b"".join(b"\x00" + bytes([i]) * 10 for i in range(10))  # a real 10x10 gray image
    path = tmp_path / "lies.png"
    path.write_bytes(png_bytes(10, 20, raw))  # header says 10x20
    with pytest.raises(ImageReadError, match="holds 110 bytes.*needs 220"):
        imageio.probe_file(path)
    path.write_bytes(png_bytes(10, 5, raw))  # header says 10x5: data too long
    with pytest.raises(ImageReadError, match="larger than"):
        imageio.probe_file(path)
    path.write_bytes(png_bytes(10, 10, raw))
    header, _sha = imageio.probe_file(path)
    assert (header.width, header.height) == (10, 10)
    assert imageio.read_image(path)[3, 0] == 3  # and OpenCV agrees the file is fine


def test_png_with_valid_crcs_but_undecodable_data_is_refused(tmp_path: Path) -> None:
    from tests._support.crafted import png_chunk

    path = tmp_path / "garbage.png"
    good = png_bytes(4, 4, bytes(20))
    ihdr_end = 8 + 25
    garbage = png_chunk(b"IDAT", b"this is not zlib data at all")
    path.write_bytes(good[:ihdr_end] + garbage + png_chunk(b"IEND", b""))
    with pytest.raises(ImageReadError, match="cannot be decompressed"):
        imageio.probe_file(path)
    assert cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), -1) is None  # truth
    bad_filter = b"".join(b"\x09" + bytes(4) for _ in range(4))  # filter type 9 does not exist
    path.write_bytes(png_bytes(4, 4, bad_filter))
    with pytest.raises(ImageReadError, match="filter"):
        imageio.probe_file(path)
    assert cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), -1) is None


def test_interlaced_and_palette_pngs_still_probe(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (37, 53), dtype=np.uint8)
    for kwargs, name in (({"interlace": 1}, "i.png"), ({}, "p.png")):
        img = Image.fromarray(arr).convert("P") if name == "p.png" else Image.fromarray(arr)
        img.save(tmp_path / name, **kwargs)
        header, _ = imageio.probe_file(tmp_path / name)
        assert (header.width, header.height) == (53, 37)


def test_fifo_and_device_in_place_of_an_image_do_not_block(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "a.png"
    os.mkfifo(fifo)
    for reader in (imageio.read_image, imageio.read_header, imageio.probe_file):
        with pytest.raises(ImageReadError, match="FIFO"):
            reader(fifo)
    link = tmp_path / "zero.png"
    link.symlink_to("/dev/zero")
    with pytest.raises(ImageReadError, match="device"):
        imageio.read_image(link)
