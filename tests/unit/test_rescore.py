"""The rescorer (model.rescore, ADR 0041): features against hand-derived values, the fit against
data drawn from known coefficients, the Predictor's wiring, and the fit command on a tiny split."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from model import rescore
from model.config import RESCORE_LENGTH, BafeConfig

F = {name: k for k, name in enumerate(rescore.FEATURES)}


def test_features_by_hand():
    gray = np.zeros((40, 60), np.float32)
    gray[19:22, 29:32] = 10.0  # a 3x3 blob centred on pixel (30, 20)
    boxes = np.array([[29, 19, 32, 22], [40, 19, 43, 22], [5, 30, 7, 31]], np.float32)
    scores = np.array([0.8, 0.6, 0.2], np.float32)
    sky = np.full((40, 60), -2.0, np.float32)
    sky[:25] = 3.0  # the first two boxes in confident sky, the third on the ground
    sky[16, 30] = -1.0  # inside the first box's 9x9 surround
    f = rescore.features(boxes, scores, gray, sky)
    assert f.shape == (3, RESCORE_LENGTH - 1)
    logit = [math.log(s / (1 - s)) for s in (0.8, 0.6, 0.2)]
    assert np.allclose(f[:, F["logit"]], logit, atol=1e-6)
    assert np.allclose(f[:, F["logit_vs_best"]], np.array(logit) - logit[0], atol=1e-6)
    assert np.allclose(f[:, F["frame_confident"]], math.log(3))  # two scores >= 0.5
    assert np.allclose(f[:, F["frame_uncertain"]], math.log(2))  # one in [0.15, 0.5)
    # 11 px apart: boxes 0 and 1 are neighbours; box 2 is 24.5+ px from both
    assert np.allclose(f[:, F["near_confident"]], [math.log(2), math.log(2), 0])
    assert np.allclose(f[:, F["near_best"]], [0.6, 0.8, 0.0], atol=1e-6)
    spread = float(np.std(gray)) + 1e-6
    # box 0: peak 10 over a ring of zeros (std 0)
    assert f[0, F["local_contrast"]] == pytest.approx(math.log1p(10 / (1e-3 * spread + 1e-6)), rel=1e-6)
    assert f[0, F["frame_contrast"]] == pytest.approx(math.log1p(10 / spread), rel=1e-6)
    assert f[1, F["local_contrast"]] == 0 and f[1, F["frame_contrast"]] == 0  # flat: no rise
    assert np.allclose(f[:, F["box_area"]], np.log([10, 10, 3]))
    assert np.all(f[:, F["large_frame"]] == 0)
    assert np.allclose(f[:, F["sky_logit"]], [3.0, 3.0, -2.0])
    assert np.allclose(f[:, F["sky_logit_min"]], [-1.0, 3.0, -2.0])
    assert np.allclose(f[:, F["frame_sky"]], (25 * 60 - 1) / (40 * 60))  # the one -1.0 pixel is not sky


def test_features_without_sky_and_clipping():
    gray = np.random.default_rng(0).normal(size=(800, 50)).astype(np.float32)
    f = rescore.features(np.array([[1, 1, 3, 3]]), np.array([0.5]), gray, None)
    assert f[0, F["large_frame"]] == 1 and f[0, F["sky_logit"]] == 0 and f[0, F["frame_sky"]] == 0
    sky = np.full((800, 50), 50.0, np.float32)
    f = rescore.features(np.array([[1, 1, 3, 3]]), np.array([0.5]), gray, sky)
    assert f[0, F["sky_logit"]] == rescore.SKY_CLIP
    assert rescore.features(np.zeros((0, 4)), np.zeros(0), gray, sky).shape == (0, RESCORE_LENGTH - 1)


def test_fit_recovers_known_coefficients():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40000, 3)) * [1.0, 3.0, 0.2] + [0.0, 5.0, 1.0]
    truth = np.array([1.5, -0.4, 2.0, -0.7])
    p = 1 / (1 + np.exp(-(x @ truth[:3] + truth[3])))
    y = rng.random(len(x)) < p
    coef = rescore.fit(x, y, ridge=0.0)
    assert np.allclose(coef, truth, atol=0.08), coef
    assert np.allclose(rescore.apply(coef, x[:5]), 1 / (1 + np.exp(-(x[:5] @ np.array(coef[:3]) + coef[3]))), atol=1e-6)


def identity_coefficients() -> tuple[float, ...]:
    """Weights that give back the detector's score: sigmoid(logit)."""
    coef = [0.0] * RESCORE_LENGTH
    coef[F["logit"]] = 1.0
    return tuple(coef)


def test_rescored_orders_best_first_and_empty_is_identity():
    boxes = np.array([[0, 0, 2, 2], [10, 10, 12, 12]], np.float32)
    scores = np.array([0.9, 0.3], np.float32)
    gray = np.zeros((20, 20), np.float32)
    b, s = rescore.rescored(boxes, scores, gray, None, ())
    assert b is boxes and s is scores
    b, s = rescore.rescored(boxes, scores, gray, None, identity_coefficients())
    assert np.allclose(s, scores, atol=1e-6) and np.array_equal(b, boxes)
    flip = list(identity_coefficients())
    flip[F["logit"]] = -1.0  # the worse detector score now comes first
    b, s = rescore.rescored(boxes, scores, gray, None, tuple(flip))
    assert np.array_equal(b, boxes[::-1]) and np.allclose(s, [0.7, 0.1], atol=1e-6)


def test_config_checks_the_coefficients():
    assert BafeConfig(rescore=identity_coefficients()).rescore == identity_coefficients()
    with pytest.raises(ValueError, match="rescore needs"):
        BafeConfig(rescore=(1.0, 2.0))
    with pytest.raises(ValueError, match="rescore needs"):
        BafeConfig(rescore=(math.nan,) * RESCORE_LENGTH)
    from model.checkpoint import config_problems

    assert config_problems({"rescore": [1.0]})
    assert config_problems({"rescore": ["a"] * RESCORE_LENGTH})
    assert not config_problems({"rescore": [0.5] * RESCORE_LENGTH})


def test_a_saved_network_drops_the_rescorer(tmp_path):
    import torch

    from model.checkpoint import read_metadata, save_weights
    from model.config import preset
    from model.net import BafeNet

    torch.manual_seed(0)
    cfg = preset("default", exchange="fixed", fpn_channels=16, gn_groups=4, rescore=identity_coefficients())
    save_weights(tmp_path / "w.safetensors", BafeNet(cfg), cfg, "default", operating_threshold=0.4)
    assert json.loads(read_metadata(tmp_path / "w.safetensors")["config"])["rescore"] == []


@pytest.fixture(scope="module")
def scene_image():
    from tests._support.tiny_models import scene

    return scene(96, 128, seed=3)


def test_predictor_applies_the_rescorer(tiny_weights, tmp_path, scene_image):
    """Identity weights give the detector's own boxes and scores; weights that favour the lower
    scores reverse the ranking; a score floor applies to the new scores."""
    from model.inference import Predictor

    weights = tiny_weights(7)
    plain = Predictor(weights, threads=1, backend="torch")
    base = plain.predict(scene_image)
    assert len(base.scores) > 3
    same = Predictor(weights, threads=1, backend="torch")
    same.cfg = BafeConfig(**{**same.cfg.__dict__, "rescore": identity_coefficients()})
    got = same.predict(scene_image)
    assert np.allclose(got.scores, base.scores, atol=1e-5) and np.allclose(got.boxes, base.boxes)
    flip = list(identity_coefficients())
    flip[F["logit"]] = -1.0
    same.cfg = BafeConfig(**{**same.cfg.__dict__, "rescore": tuple(flip)})
    rev = same.predict(scene_image, score_thr=0.0)
    # every candidate of the 0.05 floor comes back with 1 - score, so the order reverses
    assert np.allclose(np.sort(rev.scores), np.sort(1 - base.scores), atol=1e-5)
    high = same.predict(scene_image, score_thr=0.9)
    assert np.all(high.scores >= 0.9) and len(high.scores) == int((1 - base.scores >= 0.9).sum())
    network = Predictor(weights, threads=1, backend="torch", fit_to_pixels=False)
    network.cfg = same.cfg  # --network-boxes: the rescorer was fitted on fitted boxes, so it stays off
    assert np.allclose(network.predict(scene_image).scores,
                       Predictor(weights, threads=1, backend="torch", fit_to_pixels=False).predict(scene_image).scores)


def test_target_labels_match_as_the_effort_tool():
    from model.rescore_fit import target_labels

    gt = np.array([[10, 10, 13, 13], [30, 30, 33, 33]], np.float64)
    boxes = np.array([[11, 10, 14, 13], [10, 11, 13, 14], [50, 50, 53, 53], [30, 33, 33, 36]], np.float64)
    scores = np.array([0.5, 0.9, 0.8, 0.4])
    # box 1 (best, 1 px off) takes target 0; box 0 finds it taken; box 3 is exactly 3 px off target 1
    assert target_labels(gt, boxes, scores).tolist() == [False, True, False, True]
    assert not target_labels(np.zeros((0, 4)), boxes, scores).any()


def test_fit_command_writes_the_rescorer(tiny_weights, tmp_path):
    """On a tiny DenseSIRST split: the command prints its figures, writes 14 coefficients and the
    threshold it reports into the file's config and metadata, and leaves the tensors as they were."""
    import contextlib
    import io
    import shutil

    from model.card_meta import tensor_bytes
    from model.checkpoint import read_metadata
    from model.rescore_fit import main
    from tests._support.cli import tiny_densesirst

    root = tmp_path / "ds"
    tiny_densesirst(root, n=6, size=(64, 48))
    (root / "Splits" / "val_v2.txt").write_text("\n".join(f"img-{k}" for k in range(6)) + "\n")
    weights = tmp_path / "w.safetensors"
    shutil.copy(tiny_weights(7), weights)
    before = tensor_bytes(weights)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([str(weights), "--data", str(root), "--threads", "1"]) == 0
    report = json.loads(out.getvalue())
    assert report["frames"] == 6 and set(report["two_fold"]) == {"half_A", "half_B"}
    meta = read_metadata(weights)
    config = json.loads(meta["config"])
    assert len(config["rescore"]) == RESCORE_LENGTH
    thr = report["whole_split"]["rescored"]["threshold"]
    assert float(meta["operating_threshold"]) == pytest.approx(thr, abs=1e-4)
    assert config["operating_threshold"] == float(meta["operating_threshold"])
    assert tensor_bytes(weights) == before
    from model.inference import Predictor

    assert Predictor(weights, threads=1, backend="torch").cfg.rescore == tuple(config["rescore"])


def test_fit_command_fails_cleanly_without_the_split(tiny_weights, tmp_path, capsys):
    import shutil

    from model.rescore_fit import main

    weights = tmp_path / "w.safetensors"
    shutil.copy(tiny_weights(7), weights)
    (tmp_path / "empty").mkdir()
    assert main([str(weights), "--data", str(tmp_path / "empty"), "--threads", "1"]) == 1
    assert "error:" in capsys.readouterr().err


def test_predictor_widens_thin_boxes(tiny_weights, scene_image):
    """box_min_side 3: every fitted box is at least 3 px on each side (inside the frame), and its
    centre is the unwidened box's; --network-boxes keeps the network's boxes."""
    from model.inference import Predictor

    weights = tiny_weights(7)
    plain = Predictor(weights, threads=1, backend="torch")
    plain.cfg = BafeConfig(**{**plain.cfg.__dict__, "box_fit": 0.2, "centre_nms_px": 4.0})
    wide = Predictor(weights, threads=1, backend="torch")
    wide.cfg = BafeConfig(**{**plain.cfg.__dict__, "box_min_side": 3.0})
    a, b = plain.predict(scene_image), wide.predict(scene_image)
    assert np.allclose(a.scores, b.scores)
    thin = np.minimum(a.boxes[:, 2] - a.boxes[:, 0], a.boxes[:, 3] - a.boxes[:, 1]) < 3
    assert thin.any()  # the scene's fit does draw thin boxes, so the test can fail
    inside = (b.boxes[:, 0] > 0) & (b.boxes[:, 1] > 0) & (b.boxes[:, 2] < 128) & (b.boxes[:, 3] < 96)
    sides = np.minimum(b.boxes[:, 2] - b.boxes[:, 0], b.boxes[:, 3] - b.boxes[:, 1])
    assert np.all(sides[inside] >= 3)
    centre = lambda x: (x[:, :2] + x[:, 2:]) / 2  # noqa: E731
    assert np.allclose(centre(a.boxes)[inside], centre(b.boxes)[inside])
