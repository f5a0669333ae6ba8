"""ADR 0040: 8-bit int8 weights saturate ORT's u8s8 kernels on x86 CPUs without VNNI; 7-bit weights
never do. The truth is numpy's exact integer product, against ONNX Runtime's on this CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from model import cpu_int8  # noqa: E402
from model.inference import default_weights_path  # noqa: E402
from model.onnx_export import file_sha256  # noqa: E402
from model.quantize import (  # noqa: E402
    Int8Unusable,
    int8_path,
    read_int8,
    refuse_saturating,
    saturation_problem,
    sky_int8_path,
)

K = 64  # long enough for every kernel to take its vector path


def ort_matmul_u8s8(weight: int) -> tuple[int, int]:
    """(ORT's MatMulInteger of 255-valued u8 rows by a constant s8 weight, numpy's exact value)."""
    from onnx import TensorProto, helper, numpy_helper

    b = np.full((K, 16), weight, np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])], "u8s8",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [None, K])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [None, 16])],
        [numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    a = np.full((8, K), 255, np.uint8)
    got = int(session.run(None, {"A": a})[0][0, 0])
    return got, int(a[0].astype(np.int64) @ b[:, 0].astype(np.int64))


@pytest.mark.parametrize("weight", [64, -64, 63, 17])
def test_seven_bit_weights_are_exact_on_this_cpu(weight):
    got, exact = ort_matmul_u8s8(weight)
    assert got == exact


@pytest.mark.parametrize("weight", [127, -128])
def test_the_cpu_check_predicts_what_ort_does_with_8_bit_weights(weight):
    got, exact = ort_matmul_u8s8(weight)
    assert (got == exact) is cpu_int8.full_range_int8_exact(), (got, exact)


def recipe_meta(**recipe) -> dict[str, str]:
    return {"int8_recipe": json.dumps({"types": "u8s8", "reduce_range": False, **recipe})}


def test_saturation_problem_only_for_full_range_u8s8_without_vnni(monkeypatch):
    monkeypatch.setattr("model.cpu_int8.full_range_int8_exact", lambda: False)
    assert "7-bit weights" in saturation_problem(recipe_meta())
    assert "7-bit weights" in saturation_problem(recipe_meta(types="s8s8"))
    assert "7-bit weights" in saturation_problem({})  # no recipe: assume the worst
    assert saturation_problem(recipe_meta(reduce_range=True)) is None
    assert saturation_problem(recipe_meta(types="u8u8")) is None
    monkeypatch.setattr("model.cpu_int8.full_range_int8_exact", lambda: True)
    assert saturation_problem(recipe_meta()) is None


def weight_ranges(path) -> list[tuple[str, int, int]]:
    """(name, min, max) of every int8 weight initialiser of an ONNX file."""
    from onnx import TensorProto, numpy_helper

    model = onnx.load(str(path))
    return [(t.name, int(a.min()), int(a.max()))
            for t in model.graph.initializer if t.data_type == TensorProto.INT8
            for a in [numpy_helper.to_array(t)] if a.size > 1]


@pytest.mark.parametrize("which", [int8_path, sky_int8_path])
def test_shipped_int8_files_hold_7_bit_weights(which):
    path = which(default_weights_path())
    if not path.is_file():
        pytest.skip("no shipped int8 file")
    ranges = weight_ranges(path)
    assert len(ranges) > 10
    assert all(-64 <= lo and hi <= 64 for _, lo, hi in ranges), [r for r in ranges if r[1] < -64 or r[2] > 64][:3]
    _data, meta = read_int8(path, file_sha256(default_weights_path()))
    refuse_saturating(path, meta)  # usable on this CPU, with or without VNNI
    assert json.loads(meta["int8_recipe"])["reduce_range"] is True


def test_full_range_file_is_refused_without_vnni(monkeypatch, tmp_path):
    """Copies of the shipped weights and int8 files whose recipes say 8-bit weights: on a CPU
    without VNNI the Predictor runs ORT fp32 for both graphs, with a warning naming the cause;
    on one with VNNI it runs them."""
    import logging
    import shutil

    from model.backends import Backend
    from model.inference import Predictor
    from model.quantize import with_metadata

    weights = default_weights_path()
    if not int8_path(weights).is_file() or not sky_int8_path(weights).is_file():
        pytest.skip("no shipped int8 files")
    copy = tmp_path / weights.name
    shutil.copy(weights, copy)
    for which in (int8_path, sky_int8_path):
        src = which(weights)
        meta = {p.key: p.value for p in onnx.load(str(src)).metadata_props}
        recipe = json.loads(meta["int8_recipe"]) | {"reduce_range": False}
        which(copy).write_bytes(with_metadata(src.read_bytes(), {"int8_recipe": json.dumps(recipe)}))
    monkeypatch.setenv("SIRST_STUDIO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("model.cpu_int8.full_range_int8_exact", lambda: False)
    with pytest.raises(Int8Unusable, match="x86 without VNNI"):
        refuse_saturating(int8_path(copy), read_int8(int8_path(copy), file_sha256(copy))[1])
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("model.backends").addHandler(handler)
    try:
        refused = Predictor(copy, threads=1)
    finally:
        logging.getLogger("model.backends").removeHandler(handler)
    assert refused.backend is Backend.ONNX
    assert sum("without VNNI" in r.getMessage() for r in records) == 2, [r.getMessage() for r in records]
    monkeypatch.setattr("model.cpu_int8.full_range_int8_exact", lambda: True)
    assert Predictor(copy, threads=1).backend is Backend.ONNX_INT8
