"""core.fileio (the one atomic writer and bounded reader) and core.maskcodec."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from core import fileio, maskcodec


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_honour_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    # in a child process: the umask is process-wide and pytest threads must not see it change
    code = (
        "import os, sys; from pathlib import Path; from core import fileio\n"
        f"os.umask({umask}); d = Path(sys.argv[1])\n"
        "fileio.atomic_write_bytes(d / 'a.bin', b'x')\n"
        "fileio.atomic_write_text(d / 'b.txt', 'y', fsync=False)\n"
        "fileio.atomic_copy(d / 'a.bin', d / 'c.bin')\n"
        "fileio.atomic_write_via(d / 'd.bin', lambda p: p.write_bytes(b'z'))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, cwd=Path.cwd())
    for name in ("a.bin", "b.txt", "c.bin", "d.bin"):
        assert _mode(tmp_path / name) == expected, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt", "c.bin", "d.bin"]


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    dst = tmp_path / "x.txt"
    dst.write_text("old")

    def boom(_tmp: Path) -> None:
        _tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        fileio.atomic_write_via(dst, boom)
    assert dst.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_reader_refuses_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "a.xml"
    os.mkfifo(fifo)
    with pytest.raises(fileio.UnreadableFile, match="FIFO"):
        fileio.read_regular_bytes(fifo)
    with pytest.raises(fileio.UnreadableFile, match="FIFO"):
        fileio.check_regular(fifo, 100)


def test_reader_refuses_devices_and_large_files(tmp_path: Path) -> None:
    with pytest.raises(fileio.UnreadableFile, match="device"):
        fileio.read_regular_bytes("/dev/zero")
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 2000)
    with pytest.raises(fileio.UnreadableFile, match="limit"):
        fileio.read_regular_bytes(big, max_bytes=1000)
    assert fileio.read_regular_bytes(big, max_bytes=2000) == b"a" * 2000
    with pytest.raises(IsADirectoryError):
        fileio.read_regular_bytes(tmp_path)
    with pytest.raises(FileNotFoundError):
        fileio.read_regular_bytes(tmp_path / "nope")


def test_mask_codec_round_trip_is_0_255_on_disk() -> None:
    mask = np.zeros((5, 7), bool)
    mask[1:3, 2:6] = True
    png = maskcodec.encode_png(mask)
    raw = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint8 and set(np.unique(raw)) == {0, 255}
    np.testing.assert_array_equal(maskcodec.decode_png(png), mask)
    assert maskcodec.decode_png(b"not a png") is None


def test_mask_codec_reads_0_1_like_0_255_and_flags_other_values() -> None:
    ones = np.array([[0, 1], [1, 0]], np.uint8)
    np.testing.assert_array_equal(maskcodec.from_pixels(ones), ones.astype(bool))
    assert maskcodec.unusual_values(ones) is None
    assert maskcodec.unusual_values(ones * 255) is None
    assert maskcodec.unusual_values(np.zeros((2, 2), np.uint8)) is None
    odd = np.array([[0, 128], [255, 0]], np.uint8)
    assert "128" in maskcodec.unusual_values(odd)
