"""ADR 0020: `train-sky` on two "machines" of this box (two launchers, --nnodes 2 on 127.0.0.1):
one run, rank 0 reports and writes, the checkpoint loads; exit codes as one process."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from model.checkpoint import load_state, load_weights
from model.config import BafeConfig
from model.net import BafeNet
from tests._support.weights import TINY, random_weights
from tests.e2e.test_train_nodes import _finish, _port, _start
from tests.e2e.test_train_predict import dataset  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def detector(tmp_path_factory) -> Path:
    return random_weights(tmp_path_factory.mktemp("w") / "det.safetensors", TINY, seed=1,
                          operating_threshold="0.4", sky_threshold="0.5")  # fmt: skip


def _sky(data: Path, weights: Path, out: Path, epochs: int, *extra: str) -> list[str]:
    return ["train-sky", "--data", str(data), "--train-split", "train", "--val-split", "val", "--weights",
            str(weights), "--out", str(out), "--epochs", str(epochs), "--batch", "2", "--long-side", "64",
            "--threads", "1", *extra]  # fmt: skip


def _two(data: Path, weights: Path, out: Path, epochs: int) -> list:
    endpoint = f"127.0.0.1:{_port()}"
    return [_start(_sky(data, weights, out, epochs, "--nnodes", "2", "--node-rank", str(k), "--rdzv-endpoint",
                        endpoint, "--nproc", "1")) for k in range(2)]  # fmt: skip


def _events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def test_train_sky_on_two_machines(dataset, detector, tmp_path: Path) -> None:  # noqa: F811
    run = tmp_path / "two"
    (c0, _o0, e0), (c1, _o1, e1) = _finish(_two(dataset, detector, run, 2))
    assert (c0, c1) == (0, 0), e0[-3000:] + e1[-3000:]
    assert "epoch 2 done" in e0 and "epoch" not in e1 and "Traceback" not in e0 + e1  # rank 0 alone reports
    events = _events(run)
    assert [e["event"] for e in events].count("start") == 1 and events[-1]["event"] == "done"
    st = load_state(run / "last.pt")
    assert st["progress"]["epoch"] == 2
    sky = BafeNet(BafeConfig.from_json(st["config"])).sky_net.state_dict()
    assert st["model"] and all(sky[k].shape == v.shape for k, v in st["model"].items())  # the sky network's
    best, cfg, _meta = load_weights(run / "best.safetensors")
    assert cfg.sky_net and cfg.fpn_channels == 16  # the detector's config, with a sky network
    BafeNet(cfg).load_state_dict(best)  # strict: the whole network, sky network included


def test_an_interrupted_train_sky_stops_both_machines_with_exit_3(dataset, detector, tmp_path: Path) -> None:  # noqa: F811
    run = tmp_path / "int"
    procs = _two(dataset, detector, run, 500)
    for line in procs[0].stderr:  # rank 0's readable log, until the first epoch ends
        if line.startswith("epoch 1 done"):
            break
    procs[1].send_signal(signal.SIGINT)
    results = _finish(procs, timeout=300)
    assert [c for c, _o, _e in results] == [3, 3], [e[-2000:] for _c, _o, e in results]
    assert (run / "last.pt").is_file()
