"""Two loads of the same weights at once (two apps, two test workers) export the ONNX graph once:
the second waits for the first's export and reads its file (model/onnx_export.py, ADR 0037).

Truths: a count of the exports (the exporter replaced by a slow fake) and the bytes on disk.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from model import onnx_export


def test_two_loads_at_once_export_once_and_read_the_same_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIRST_STUDIO_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"weights")
    exports: list[int] = []
    inside = threading.Event()

    def slow_export(net, cfg, metadata, part=onnx_export.GraphPart.DETECTOR) -> bytes:
        exports.append(1)
        inside.set()
        time.sleep(0.5)  # long enough for the second load to arrive while this one exports
        return b"graph-%d" % len(exports)

    monkeypatch.setattr(onnx_export, "export_bytes", slow_export)
    monkeypatch.setattr(onnx_export, "onnx_metadata", lambda cfg, meta, sha: {})
    got: list[bytes] = []

    def load() -> None:
        got.append(onnx_export.cached_onnx(None, None, {}, weights))

    first = threading.Thread(target=load)
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=load)
    second.start()
    first.join(10)
    second.join(10)
    assert got == [b"graph-1", b"graph-1"] and len(exports) == 1
    files = sorted(p.name for p in (tmp_path / "cache" / "onnx").iterdir())
    assert len(files) == 2 and files[1] == files[0] + ".lock"  # the graph and its lock, no temp file
    assert (tmp_path / "cache" / "onnx" / files[0]).read_bytes() == b"graph-1"


def test_an_unwritable_cache_still_exports(tmp_path: Path, monkeypatch) -> None:
    """No lock and no file without a writable folder: every load exports (as before)."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("SIRST_STUDIO_CACHE", str(blocker / "cache"))  # below a file: mkdir fails
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"weights")
    calls: list[int] = []
    monkeypatch.setattr(onnx_export, "export_bytes", lambda *a, **k: calls.append(1) or b"g")
    monkeypatch.setattr(onnx_export, "onnx_metadata", lambda cfg, meta, sha: {})
    for _ in range(2):
        assert onnx_export.cached_onnx(None, None, {}, weights) == b"g"
    assert len(calls) == 2
    with pytest.raises(NotADirectoryError):
        (blocker / "cache").mkdir(parents=True)
