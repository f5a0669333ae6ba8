"""`export-model --for x-anylabeling`: the shipped model, loaded the way X-AnyLabeling loads a custom
YOLOv8-style model (tests/_support/anylabeling_loader.py: YAML config, static input, RGB letterbox,
transpose, score filter, OpenCV NMS, un-letterbox), finds the same targets as `main.py predict` on
the same frame: the same number above the operating threshold, centres within 1 px."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main as cli_main
from model.checkpoint import read_metadata
from model.inference import default_weights_path
from tests._support.anylabeling_loader import AnyLabelingYolo, read_config


@pytest.fixture(scope="module")
def export_640(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("xal") / "bafenet.onnx"
    assert cli_main(["export-model", "--onnx", str(out), "--for", "x-anylabeling"]) == 0
    return out


def _predict_rows(frame: Path, tmp: Path) -> tuple[np.ndarray, float]:
    """main.py predict (ONNX Runtime fp32) on the one frame: (detections >= the operating threshold
    as [K, 5] x1 y1 x2 y2 score, that threshold); asserts no pixel was repaired before the network."""
    images, out = tmp / "images", tmp / "pred"
    images.mkdir()
    shutil.copy(frame, images / frame.name)
    assert cli_main(["predict", str(images), str(out), "--backend", "onnx", "--threads", "1"]) == 0
    assert (out / "bad_pixels.csv").read_text().strip() == "image_id,x,y"  # the graph has no bad-pixel filter
    with open(out / "detections.csv", newline="") as f:
        rows = [[float(v) for v in r[1:]] for r in csv.reader(f) if r[0] == frame.stem]
    thr = float(read_metadata(default_weights_path())["operating_threshold"])
    ref = np.asarray(rows, np.float64).reshape(-1, 5)
    return ref[ref[:, 4] >= thr], thr


def _assert_same_targets(boxes: np.ndarray, scores: np.ndarray, ref: np.ndarray) -> None:
    assert len(boxes) == len(ref) > 5
    c_ours = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
    c_ref = np.stack([(ref[:, 0] + ref[:, 2]) / 2, (ref[:, 1] + ref[:, 3]) / 2], 1)
    d = np.linalg.norm(c_ref[:, None] - c_ours[None], axis=2)
    nearest = d.argmin(axis=1)
    assert sorted(nearest.tolist()) == list(range(len(ref)))  # one to one
    assert d[np.arange(len(ref)), nearest].max() <= 1.0
    assert np.abs(scores[nearest] - ref[:, 4]).max() < 0.05


def test_graph_is_static_with_yolo_layout_and_yaml(export_640):
    cfg = read_config(export_640.with_suffix(".yaml"))
    meta = read_metadata(default_weights_path())
    assert cfg["type"] == "yolov8" and cfg["classes"] == ["target"]
    assert cfg["model_path"] == export_640.name and (export_640.parent / cfg["model_path"]).is_file()
    assert (cfg["input_width"], cfg["input_height"]) == (640, 640)
    assert cfg["confidence_threshold"] == pytest.approx(float(meta["operating_threshold"]), abs=1e-4)
    assert cfg["nms_threshold"] == 0.5 and cfg["name"] and cfg["display_name"]
    model = AnyLabelingYolo(export_640.with_suffix(".yaml"))
    assert model.input_shape == [1, 3, 640, 640]  # static: X-AnyLabeling reads the size from the graph
    # one candidate per location of the stride 4 / 8 / 16 levels: 160^2 + 80^2 + 40^2, each cx cy w h + 1 score
    out, gain, pad = model.raw(np.full((512, 640, 3), 40, np.uint8))
    assert out.shape == (1, 5, 160 * 160 + 80 * 80 + 40 * 40) and gain == 1.0 and pad == (0, 64)
    assert (out[0, 4] >= 0).all() and (out[0, 4] <= 1).all() and (out[0, 2:4] >= 0).all()


def test_same_boxes_as_predict_on_a_letterboxed_frame(export_640, densesirst_root, tmp_path):
    frame = densesirst_root / "PNGImages" / "S7_60.png"  # 640x512, padded to 640x640 by the letterbox
    ref, _thr = _predict_rows(frame, tmp_path)
    rgb = cv2.cvtColor(cv2.imread(str(frame), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    boxes, scores, ids = AnyLabelingYolo(export_640.with_suffix(".yaml")).predict(rgb)
    assert (ids == 0).all()
    _assert_same_targets(boxes, scores, ref)


def test_size_option_keeps_large_frames_unscaled(densesirst_root, tmp_path):
    out = tmp_path / "xal" / "large.onnx"
    out.parent.mkdir()
    assert cli_main(["export-model", "--onnx", str(out), "--for", "x-anylabeling", "--size", "1280x1024"]) == 0
    model = AnyLabelingYolo(out.with_suffix(".yaml"))
    assert model.input_shape == [1, 3, 1024, 1280]
    assert (read_config(out.with_suffix(".yaml"))["input_width"], model.height) == (1280, 1024)
    frame = densesirst_root / "PNGImages" / "iraytek-262.png"  # 1280x1024
    ref, _thr = _predict_rows(frame, tmp_path)
    rgb = cv2.cvtColor(cv2.imread(str(frame), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    boxes, scores, _ids = model.predict(rgb)
    _assert_same_targets(boxes, scores, ref)


@pytest.mark.parametrize(("extra", "message"), [
    (["--for", "x-anylabeling", "--size", "641"], "multiples of 32"),
    (["--for", "x-anylabeling", "--size", "big"], "not a size"),
    (["--size", "640"], "--size is for --for x-anylabeling"),
])
def test_bad_options_exit_2_and_write_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "m.onnx"
    assert cli_main(["export-model", "--onnx", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_int8_and_non_onnx_names_are_refused(tmp_path, capsys):
    assert cli_main(["export-model", "--int8", str(tmp_path / "m.onnx"), "--for", "x-anylabeling"]) == 2
    assert "--onnx FILE" in capsys.readouterr().err
    assert cli_main(["export-model", "--onnx", str(tmp_path / "m.yaml"), "--for", "x-anylabeling"]) == 2
    assert ".onnx name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
