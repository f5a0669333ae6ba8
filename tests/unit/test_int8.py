"""The int8 backend: quantisation, the file's key and fallbacks, export-model --int8, and agreement
of the shipped int8 model with the eager torch reference.

Truths: the torch module (reference), hand-derived calibration shapes and frame choices, files on
disk read back by a plain onnxruntime.InferenceSession, and the log records.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from model.backends import Backend
from model.inference import Predictor, default_weights_path
from model.onnx_export import export_bytes, file_sha256, onnx_metadata
from model.quantize import (
    INT8_FORMAT,
    Calibration,
    Recipe,
    calibration_ids,
    calibration_inputs,
    int8_metadata,
    int8_path,
    nodes_matching,
    quantize_onnx,
    with_metadata,
)
from tests._support.tiny_models import scene
from tests.conftest import DENSESIRST_ROOT

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxruntime.quantization")

ROOT = DENSESIRST_ROOT  # ../shared/datasets/DenseSIRST/SIRSTdevkit or SIRST_DENSESIRST_ROOT




@pytest.fixture(scope="module")
def tiny(tiny_weights) -> Path:
    """A small random-init net (fixed exchange: no data-dependent choice) in its own folder."""
    return tiny_weights(5, sky_threshold=0.55, sky_pass_long_side=96)


@pytest.fixture(scope="module")
def tiny_root(tiny_densesirst) -> Path:
    """A minimal DenseSIRST root: five train_v2 frames of two sizes, listed in reverse."""
    return tiny_densesirst(5, small=(64, 64), reverse=True)


def _int8_bytes(weights: Path, root: Path, sha: str | None = None, gate: dict | None = None) -> bytes:
    from model.net import build_from_weights

    net, cfg, meta = build_from_weights(weights)
    fp32 = export_bytes(net, cfg, onnx_metadata(cfg, meta, sha or file_sha256(weights)))
    calib = calibration_inputs(cfg, root, 3)
    recipe = Recipe(frames=3, keep_fp32=("heads", "exchange"))  # the shipped recipe's groups
    return with_metadata(quantize_onnx(fp32, calib.inputs, recipe), int8_metadata(recipe, calib.ids, gate))


def test_calibration_frames_are_evenly_spaced_and_include_the_sky_pass_frames(tiny, tiny_root):
    from model.net import build_from_weights

    assert calibration_ids(tiny_root, 3) == ["f0", "f2", "f4"]  # sorted split, ends and middle
    _, cfg, _ = build_from_weights(tiny)
    calib = calibration_inputs(cfg, tiny_root, 5)
    # 64x64 frames are no larger than the pass's 96 px: one input; 120x150 -> padded 128x160 and
    # the frame shrunk to 77x96 (long side 96), padded to 96x96.
    shapes = [x.shape for x in calib.inputs]
    assert shapes == [(1, 1, 64, 64), (1, 1, 128, 160), (1, 1, 96, 96), (1, 1, 64, 64),
                      (1, 1, 128, 160), (1, 1, 96, 96), (1, 1, 64, 64)]
    assert calib.ids == ["f0", "f1", "f2", "f3", "f4"]
    assert all(x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0 for x in calib.inputs)


def test_recipe_round_trips_and_groups_name_the_head_convs(tiny):
    import onnx

    from model.net import build_from_weights

    r = Recipe(method=Calibration.PERCENTILE, frames=7, per_channel=False, keep_fp32=("heads",))
    assert Recipe.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    with pytest.raises(ValueError, match="unknown fp32 group"):
        Recipe(keep_fp32=("nope",))
    net, cfg, meta = build_from_weights(tiny)
    model = onnx.load_from_string(export_bytes(net, cfg, {}))
    heads = nodes_matching(model, ("heads",))
    # the last conv of cls / ctr / box / sky on each of the 3 levels
    assert len(heads) == 12 and all(n.endswith("/Conv") for n in heads)


def test_int8_backend_loads_a_matching_file_and_agrees_with_torch(tiny, tiny_root, tmp_path):
    weights = tmp_path / "m.safetensors"
    weights.write_bytes(tiny.read_bytes())
    int8_path(weights).write_bytes(_int8_bytes(weights, tiny_root))
    p8, ref = Predictor(weights, threads=1, backend="onnx-int8"), Predictor(weights, threads=1, backend="torch")
    assert p8.backend is Backend.ONNX_INT8
    prepared = ref.prepare(scene(100, 120, seed=9))
    a, b = p8.run_network(prepared), ref.run_network(prepared)
    for kind in ("cls", "ctr", "box", "sky"):
        for ta, tb in zip(a[kind], b[kind], strict=True):
            u, v = ta.numpy().ravel(), tb.numpy().ravel()
            # A random-init net's maps vary little around their mean, so int8 noise is large
            # relative to that spread: measured correlation 0.91-0.99 and RMS error 0.14-0.42 of
            # the reference's spread (measured on this fixture, two scenes); a wrong or constant map
            # would give ~0 correlation and an error near 1.
            assert np.corrcoef(u, v)[0, 1] >= 0.85, kind
            assert np.sqrt(np.mean((u - v) ** 2)) <= 0.55 * v.std(), kind


def _fallback(weights: Path, caplog) -> tuple[Predictor, list[str]]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="model.backends"):
        p = Predictor(weights, threads=1, backend="onnx-int8")
    return p, [r.getMessage() for r in caplog.records if r.name == "model.backends"]


def test_stale_truncated_failed_or_missing_int8_falls_back_to_fp32_with_one_line(tiny, tiny_root, tmp_path, caplog):
    weights = tmp_path / "m.safetensors"
    weights.write_bytes(tiny.read_bytes())
    target = int8_path(weights)
    assert target.name == "m.int8.onnx"

    p, lines = _fallback(weights, caplog)  # missing
    assert p.backend is Backend.ONNX and len(lines) == 1 and "no int8 model" in lines[0]

    target.write_bytes(_int8_bytes(weights, tiny_root, sha="0" * 64))  # made from other weights
    p, lines = _fallback(weights, caplog)
    assert p.backend is Backend.ONNX and len(lines) == 1
    assert "stale" in lines[0] and "using ONNX Runtime fp32" in lines[0]

    good = _int8_bytes(weights, tiny_root)
    target.write_bytes(good[: len(good) // 2])  # truncated
    p, lines = _fallback(weights, caplog)
    assert p.backend is Backend.ONNX and len(lines) == 1 and "damaged or truncated" in lines[0]

    # the fallback really runs: same maps as a plain fp32 Predictor
    fp32 = Predictor(weights, threads=1, backend="onnx")
    prepared = fp32.prepare(scene(64, 96))
    np.testing.assert_array_equal(p.run_network(prepared)["cls"][0].numpy(), fp32.run_network(prepared)["cls"][0].numpy())


def test_a_file_whose_gate_failed_runs_on_request_with_one_warning(tiny, tiny_root, tmp_path, caplog):
    weights = tmp_path / "m.safetensors"
    weights.write_bytes(tiny.read_bytes())
    gate = {"run": True, "passed": False, "d_map07": -0.02, "d_sky_iou": 0.0, "int8": {"images": 256}}
    int8_path(weights).write_bytes(_int8_bytes(weights, tiny_root, gate=gate))
    p, lines = _fallback(weights, caplog)
    assert p.backend is Backend.ONNX_INT8 and len(lines) == 1
    assert "failed its accuracy gate (d mAP07 -0.0200" in lines[0]
    int8_path(weights).write_bytes(_int8_bytes(weights, tiny_root, gate={**gate, "passed": True}))
    p, lines = _fallback(weights, caplog)
    assert p.backend is Backend.ONNX_INT8 and lines == []


def test_export_model_int8_writes_atomically_a_file_plain_onnxruntime_loads(tiny, tiny_root, tmp_path, capsys):
    from app.cli import main as cli_main

    out = tmp_path / "tiny.int8.onnx"
    out.write_bytes(b"old")
    args = ["export-model", "--int8", str(out), "--weights", str(tiny), "--calib-data", str(tiny_root),
            "--calib-frames", "2"]
    # no val_v2 split in this root: the gate cannot run; bad input changes nothing
    assert cli_main(args) == 2
    assert "--no-gate" in capsys.readouterr().err and out.read_bytes() == b"old"
    assert cli_main(["export-model", "--int8", str(out), "--weights", str(tiny)]) == 2
    assert "--calib-data" in capsys.readouterr().err
    assert cli_main([*args, "--keep-fp32", "heads+bogus", "--no-gate"]) == 2
    assert out.read_bytes() == b"old"

    assert cli_main([*args, "--no-gate"]) == 0
    assert "gate not run" in capsys.readouterr().err
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["format"] == INT8_FORMAT and meta["weights_sha256"] == file_sha256(tiny)
    recipe = json.loads(meta["int8_recipe"])
    assert recipe["calibration_ids"] == ["f0", "f4"] and recipe["keep_fp32"] == ["heads", "exchange"]  # towers int8 (ADR 0033)
    assert json.loads(meta["int8_gate"]) == {"run": False}
    import onnx

    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # really quantised
    x = Predictor(tiny, threads=1, backend="torch").prepare(scene(64, 64)).x
    outs = session.run(None, {session.get_inputs()[0].name: x})
    assert [o.name for o in session.get_outputs()][:2] == ["cls_0", "cls_1"] and all(np.isfinite(o).all() for o in outs)


# Tolerances for the shipped int8 model against eager torch, measured on the first four val_v2 frames
# and two scenes with `python benchmarks/int8_agreement.py --frames 4 --threads 1` (1 thread, as here):
# matched score differences median 0.0045, p95 0.017, max 0.039; 62 of 1200 detections (5.2 %, at
# most 9 % on one frame) without a partner: each frame keeps its 100 best above 0.05, so tail entries
# swap in and out; sky pixels differing at most 1.5 % of a frame (boundary pixels of the smoothed
# outline). The test runs the two of those val frames under 1280x1024 (the two 1280x1024 ones cost
# 80 % of its predictions): re-measured on VAL_FRAMES + the two scenes, 30 of 488 detections (6.1 %,
# at most 8.9 % on one frame) without a partner, sky pixels differing at most 1.8 % (Misc_60).
VAL_FRAMES = ("S7_60", "Misc_60")  # val_v2's 2nd and 4th: 640x512 and 274x240
MATCH_IOU = 0.5  # int8 moves box edges by a fraction of a pixel: 3-pixel boxes keep IoU >= 0.5
SCORE_TOL = 0.05  # above the measured max 0.039
# The towers in int8 (ADR 0033, 2026-12-07) move more tail scores: 76 of 764 detections (9.9 %)
# without a partner on the four val_v2 frames and the two scenes (27 of 229 on the scenes alone),
# while the gate on all 256 val_v2 frames gained mAP07 (+0.0012) and lost false alarms. On this
# test's set (VAL_FRAMES + the two scenes): 56 of 494 (11.3 %, at most 15.5 % on one scene).
MAX_UNMATCHED = 0.20  # about 1.8x the measured 11.3 %
MAX_SKY_DISAGREE = 0.025  # measured max 0.0146


@pytest.mark.skipif(not int8_path(default_weights_path()).is_file(), reason="no shipped int8 model")
def test_shipped_int8_model_agrees_with_torch():
    weights = default_weights_path()
    p8, ref = Predictor(weights, threads=1, backend="onnx-int8"), Predictor(weights, threads=1, backend="torch")
    assert p8.backend is Backend.ONNX_INT8  # the shipped file matches the shipped weights
    from core.imageio import read_image

    val = [i for i in VAL_FRAMES if i in (ROOT / "Splits" / "val_v2.txt").read_text().split()] if ROOT.is_dir() else []
    images = [read_image(ROOT / "PNGImages" / f"{i}.png") for i in val] + [scene(256, 320, seed=s) for s in (1, 2)]
    total = unmatched = 0
    for img in images:
        pa, pb = p8.predict(img), ref.predict(img)
        total += len(pa.scores) + len(pb.scores)
        unmatched += _unmatched(pa, pb) + _unmatched(pb, pa)
        assert np.mean(pa.sky_mask() != pb.sky_mask()) <= MAX_SKY_DISAGREE
    assert total > 50
    assert unmatched <= MAX_UNMATCHED * total, (unmatched, total)


def _unmatched(pa, pb) -> int:
    """Detections of pa without a one-to-one partner in pb (greedy by score, IoU and score tolerance)."""
    from torchvision.ops import box_iou

    if len(pa.scores) == 0:
        return 0
    if len(pb.scores) == 0:
        return len(pa.scores)
    iou = box_iou(torch.from_numpy(pa.boxes), torch.from_numpy(pb.boxes)).numpy()
    used = np.zeros(len(pb.scores), bool)
    missing = 0
    for i in range(len(pa.scores)):
        ok = (~used) & (iou[i] >= MATCH_IOU) & (np.abs(pb.scores - pa.scores[i]) <= SCORE_TOL)
        if not ok.any():
            missing += 1
            continue
        used[int(np.argmax(np.where(ok, iou[i], -1)))] = True
    return missing
