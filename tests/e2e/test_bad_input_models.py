"""Issue 25 items 2 and 3: an int8 file with a broken gate record, and a valid ONNX file of another
network (beside the weights as the int8 model, or planted in the ONNX cache), make `predict` fall
back to ONNX Runtime fp32 with one warning line (or export the cache again), never exit 4.

Truth: the same command with `--backend onnx` (plain fp32, no int8 file involved) writes the same
detections.csv; the warning lines are counted on stderr."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests._support.cli import assert_clean, cli
from tests._support.weights import random_weights

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    cfg = {"fpn_channels": 16, "gn_groups": 4, "exchange": "fixed", "sky_pass_long_side": 96}
    return random_weights(tmp_path_factory.mktemp("w") / "w.safetensors", cfg,
                          operating_threshold=0.02, sky_threshold=0.5)  # fmt: skip


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    from core.imageio import encode_png

    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for k in range(2):
        (d / f"f{k}.png").write_bytes(encode_png((rng.random((48, 64)) * 255).astype(np.uint8)))
    return d


@pytest.fixture(scope="module")
def fp32_csv(weights, images, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("ref") / "out"
    env = {"SIRST_STUDIO_CACHE": str(out.parent / "cache")}
    result = cli("predict", images, out, "--weights", weights, "--backend", "onnx", "--threads", "1", env=env)
    assert result.returncode == 0, result.stderr
    return (out / "detections.csv").read_text()


def _fp32_onnx(weights: Path) -> bytes:
    from model.net import build_from_weights
    from model.onnx_export import export_bytes, file_sha256, onnx_metadata

    net, cfg, meta = build_from_weights(weights)
    return export_bytes(net, cfg, onnx_metadata(cfg, meta, file_sha256(weights)))


def _other_network(inputs: list[tuple[str, list]], outputs: list[tuple[str, list]]) -> bytes:
    """A valid ONNX graph: each output the Relu of the first input (shapes as declared)."""
    import onnx
    from onnx import TensorProto, helper

    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs]
    nodes = [helper.make_node("Relu", [inputs[0][0]], [n]) for n, _ in outputs]
    model = helper.make_model(helper.make_graph(nodes, "other", ins, outs),
                              opset_imports=[helper.make_opsetid("", 17)])  # fmt: skip
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _as_int8_file(weights: Path, data: bytes, gate: str) -> None:
    """``data`` beside the weights as their int8 model, with the metadata that names them."""
    from model.onnx_export import file_sha256
    from model.quantize import INT8_FORMAT, int8_path, with_metadata

    meta = {"format": INT8_FORMAT, "weights_sha256": file_sha256(weights), "int8_gate": gate}
    int8_path(weights).write_bytes(with_metadata(data, meta))


def _predict(weights: Path, images: Path, tmp_path: Path, cache: Path | None = None):
    out = tmp_path / "out"
    env = {"SIRST_STUDIO_CACHE": str(cache or tmp_path / "cache")}
    result = cli("predict", images, out, "--weights", weights, "--threads", "1", env=env)
    assert_clean(result)
    return result, out


def _warning_lines(result) -> list[str]:
    """stderr without predict's own report (the "[k/n] image: ..." progress and the "wrote" line)."""
    return [ln for ln in result.stderr.splitlines() if ln.strip() and not ln.startswith(("[", "wrote "))]


def _copy(weights: Path, tmp_path: Path) -> Path:
    w = tmp_path / "w.safetensors"
    w.write_bytes(weights.read_bytes())
    return w


GOOD_GATE = '{"run": true, "passed": true, "whole_split": true, "tolerance": 0.005, "d_map07": 0.0, "d_sky_iou": 0.0}'


@pytest.mark.parametrize("gate", ['"{oops"', "{oops", "[]", '{"int8": 5}', '{"run": "yes"}', "null",
                                  '{"run": true, "passed": false, "d_map07": "bad"}'])  # fmt: skip
def test_int8_file_with_a_broken_gate_record_falls_back_to_fp32(weights, images, fp32_csv, tmp_path, gate):
    w = _copy(weights, tmp_path)
    _as_int8_file(w, _fp32_onnx(w), gate)
    result, out = _predict(w, images, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = _warning_lines(result)
    assert len(lines) == 1 and "gate record (int8_gate) is broken" in lines[0] and "fp32" in lines[0], result.stderr
    assert (out / "detections.csv").read_text() == fp32_csv


OTHER_NETWORKS = {
    # what the issue reported: an image in, but not BAFE-Net's head maps out ("Invalid output name: cls_0")
    "other outputs": ([("image", ["N", 1, "H", "W"])], [("logits", ["N", 1, "H", "W"])]),
    # a classifier: a vector in, a vector out
    "vector net": ([("x", [1, 16])], [("cls_0", [1, 16])]),
    # the right output names but of rank 2
    "flat maps": ([("image", ["N", 1, "H", "W"])],
                  [(f"{k}_{lvl}", ["N", 1, "H", "W"] if k != "box" else ["N", "HW"])
                   for k in ("cls", "ctr", "box", "sky") for lvl in range(3)]),
    # three colour channels in
    "rgb input": ([("image", ["N", 3, "H", "W"])],
                  [(f"{k}_{lvl}", ["N", 3, "H", "W"]) for k in ("cls", "ctr", "box", "sky") for lvl in range(3)]),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(OTHER_NETWORKS))
def test_int8_file_of_another_network_falls_back_to_fp32(weights, images, fp32_csv, tmp_path, kind):
    w = _copy(weights, tmp_path)
    _as_int8_file(w, _other_network(*OTHER_NETWORKS[kind]), GOOD_GATE)
    result, out = _predict(w, images, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = _warning_lines(result)
    assert len(lines) == 1 and "does not fit these weights" in lines[0] and "fp32" in lines[0], result.stderr
    assert (out / "detections.csv").read_text() == fp32_csv


@pytest.mark.parametrize("kind", sorted(OTHER_NETWORKS))
def test_another_network_planted_in_the_onnx_cache_is_exported_again(weights, images, fp32_csv, tmp_path, kind):
    w = _copy(weights, tmp_path)
    cache = tmp_path / "cache"
    result, _ = _predict(w, images, tmp_path / "first", cache)  # fills the cache (no int8 file)
    assert result.returncode == 0, result.stderr
    planted = sorted((cache / "onnx").glob("*.onnx"))
    assert planted, "predict cached no ONNX export"
    foreign = _other_network(*OTHER_NETWORKS[kind])
    for p in planted:  # the detector's graph and (when the weights have one) the sky network's
        p.write_bytes(foreign)
    result, out = _predict(w, images, tmp_path, cache)
    assert result.returncode == 0, result.stderr
    assert (out / "detections.csv").read_text() == fp32_csv
    assert any("cached ONNX model rejected" in ln for ln in result.stderr.splitlines()), result.stderr
    assert all(p.read_bytes() != foreign for p in planted if p.exists())  # the cache was rebuilt
