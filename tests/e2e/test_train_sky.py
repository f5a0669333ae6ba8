"""`main.py train-sky` end to end: the detector is copied bit for bit, the sky network is added,
and the exported ONNX pair reproduces the app's sky when run by plain ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from core.domain import ImageAnnotation, Target
from core.formats.densesirst import write_sample, write_split
from model.checkpoint import read_metadata
from tests._support.cli import assert_clean, cli, cli_here
from tests._support.weights import TINY, random_weights


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dense")
    rng = np.random.default_rng(0)
    ids = [f"img_{i}" for i in range(5)]
    for i, image_id in enumerate(ids):
        h, w = (96, 128) if i % 2 else (80, 96)
        img = rng.normal(60, 4, (h, w))
        horizon = h // 2 + i
        img[horizon:] += 90  # bright ground under a dark sky
        sky = np.zeros((h, w), bool)
        sky[:horizon] = True
        t = Target(point=(20, 10), box=(19, 9, 22, 12))
        write_sample(root, image_id, img.clip(0, 255).astype(np.uint8), ImageAnnotation(targets=[t], sky=sky), w, h)
    write_split(root, "train", ids[:4])
    write_split(root, "val", ids[4:])
    return root


@pytest.fixture(scope="module")
def detector(tmp_path_factory) -> Path:
    return random_weights(tmp_path_factory.mktemp("w") / "det.safetensors", TINY, seed=1,
                          operating_threshold="0.4", sky_threshold="0.5")  # fmt: skip


@pytest.fixture(scope="module")
def trained(dataset, detector, tmp_path_factory) -> tuple[Path, Path]:
    run = tmp_path_factory.mktemp("run")
    out = run.parent / "with_sky.safetensors"
    res = cli("train-sky", "--data", dataset, "--train-split", "train", "--val-split", "val", "--weights", detector,
              "--out", run, "--epochs", "2", "--batch", "2", "--long-side", "64", "--threads", "1",
              "--export-weights", out, timeout=300)
    assert res.returncode == 0, res.stderr
    assert_clean(res)
    return run, out


def test_detector_tensors_are_copied_unchanged_and_the_sky_net_is_added(detector, trained) -> None:
    _, out = trained
    before, after = load_file(str(detector)), load_file(str(out))
    sky_keys = {k for k in after if k.startswith("sky_net.")}
    assert sky_keys and set(after) - sky_keys == set(before)
    for k, v in before.items():
        assert torch.equal(after[k], v), k
    cfg = json.loads(read_metadata(out)["config"])
    assert cfg["sky_net"] is True and cfg["sky_pass_long_side"] == 64
    assert read_metadata(out)["operating_threshold"] == "0.4"


def test_each_epoch_is_validated_and_logged(trained) -> None:
    run, _ = trained
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for e in epochs:
        assert 0.0 <= e["val"]["sky_iou"] <= 1.0
        assert {"sky_iou", "sky_median", "sky_threshold", "rings", "vertices"} <= set(e["val"])
    assert (run / "last.pt").is_file() and (run / "best.safetensors").is_file()


def test_exported_onnx_pair_reproduces_the_predictors_sky(dataset, trained, tmp_path) -> None:
    """The documented recipe (metadata) re-implemented here with ORT and OpenCV gives the same sky
    probability as the app's Predictor."""
    import onnxruntime as ort

    from core.imageio import read_image
    from model.inference import Predictor

    _, weights = trained
    onnx_file = tmp_path / "m.onnx"
    res = cli("export-model", "--onnx", onnx_file, "--weights", weights)
    assert res.returncode == 0, res.stderr
    sky_file = tmp_path / "m.sky.onnx"
    assert sky_file.is_file()
    sess = ort.InferenceSession(str(sky_file), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    long_side = json.loads(meta["config"])["sky_pass_long_side"]
    raw = read_image(dataset / "PNGImages" / "img_3.png")  # 128 x 96: shrunk to 64 x 48
    gray = raw.astype(np.float32) / 255.0
    h, w = gray.shape
    s = long_side / max(h, w)
    small = cv2.resize(gray, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    x = np.zeros((1, 1, -(-small.shape[0] // 32) * 32, -(-small.shape[1] // 32) * 32), np.float32)
    x[0, 0, : small.shape[0], : small.shape[1]] = small
    logit = sess.run(["sky_whole"], {"image": x})[0][0, 0]
    up = cv2.resize(logit, (logit.shape[1] * 4, logit.shape[0] * 4), interpolation=cv2.INTER_LINEAR)
    up = up[: small.shape[0], : small.shape[1]]
    full = cv2.resize(up, (w, h), interpolation=cv2.INTER_LINEAR)
    expected = 1.0 / (1.0 + np.exp(-full))
    for backend in ("torch", "onnx"):
        got = Predictor(weights, threads=1, backend=backend, bad_pixel_filter=False).predict(raw).sky_prob
        np.testing.assert_allclose(got, expected, atol=2e-4)


def test_detections_do_not_change(dataset, detector, trained) -> None:
    from core.imageio import read_image
    from model.inference import Predictor

    raw = read_image(dataset / "PNGImages" / "img_1.png")
    a = Predictor(detector, threads=1, backend="torch").predict(raw)
    b = Predictor(trained[1], threads=1, backend="torch").predict(raw)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_bad_inputs_exit_2_with_a_message(dataset, detector, trained, tmp_path) -> None:
    run, _ = trained
    broken = tmp_path / "run"
    broken.mkdir()
    (broken / "last.pt").write_bytes((run / "last.pt").read_bytes()[:300])
    cases = {
        "truncated": ["--weights", detector, "--out", broken, "--resume"],
        "no weights": ["--weights", tmp_path / "nope.safetensors", "--out", tmp_path / "r2"],
        "bad side": ["--weights", detector, "--out", tmp_path / "r3", "--long-side", "7"],
        "unknown field": ["--weights", detector, "--out", tmp_path / "r4", "--set", "nms_iou=0.3"],
        "out of range": ["--weights", detector, "--out", tmp_path / "r5", "--set", "sky_min_area=3", "--epochs", "0"],
        "vflip share": ["--weights", detector, "--out", tmp_path / "r6", "--vflip", "1.5"],
        "min scale": ["--weights", detector, "--out", tmp_path / "r7", "--min-scale", "2"],
        "boundary weight": ["--weights", detector, "--out", tmp_path / "r8", "--boundary-weight", "-1"],
        "distill weight": ["--weights", detector, "--out", tmp_path / "r9", "--distill-mirror", "-0.5"],
    }
    for name, extra in cases.items():
        res = cli_here("train-sky", "--data", dataset, "--train-split", "train", "--val-split", "val", "--threads", "1", *extra)
        assert res.returncode == 2, (name, res.stderr)
        assert_clean(res)
        assert res.stderr.strip().splitlines()[-1].startswith("error: "), (name, res.stderr)


def test_sky_from_with_zero_epochs_grafts_a_sky_network_onto_other_weights(dataset, trained, tmp_path) -> None:
    """Another detector + the trained sky network, validated once and exported, nothing trained."""
    other = random_weights(tmp_path / "other.safetensors", TINY, seed=7, operating_threshold="0.35")
    out = tmp_path / "grafted.safetensors"
    res = cli("train-sky", "--data", dataset, "--train-split", "train", "--val-split", "val", "--weights", other,
              "--sky-from", trained[1], "--out", tmp_path / "g", "--epochs", "0", "--threads", "1",
              "--set", "sky_smooth=4", "--export-weights", out, timeout=300)
    assert res.returncode == 0, res.stderr
    assert_clean(res)
    got, det, sky = load_file(str(out)), load_file(str(other)), load_file(str(trained[1]))
    for k, v in got.items():
        ref = sky[k] if k.startswith("sky_net.") else det[k]
        assert torch.equal(v, ref), k
    assert set(got) == set(det) | {k for k in sky if k.startswith("sky_net.")}
    meta = read_metadata(out)
    assert json.loads(meta["config"])["sky_smooth"] == 4 and meta["operating_threshold"] == "0.35"
    events = [json.loads(line) for line in (tmp_path / "g" / "events.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1]


def test_ema_exports_the_averaged_weights_not_the_trained_ones(dataset, detector, tmp_path) -> None:
    """With --ema the exported sky network is the moving average kept in last.pt, which differs
    from the weights the optimiser trained."""
    from model.checkpoint import load_state

    run = tmp_path / "ema"
    out = tmp_path / "ema.safetensors"
    res = cli("train-sky", "--data", dataset, "--train-split", "train", "--val-split", "none", "--weights", detector,
              "--out", run, "--epochs", "2", "--batch", "2", "--long-side", "64", "--threads", "1", "--ema", "0.9",
              "--export-weights", out, timeout=300)
    assert res.returncode == 0, res.stderr
    assert_clean(res)
    state = load_state(run / "last.pt")
    got = {k[len("sky_net."):]: v for k, v in load_file(str(out)).items() if k.startswith("sky_net.")}
    assert set(got) == set(state["average"])
    for k, v in got.items():
        assert torch.equal(v, state["average"][k]), k
    moved = [k for k, v in got.items() if v.is_floating_point() and not torch.equal(v, state["model"][k])]
    assert moved  # the average lags behind the trained weights
    bad = cli_here("train-sky", "--data", dataset, "--weights", detector, "--out", tmp_path / "x", "--ema", "1.5")
    assert bad.returncode == 2 and "--ema" in bad.stderr


def test_keep_epochs_then_sky_average_exports_the_mean_of_the_epochs(dataset, detector, tmp_path) -> None:
    """--keep-epochs writes one state per epoch; --sky-average A B --epochs 0 exports their mean,
    computed here tensor by tensor from the two files."""
    from model.checkpoint import load_state

    run = tmp_path / "keep"
    res = cli("train-sky", "--data", dataset, "--train-split", "train", "--val-split", "none", "--weights", detector,
              "--out", run, "--epochs", "2", "--batch", "2", "--long-side", "64", "--threads", "1", "--keep-epochs",
              timeout=300)
    assert res.returncode == 0, res.stderr
    first, second = run / "epoch_001.pt", run / "epoch_002.pt"
    assert first.is_file() and second.is_file()
    out = tmp_path / "avg.safetensors"
    res = cli("train-sky", "--data", dataset, "--train-split", "train", "--val-split", "val", "--weights", detector,
              "--sky-average", first, second, "--out", tmp_path / "avg", "--epochs", "0", "--threads", "1",
              "--export-weights", out, timeout=300)
    assert res.returncode == 0, res.stderr
    assert_clean(res)
    a, b = load_state(first)["model"], load_state(second)["model"]
    got = {k[len("sky_net."):]: v for k, v in load_file(str(out)).items() if k.startswith("sky_net.")}
    assert set(got) == set(a)
    for k, v in got.items():
        ref = (a[k] + b[k]) / 2 if a[k].is_floating_point() else b[k]
        torch.testing.assert_close(v, ref, rtol=0, atol=1e-7, msg=k)
    assert json.loads(read_metadata(out)["config"])["sky_pass_long_side"] == 64  # inherited from the states
    bad = cli_here("train-sky", "--data", dataset, "--weights", detector, "--out", tmp_path / "x",
              "--sky-average", tmp_path / "missing.pt")
    assert bad.returncode == 2 and "missing.pt" in bad.stderr


def test_resume_continues_the_run_at_its_own_long_side(dataset, detector, tmp_path) -> None:
    """A run stopped after epoch 1 and resumed without --long-side goes on at the checkpoint's
    long side (64 here, not the default 448) and ends after epoch 2."""
    from model.checkpoint import load_state
    from model.config import BafeConfig

    run = tmp_path / "resume"
    common = ["--data", dataset, "--train-split", "train", "--val-split", "val", "--weights", detector,
              "--out", run, "--batch", "2", "--threads", "1"]
    first = cli("train-sky", *common, "--epochs", "1", "--long-side", "64", timeout=300)
    assert first.returncode == 0, first.stderr
    again = cli("train-sky", *common, "--epochs", "2", "--resume", timeout=300)
    assert again.returncode == 0, again.stderr
    assert_clean(again)
    state = load_state(run / "last.pt")
    assert state["progress"]["epoch"] == 2
    assert BafeConfig.from_json(state["config"]).sky_pass_long_side == 64
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert {e["long_side"] for e in events if e["event"] == "step"} <= set(range(51, 78))  # 64 +- 20 %
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]


def test_robustness_options_train_the_sky_network_only(dataset, detector, tmp_path) -> None:
    """--min-scale, --vflip, --blur, --noise and --boundary-weight (ADR 0030) and --distill-mirror
    (ADR 0044) train the sky network (its tensors move) and carry the detector over bit for bit."""
    out = tmp_path / "robust.safetensors"
    res = cli("train-sky", "--data", dataset, "--train-split", "train", "--val-split", "none", "--weights", detector,
              "--out", tmp_path / "rob", "--epochs", "1", "--batch", "2", "--long-side", "64", "--threads", "1",
              "--min-scale", "0.5", "--vflip", "1", "--blur", "1", "--noise", "1", "--boundary-weight", "2",
              "--distill-mirror", "1", "--export-weights", out, timeout=300)
    assert res.returncode == 0, res.stderr
    assert_clean(res)
    steps = [json.loads(line) for line in (tmp_path / "rob" / "events.jsonl").read_text().splitlines()]
    distill = [e["distill"] for e in steps if e["event"] == "step"]
    assert distill and all(0 < d < 1 for d in distill)  # a BCE against the teacher's soft sky
    got, det = load_file(str(out)), load_file(str(detector))
    for k, v in det.items():
        assert torch.equal(got[k], v), k
    assert any(k.startswith("sky_net.") for k in got)
