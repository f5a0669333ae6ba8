"""model.pipeline: same results as the sequential Predictor, in order, per-item errors delivered."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from core.errors import ImageReadError
from model.checkpoint import save_weights
from model.config import preset
from model.inference import Predictor
from model.net import BafeNet
from model.pipeline import run_pipeline


@pytest.fixture(scope="module")
def predictor(tmp_path_factory) -> Predictor:
    torch.manual_seed(0)
    # with the whole-frame sky pass and the clean-up, so the pipeline runs every stage of ADR 0006
    cfg = preset("default", fpn_channels=16, gn_groups=4, sky_pass_long_side=32, sky_smooth=4.0, sky_min_area=0.01)
    path = tmp_path_factory.mktemp("w") / "w.safetensors"
    save_weights(path, BafeNet(cfg).eval(), cfg, "default")
    return Predictor(path, threads=1, backend="torch")


def images(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    out = {}
    for i in range(n):
        h = 40 + 8 * i
        yy, xx = np.mgrid[:h, :56]
        img = (40 + xx // 3 + yy * rng.uniform(1, 3)).astype(np.uint8)  # monotone: no pixel tops all 8 neighbours
        img[10 + i, 20] = 255  # an isolated hot pixel, repaired in the reader threads
        out[f"im{i}"] = img
    return out


def test_results_equal_the_sequential_predictor_in_input_order(predictor):
    imgs = images(6)
    got: list[tuple[str, object, str]] = []
    stats = run_pipeline(imgs, imgs.__getitem__, predictor,
                         lambda k, p: got.append((k, p, threading.current_thread().name)),
                         score_thr=0.0, depth=2)
    assert [k for k, _, _ in got] == list(imgs)
    assert all(name.startswith("pipeline-write") for _, _, name in got)
    for k, p, _ in got:
        ref = predictor.predict(imgs[k], score_thr=0.0)
        np.testing.assert_array_equal(p.boxes, ref.boxes)
        np.testing.assert_array_equal(p.scores, ref.scores)
        np.testing.assert_array_equal(p.sky_mask(), ref.sky_mask())
        assert p.bad_pixels.tolist() == ref.bad_pixels.tolist() == [[20, 10 + int(k[2:])]]
        assert p.sky_whole_logit is not None
    assert stats.images == 6 and stats.failed == 0


def test_a_bad_item_is_delivered_as_its_error_and_the_rest_continue(predictor):
    imgs = images(4)

    def load(k: str) -> np.ndarray:
        if k == "im1":
            raise ImageReadError(k, "truncated")
        if k == "im2":
            import cv2

            raise cv2.error("decoder assertion")
        return imgs[k]

    got = {}
    stats = run_pipeline(imgs, load, predictor, got.__setitem__)
    assert list(got) == list(imgs)
    assert isinstance(got["im1"], ImageReadError) and "truncated" in str(got["im1"])
    assert isinstance(got["im2"], Exception) and "decoder" in str(got["im2"])
    assert got["im0"].sky_mask().shape == imgs["im0"].shape
    assert stats.images == 2 and stats.failed == 2


def test_consume_errors_stop_the_run_and_propagate(predictor):
    imgs = images(5)
    seen = []

    def consume(k, p):
        seen.append(k)
        if k == "im1":
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        run_pipeline(imgs, imgs.__getitem__, predictor, consume, depth=1)
    assert seen == ["im0", "im1"]  # nothing is consumed after the error, even what was already queued


def test_cancel_stops_before_the_next_image(predictor):
    imgs = images(6)
    got = []
    stats = run_pipeline(imgs, imgs.__getitem__, predictor, lambda k, p: got.append(k),
                         cancelled=lambda: len(got) >= 2, depth=1, name="mine")
    assert 2 <= len(got) < 6 and got == list(imgs)[: len(got)]
    assert stats.cancelled and stats.images == len(got)
    done = run_pipeline(imgs, imgs.__getitem__, predictor, lambda k, p: None, cancelled=lambda: False)
    assert not done.cancelled and done.images == 6


def test_a_bug_in_finish_stops_the_run_with_later_images_unconsumed(predictor, monkeypatch):
    imgs = images(5)
    real, seen = predictor.finish, []

    def finish(prepared, maps, score_thr=None):
        if len(seen) == 1:
            raise KeyError("a bug")
        return real(prepared, maps, score_thr)

    monkeypatch.setattr(predictor, "finish", finish)
    with pytest.raises(KeyError, match="a bug"):
        run_pipeline(imgs, imgs.__getitem__, predictor, lambda k, p: seen.append(k), depth=2)
    assert seen == ["im0"]
