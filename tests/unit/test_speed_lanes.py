"""ADR 0033: the finish stage's torch ops on one thread, and the caller's thread count kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import model.inference as inference
from model.checkpoint import save_weights
from model.config import preset
from model.inference import Predictor
from model.net import BafeNet


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    cfg = preset("default", fpn_channels=16, gn_groups=4, sky_pass_long_side=32)
    path = tmp_path_factory.mktemp("w") / "w.safetensors"
    save_weights(path, BafeNet(cfg).eval(), cfg, "default")
    return path


def frame() -> np.ndarray:
    yy, xx = np.mgrid[:64, :96]
    img = (40 + xx // 3 + yy).astype(np.uint8)
    img[20:23, 30:33] = 250  # a 3x3 target
    return img


def test_finish_runs_torch_on_one_thread_and_restores_the_callers_count(weights, monkeypatch):
    p = Predictor(weights, threads=1, backend="onnx")
    seen = []
    real = inference.detect

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(inference, "detect", spy)
        got = p.predict(frame(), score_thr=0.0)
        assert seen == [1]
        assert torch.get_num_threads() == 2
        # the same detections as torch's decoding on two threads (no one-thread block)
        monkeypatch.setattr(inference, "one_torch_thread", lambda: _null())
        seen.clear()
        ref = p.predict(frame(), score_thr=0.0)
        assert seen == [2]
        np.testing.assert_array_equal(got.boxes, ref.boxes)
        np.testing.assert_array_equal(got.scores, ref.scores)
        assert len(got.scores) > 0
    finally:
        torch.set_num_threads(before)


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
