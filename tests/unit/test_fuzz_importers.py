"""Issue 11: property-based fuzzing of every importer. Whatever the bytes, a reader either
returns a valid result or raises the documented SirstError (FormatError / ImageReadError):
never another exception, never a hang. The budget is fixed (max_examples, deadline, derandomize)
so CI runs it in seconds and the same way every time."""

from __future__ import annotations

import json
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import imageio
from core.errors import FormatError, ImageReadError, SirstError
from core.formats import coco
from core.formats import densesirst as ds
from tests._support.crafted import png_bytes, png_chunk

FUZZ = settings(max_examples=60, deadline=2000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
_DIR = Path(tempfile.mkdtemp(prefix="sirst-fuzz-"))

numbers = st.one_of(
    st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1e999", "-1e999", "nan", "0x10", "", "abc", "5 6", "1e308"]),
)  # fmt: skip


def _write(name: str, data: bytes) -> Path:
    path = _DIR / name
    path.write_bytes(data)
    return path


@st.composite
def voc_xml(draw) -> bytes:
    objects = []
    for _ in range(draw(st.integers(0, 6))):
        tags = draw(st.lists(st.sampled_from(["xmin", "ymin", "xmax", "ymax"]), max_size=5))
        inner = "".join(f"<{t}>{draw(numbers)}</{t}>" for t in tags)
        objects.append(f"<object><name>Target</name><bndbox>{inner}</bndbox></object>")
    size = f"<size><width>{draw(numbers)}</width><height>{draw(numbers)}</height></size>"
    text = f"<annotation>{size if draw(st.booleans()) else ''}{''.join(objects)}</annotation>"
    data = text.encode()
    if draw(st.booleans()):  # damage it
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=20)) + data[cut:]
    return data


@FUZZ
@given(voc_xml())
def test_fuzz_densesirst_boxes(data: bytes) -> None:
    path = _write("a.xml", data)
    try:
        boxes = ds.read_boxes(path, 40, 30)
    except FormatError:
        return
    for x0, y0, x1, y1 in boxes:
        assert x1 > x0 and y1 > y0 and all(np.isfinite([x0, y0, x1, y1]))


@FUZZ
@given(st.lists(st.tuples(numbers, numbers), max_size=8), st.binary(max_size=30))
def test_fuzz_densesirst_points(pairs, junk: bytes) -> None:
    text = "\n".join(f"{a} {b}" for a, b in pairs).encode() + junk
    path = _write("p.txt", text)
    try:
        points = ds.read_points(path)
    except FormatError:
        return
    assert all(np.isfinite(p).all() for p in points)


@st.composite
def png_files(draw) -> bytes:
    w, h = draw(st.integers(0, 70000)), draw(st.integers(0, 70000))
    color = draw(st.sampled_from([0, 2, 3, 4, 6, 1, 7]))
    depth = draw(st.sampled_from([1, 2, 4, 8, 16, 3]))
    raw = draw(st.binary(max_size=400))
    data = png_bytes(w, h, raw, color=color, depth=depth)
    mode = draw(st.integers(0, 3))
    if mode == 1:  # flip a byte anywhere (CRCs then usually fail)
        k = draw(st.integers(0, len(data) - 1))
        data = data[:k] + bytes([data[k] ^ 0xFF]) + data[k + 1 :]
    elif mode == 2:  # truncate
        data = data[: draw(st.integers(0, len(data)))]
    elif mode == 3:  # garbage IDAT with a valid CRC
        ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
        data = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
                + png_chunk(b"IDAT", zlib.compress(raw) if draw(st.booleans()) else raw)
                + png_chunk(b"IEND", b""))  # fmt: skip
    return data


@st.composite
def other_headers(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["bmp", "jpg", "tif", "junk"]))
    if kind == "bmp":
        info = struct.pack("<IiiHH", draw(st.sampled_from([12, 40, 108, 0])),
                           draw(st.integers(-70000, 70000)), draw(st.integers(-70000, 70000)),
                           1, draw(st.sampled_from([1, 8, 24, 32])))  # fmt: skip
        body = info + draw(st.binary(max_size=200))
        return "x.bmp", b"BM" + struct.pack("<IHHI", 14 + len(body), 0, 0, 54) + body
    if kind == "jpg":
        sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, draw(st.integers(0, 65535)),
                                        draw(st.integers(0, 65535)), 1) + b"\x01\x11\x00"  # fmt: skip
        return "x.jpg", b"\xff\xd8" + draw(st.binary(max_size=50)) + sof + draw(st.binary(max_size=100)) + b"\xff\xd9"
    if kind == "tif":
        return "x.tif", b"II*\x00" + draw(st.binary(max_size=300))
    return "x.png", draw(st.binary(max_size=300))


def _check_image_readers(path: Path) -> None:
    for reader in (imageio.read_header, imageio.probe_file, imageio.read_image):
        try:
            reader(path)
        except ImageReadError:
            pass


@FUZZ
@given(png_files())
def test_fuzz_png_headers_and_data(data: bytes) -> None:
    path = _write("x.png", data)
    _check_image_readers(path)
    try:
        header, _ = imageio.probe_file(path)
    except ImageReadError:
        return
    img = imageio.read_image(path)  # what probe accepts must decode, at the promised size
    assert img.shape[:2] == (header.height, header.width)


@FUZZ
@given(other_headers())
def test_fuzz_bmp_jpeg_tiff_headers(named: tuple[str, bytes]) -> None:
    name, data = named
    _check_image_readers(_write(name, data))


@FUZZ
@given(png_files())
def test_fuzz_masks(data: bytes) -> None:
    path = _write("m_pixels0.png", data)
    try:
        mask = ds.read_mask(path, 8, 6, [])
    except FormatError:
        return
    assert mask.dtype == bool and mask.shape == (6, 8)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 10**12), st.floats(), st.text(max_size=6)),
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=12,
)  # fmt: skip


@st.composite
def coco_docs(draw) -> dict:
    def maybe(value):
        return draw(json_values) if draw(st.integers(0, 5)) == 0 else value

    images = [{"id": maybe(k + 1), "file_name": maybe("a.png"), "width": maybe(8),
               "height": maybe(6), "sky_mask": maybe(None)} for k in range(draw(st.integers(0, 2)))]  # fmt: skip
    anns = [{"id": maybe(k), "image_id": maybe(1), "category_id": maybe(1),
             "bbox": maybe([draw(numbers) if draw(st.booleans()) else 1, 1, 2, 2]),
             "segmentation": maybe([[1, 1, 4, 1, 4, 4]]), "point": maybe([2, 2])}
            for k in range(draw(st.integers(0, 3)))]  # fmt: skip
    doc = {"images": maybe(images), "annotations": maybe(anns),
           "categories": maybe([{"id": 1, "name": maybe("target")}])}  # fmt: skip
    return doc


@FUZZ
@given(coco_docs())
def test_fuzz_coco_json(doc: dict) -> None:
    text = json.dumps(doc, allow_nan=True)
    path = _write("c.json", text.encode())
    try:
        entries = coco.read_coco(path)
    except FormatError:
        return
    for entry in entries:
        try:
            ann = coco.build_annotation(entry, 8, 6, path)
        except SirstError:
            continue
        for t in ann.targets:
            if t.box is not None:
                x0, y0, x1, y1 = t.box
                assert 0 <= x0 < x1 <= 8 and 0 <= y0 < y1 <= 6
