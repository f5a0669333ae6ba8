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


def test_two_lanes_run_two_frames_at_once_in_order_with_the_sequential_results(weights):
    """Each network call waits at a two-party barrier: it only passes when a second frame is in the
    network at the same time (one lane would break the barrier: an error per frame)."""
    import threading

    from model.pipeline import default_lanes, run_pipeline

    p = Predictor(weights, threads=2, backend="onnx", lanes=default_lanes(2))
    assert p.lanes == 2
    assert p._runner.session.get_session_options().intra_op_num_threads == 1  # half of the 2 threads each
    ref = Predictor(weights, threads=1, backend="onnx")
    rng = np.random.default_rng(3)
    imgs = {f"im{i}": np.clip(frame().astype(int) + rng.integers(-3, 4, (64, 96)), 0, 255).astype(np.uint8)
            for i in range(6)}
    barrier = threading.Barrier(2, timeout=20)
    real, threads_seen = p._runner, set()

    def runner(x):
        threads_seen.add(threading.current_thread().name)
        barrier.wait()
        return real(x)

    p._runner = runner
    got = []
    stats = run_pipeline(imgs, imgs.__getitem__, p, lambda k, r: got.append((k, r)), score_thr=0.0)
    assert [k for k, _ in got] == list(imgs)
    assert stats.failed == 0 and stats.images == 6
    assert len(threads_seen) == 2 and all(n.startswith("pipeline-net") for n in threads_seen)
    for k, r in got:
        want = ref.predict(imgs[k], score_thr=0.0)
        np.testing.assert_array_equal(r.boxes, want.boxes)
        np.testing.assert_array_equal(r.scores, want.scores)
        np.testing.assert_array_equal(r.sky_mask(), want.sky_mask())


def test_lanes_follow_the_threads_and_torch_keeps_one(weights):
    from model.pipeline import default_lanes

    assert [default_lanes(t) for t in (None, 1, 2, 4)] == [1, 1, 2, 2]
    assert Predictor(weights, threads=2, backend="torch", lanes=2).lanes == 1
    four = Predictor(weights, threads=4, backend="onnx", lanes=2)
    assert four._runner.session.get_session_options().intra_op_num_threads == 2
