"""Issue 25 item 10: `export-model` never writes over a file it reads. An output that is the
weights file (the same path, a relative path, a symlink or a hard link to it) is refused with
exit 2 before anything is written; the weights stay byte for byte what they were (real CLI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests._support.cli import REPO, assert_clean, cli_here, tiny_densesirst
from tests._support.weights import random_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    cfg = {"fpn_channels": 16, "gn_groups": 4, "exchange": "fixed"}
    return random_weights(tmp_path_factory.mktemp("w") / "w.safetensors", cfg,
                          operating_threshold=0.02, sky_threshold=0.5)  # fmt: skip


def _aliases(w: Path, tmp_path: Path) -> dict[str, Path]:
    link = tmp_path / "link.onnx"
    link.symlink_to(w)
    hard = tmp_path / "hard.onnx"
    os.link(w, hard)
    return {
        "same path": w,
        "relative path": Path(os.path.relpath(w, REPO)),  # cli_here() runs in REPO, as cli() does
        "dot-dot path": w.parent / ".." / w.parent.name / w.name,
        "symlink": link,
        "hard link": hard,
    }


@pytest.mark.parametrize("flag", ["--onnx", "--int8"])
def test_output_that_is_the_weights_file_is_refused_before_writing(weights, tmp_path, flag):
    w = tmp_path / "w.safetensors"
    w.write_bytes(weights.read_bytes())
    before = w.read_bytes()
    calib = tmp_path / "SIRSTdevkit"
    tiny_densesirst(calib, n=2)
    for name, out in _aliases(w, tmp_path).items():
        listing = sorted(p.name for p in tmp_path.iterdir())
        extra = ["--calib-data", calib, "--no-gate"] if flag == "--int8" else []
        result = cli_here("export-model", flag, out, "--weights", w, *extra)
        assert_clean(result)
        assert result.returncode == 2, (name, result.stderr)
        assert "is the input file" in result.stderr, (name, result.stderr)
        assert w.read_bytes() == before, name
        assert sorted(p.name for p in tmp_path.iterdir()) == listing, name  # nothing new (no .sky.onnx)


def test_int8_output_over_a_calibration_split_file_is_refused(weights, tmp_path):
    calib = tmp_path / "SIRSTdevkit"
    tiny_densesirst(calib, n=2)
    split = calib / "Splits" / "train_v2.txt"
    split.write_text("img-0\n")
    result = cli_here("export-model", "--int8", split, "--weights", weights, "--calib-data", calib, "--no-gate")
    assert_clean(result)
    assert result.returncode == 2 and "is the input file" in result.stderr, result.stderr
    assert split.read_text() == "img-0\n"


def test_a_different_output_file_is_still_written(weights, tmp_path):
    out = tmp_path / "model.onnx"
    result = cli_here("export-model", "--onnx", out, "--weights", weights)
    assert result.returncode == 0, result.stderr
    import hashlib

    import onnx

    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
