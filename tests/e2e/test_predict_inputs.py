"""`predict` and `export-model` on bad input (issue 11 / 13): clear errors, exit codes as in the
README (0 ok, 1 some images skipped, 2 bad input with nothing written), never a traceback."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from app.cli import main as cli_main
from core.imageio import encode_png
from model.checkpoint import read_metadata
from tests._support.weights import random_weights

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    cfg = {"fpn_channels": 16, "gn_groups": 4, "exchange": "fixed"}
    return random_weights(tmp_path_factory.mktemp("w") / "w.safetensors", cfg,
                          operating_threshold=0.02, sky_threshold=0.5)  # fmt: skip


def _png(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    path.write_bytes(encode_png((rng.random((48, 64)) * 255).astype(np.uint8)))


def _huge_header_png(path: Path, w: int = 60000, h: int = 60000) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def _variant(src: Path, dst: Path, config=None, **meta) -> Path:
    info = dict(read_metadata(src))
    if config is not None:
        info["config"] = config if isinstance(config, str) else json.dumps(config)
    info.update(meta)
    save_file(load_file(str(src)), str(dst), metadata=info)
    return dst


def _folder(tmp: Path, names: list[str]) -> Path:
    d = tmp / "imgs"
    d.mkdir()
    for i, n in enumerate(names):
        _png(d / n, i)
    return d


def _cfg(weights: Path, **changes) -> dict:
    cfg = json.loads(read_metadata(weights)["config"])
    cfg.update(changes)
    return cfg


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda w: [], "not an object"),
        (lambda w: _cfg(w, fpn_channels=0), "fpn_channels"),
        (lambda w: _cfg(w, fpn_channels=-8), "fpn_channels"),
        (lambda w: _cfg(w, fpn_channels=200000), "fpn_channels"),
        (lambda w: _cfg(w, operating_threshold="abc"), "operating_threshold"),
        (lambda w: "{not json", "not JSON"),
    ],
)
def test_bad_config_in_weights_is_a_clear_error(weights, tmp_path, capsys, make, needle):
    bad = _variant(weights, tmp_path / "bad.safetensors", make(weights))
    out = tmp_path / "out"
    code = cli_main(["predict", str(_folder(tmp_path, ["a.png"])), str(out), "--weights", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err
    assert not out.exists()


def test_bad_threshold_metadata_is_a_clear_error(weights, tmp_path, capsys):
    bad = _variant(weights, tmp_path / "bad.safetensors", operating_threshold="abc")
    code = cli_main(["predict", str(_folder(tmp_path, ["a.png"])), str(tmp_path / "out"), "--weights", str(bad)])
    assert code == 2 and "operating_threshold" in capsys.readouterr().err


def test_out_that_is_a_file_and_negative_threads_exit_2(weights, tmp_path, capsys):
    images = _folder(tmp_path, ["a.png"])
    (tmp_path / "file").write_text("keep me")
    assert cli_main(["predict", str(images), str(tmp_path / "file"), "--weights", str(weights)]) == 2
    assert "not a folder" in capsys.readouterr().err and (tmp_path / "file").read_text() == "keep me"
    assert cli_main(["predict", str(images), str(tmp_path / "o"), "--threads", "-3", "--weights", str(weights)]) == 2
    assert "--threads -3" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_unsafe_names_and_unreadable_files_are_skipped_with_reasons(weights, tmp_path, capsys):
    images = _folder(tmp_path, ["good.png", ".x.png", "a..b.png", "zz .png", "other.png"])
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    _huge_header_png(images / "huge.png")
    out = tmp_path / "out"
    code = cli_main(["predict", str(images), str(out), "--weights", str(weights), "--score-thr", "0.0"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    for name in (".x.png", "a..b.png", "zz .png", "broken.png", "huge.png"):
        assert f"skipped: {name}" in err
    rows = (out / "detections.csv").read_text().splitlines()
    assert rows[0] == "image_id,xmin,ymin,xmax,ymax,score"
    assert {r.split(",")[0] for r in rows[1:]} == {"good", "other"}
    assert sorted(p.name for p in (out / "SIRST" / "BBox").iterdir()) == ["good.xml", "other.xml"]


def test_only_unusable_names_exit_2_with_nothing_written(weights, tmp_path, capsys):
    images = _folder(tmp_path, [".x.png", "zz .png"])
    out = tmp_path / "out"
    assert cli_main(["predict", str(images), str(out), "--weights", str(weights)]) == 2
    assert "no usable image names" in capsys.readouterr().err and not out.exists()


def test_export_model_onnx_runs_in_onnxruntime_like_torch(weights, tmp_path, capsys):
    import onnxruntime as ort

    dst = tmp_path / "m.onnx"
    assert cli_main(["export-model", "--onnx", str(dst), "--weights", str(weights)]) == 0
    session = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert float(meta["operating_threshold"]) == 0.02 and float(meta["sky_threshold"]) == 0.5
    assert json.loads(meta["strides"]) == [4, 8, 16] and float(meta["nms_iou"]) == 0.5
    assert json.loads(meta["config"])["fpn_channels"] == 16
    from model.net import build_from_weights

    net = build_from_weights(weights)[0]
    x = torch.rand(2, 1, 96, 160)  # batch and size differ from the export's example input
    with torch.inference_mode():
        ref = net(x)
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {"image": x.numpy()}), strict=True))
    for kind in ("cls", "ctr", "box", "sky"):
        for level, t in enumerate(ref[kind]):
            np.testing.assert_allclose(got[f"{kind}_{level}"], t.numpy(), atol=2e-4, rtol=1e-4)


def test_export_model_bad_paths_exit_2(weights, tmp_path, capsys):
    assert cli_main(["export-model", "--onnx", str(tmp_path), "--weights", str(weights)]) == 2
    assert cli_main(["export-model", "--onnx", str(tmp_path / "no" / "m.onnx"), "--weights", str(weights)]) == 2
    assert cli_main(["export-model", "--onnx", str(tmp_path / "m.onnx"), "--weights", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "m.onnx").exists()
