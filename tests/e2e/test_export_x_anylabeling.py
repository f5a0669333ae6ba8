"""`export-model --for x-anylabeling`: the shipped model, loaded the way X-AnyLabeling loads a custom
YOLOv8-style model (tests/_support/anylabeling_loader.py: YAML config, static input, RGB letterbox,
transpose, score filter, OpenCV NMS, un-letterbox), finds the same targets as `main.py predict --network-boxes` on
the same frame: the same number above the operating threshold, centres within 1 px. A frame of
another size goes through the letterbox (scaled, grey bands): then the boxes are those `predict`
finds on the letterboxed canvas, mapped back to the frame."""

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
def export_default(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("xal") / "bafenet.onnx"
    assert cli_main(["export-model", "--onnx", str(out), "--for", "x-anylabeling"]) == 0  # 640x512
    return out


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _predict_rows(frame: Path, tmp: Path) -> tuple[np.ndarray, float]:
    """main.py predict (ONNX Runtime fp32) on the one frame: (detections >= the operating threshold
    as [K, 5] x1 y1 x2 y2 score, that threshold); asserts no pixel was repaired before the network."""
    images, out = tmp / f"images_{frame.stem}", tmp / f"pred_{frame.stem}"
    images.mkdir()
    shutil.copy(frame, images / frame.name)
    assert cli_main(["predict", str(images), str(out), "--backend", "onnx", "--threads", "1", "--network-boxes"]) == 0
    assert (out / "bad_pixels.csv").read_text().strip() == "image_id,x,y"  # the graph has no bad-pixel filter
    with open(out / "detections.csv", newline="") as f:
        rows = [[float(v) for v in r[1:]] for r in csv.reader(f) if r[0] == frame.stem]
    thr = float(read_metadata(default_weights_path())["operating_threshold"])
    ref = np.asarray(rows, np.float64).reshape(-1, 5)
    return ref[ref[:, 4] >= thr], thr


def _assert_same_targets(boxes: np.ndarray, scores: np.ndarray, ref: np.ndarray, score_tol: float = 1e-3) -> None:
    assert len(boxes) == len(ref) >= 5  # enough targets for the comparison to mean something
    c_ours = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
    c_ref = np.stack([(ref[:, 0] + ref[:, 2]) / 2, (ref[:, 1] + ref[:, 3]) / 2], 1)
    d = np.linalg.norm(c_ref[:, None] - c_ours[None], axis=2)
    nearest = d.argmin(axis=1)
    assert sorted(nearest.tolist()) == list(range(len(ref)))  # one to one
    assert d[np.arange(len(ref)), nearest].max() <= 1.0
    assert np.abs(scores[nearest] - ref[:, 4]).max() < score_tol


def test_graph_is_static_with_yolo_layout_and_yaml(export_default):
    cfg = read_config(export_default.with_suffix(".yaml"))
    meta = read_metadata(default_weights_path())
    assert cfg["type"] == "yolov8" and cfg["classes"] == ["target"]
    assert cfg["model_path"] == export_default.name and (export_default.parent / cfg["model_path"]).is_file()
    assert (cfg["input_width"], cfg["input_height"]) == (640, 512)
    assert cfg["confidence_threshold"] == pytest.approx(float(meta["operating_threshold"]), abs=1e-4)
    assert cfg["nms_threshold"] == 0.5 and cfg["name"] and cfg["display_name"]
    model = AnyLabelingYolo(export_default.with_suffix(".yaml"))
    assert model.input_shape == [1, 3, 512, 640]  # static: X-AnyLabeling reads the size from the graph
    # one candidate per location of the stride 4 / 8 / 16 levels, each cx cy w h + 1 score
    out, gain, pad = model.raw(np.full((256, 640, 3), 40, np.uint8))
    assert out.shape == (1, 5, 128 * 160 + 64 * 80 + 32 * 40) and gain == 1.0 and pad == (0, 128)
    assert (out[0, 4] >= 0).all() and (out[0, 4] <= 1).all() and (out[0, 2:4] >= 0).all()
    assert (out[0, 0] >= 0).all() and (out[0, 0] <= 640).all() and (out[0, 1] <= 512).all()


@pytest.mark.parametrize("image_id", ["S7_60", "S4_40"])
def test_same_boxes_as_predict_on_frames_of_the_graph_size(export_default, densesirst_root, tmp_path, image_id):
    frame = densesirst_root / "PNGImages" / f"{image_id}.png"  # 640x512: the letterbox leaves it as it is
    ref, _thr = _predict_rows(frame, tmp_path)
    boxes, scores, ids = AnyLabelingYolo(export_default.with_suffix(".yaml")).predict(_rgb(frame))
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
    boxes, scores, _ids = model.predict(_rgb(frame))
    _assert_same_targets(boxes, scores, ref)


@pytest.mark.parametrize(("image_id", "size"), [("S4_40", "640"), ("Misc_1", "640x512")])
def test_letterboxed_frames_map_back_through_the_letterbox(densesirst_root, tmp_path, image_id, size):
    """S4_40 (640x512) in a 640x640 graph: grey bands of 64 rows; Misc_1 (320x240) in 640x512:
    scaled x2 to 640x480, bands of 16 rows. Reference: predict on the letterboxed canvas itself."""
    from tests._support.anylabeling_loader import letterbox

    out = tmp_path / "g.onnx"
    assert cli_main(["export-model", "--onnx", str(out), "--for", "x-anylabeling", "--size", size]) == 0
    model = AnyLabelingYolo(out.with_suffix(".yaml"))
    rgb = _rgb(densesirst_root / "PNGImages" / f"{image_id}.png")
    canvas, gain, (left, top) = letterbox(rgb, model.height, model.width)
    assert (gain, top) == ((1.0, 64) if image_id == "S4_40" else (2.0, 16))
    canvas_png = tmp_path / f"{image_id}.png"
    cv2.imwrite(str(canvas_png), canvas[:, :, 0])  # gray, as the frame
    ref, _thr = _predict_rows(canvas_png, tmp_path)
    ref[:, [0, 2]] = (ref[:, [0, 2]] - left) / gain
    ref[:, [1, 3]] = (ref[:, [1, 3]] - top) / gain
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


def test_damaged_weights_exit_2_and_write_nothing(tmp_path, capsys):
    bad = tmp_path / "w" / "bad.safetensors"
    bad.parent.mkdir()
    bad.write_bytes(b"junk\n")
    out = tmp_path / "out"
    out.mkdir()
    assert cli_main(["export-model", "--onnx", str(out / "m.onnx"), "--for", "x-anylabeling", "--weights", str(bad)]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err
    assert list(out.iterdir()) == []
