"""ADR 0020: `main.py train` on two "machines" of this box (two launchers, --nnodes 2, a rendezvous on
127.0.0.1, gloo), under the user's own torchrun and under srun's variables; one run folder for all
ranks (checked), exit codes and single events as in one process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model.checkpoint import load_state, load_weights
from model.config import BafeConfig
from model.net import BafeNet
from tests.e2e.test_train_distributed import REL_TOL
from tests.e2e.test_train_predict import REPO, TINY, dataset  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _args(data: Path, out: Path, epochs: int, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--train-split", "train", "--val-split", "val", "--out", str(out),
            "--epochs", str(epochs), "--batch", "4", "--repeats", "2", "--crop", "64", "--threads", "1",
            "--bagcp-prob", "0", "--events-jsonl", *TINY, *extra]  # fmt: skip


def _env(**more: str) -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), SIRST_LOG_DIR=str(REPO / ".pytest_logs"),
                **more)  # fmt: skip


def _start(args: list[str], env: dict | None = None, prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    cmd = [sys.executable, *prefix, str(REPO / "main.py"), *args]
    return subprocess.Popen(cmd, cwd=REPO, env=env or _env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def _nodes(data: Path, outs: tuple[Path, Path], epochs: int, *extra: str) -> list[subprocess.Popen]:
    """Two launchers, node 0 and node 1, one rank each."""
    endpoint = f"127.0.0.1:{_port()}"
    return [_start(_args(data, out, epochs, "--nnodes", "2", "--node-rank", str(k), "--rdzv-endpoint", endpoint,
                         "--nproc", "1", *extra))
            for k, out in enumerate(outs)]  # fmt: skip


def _finish(procs: list[subprocess.Popen], timeout: float = 600) -> list[tuple[int, list[dict], str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        out.append((p.returncode, events, stderr))
    return out


def _losses(events: list[dict]) -> list[float]:
    return [e["losses"]["total"] for e in events if e["event"] == "step"]


def _one_process(data: Path, out: Path, epochs: int) -> list[dict]:
    [(code, events, stderr)] = _finish([_start(_args(data, out, epochs))])
    assert code == 0, stderr[-3000:]
    return events


def test_two_machines_train_one_run_and_resume_from_one_step(dataset, tmp_path: Path) -> None:  # noqa: F811
    run = tmp_path / "two"
    (code0, ev0, err0), (code1, ev1, err1) = _finish(_nodes(dataset, (run, run), epochs=2))
    assert (code0, code1) == (0, 0), err0[-3000:] + err1[-3000:]
    assert ev1 == [] and "Traceback" not in err0 + err1  # node 1's rank is silent: rank 0 reports
    assert [e["event"] for e in ev0].count("start") == 1 and ev0[-1]["event"] == "done"
    # the checkpoint rank 0 wrote in the shared folder: two whole epochs, weights that load
    st = load_state(run / "last.pt")
    assert (st["progress"]["epoch"], st["progress"]["step"], len(st["progress"]["history"])) == (2, 0, 2)
    net = BafeNet(BafeConfig.from_json(st["config"]))
    net.load_state_dict(st["model"])  # strict: every tensor of the network is there
    best, best_cfg, _meta = load_weights(run / "best.safetensors")
    BafeNet(best_cfg).load_state_dict(best)  # the exported weights are a whole network too
    assert best_cfg.fpn_channels == 16 and best_cfg.tower_convs == 1  # the tiny config of the command
    # the global batch of 4 is shared by the two machines: the curve follows one process's
    one = _losses(_one_process(dataset, tmp_path / "one", epochs=2))
    two = _losses(ev0)
    assert len(one) == len(two) == 4
    assert all(abs(a - b) <= REL_TOL * abs(a) for a, b in zip(one, two, strict=True)), (one, two)
    # one epoch, then --resume on both machines: they continue from the same step as the whole run
    part = tmp_path / "part"
    first = _finish(_nodes(dataset, (part, part), epochs=1))
    rest = _finish(_nodes(dataset, (part, part), 2, "--resume"))
    assert [c for c, _e, _s in first + rest] == [0, 0, 0, 0], rest[0][2][-3000:] + rest[1][2][-3000:]
    assert rest[0][1][0]["resumed_from_epoch"] == 1
    assert _losses(first[0][1]) + _losses(rest[0][1]) == pytest.approx(two, rel=1e-5)
    resumed = load_state(part / "last.pt")["model"]
    assert all(torch.allclose(resumed[k], st["model"][k], rtol=1e-4, atol=1e-6) for k in st["model"])


def test_machines_with_different_run_folders_are_refused(dataset, tmp_path: Path) -> None:  # noqa: F811
    a, b = tmp_path / "a", tmp_path / "b"
    results = _finish(_nodes(dataset, (a, b), epochs=1))
    for code, _events, stderr in results:
        assert code == 2, stderr[-3000:]  # README: bad input or unusable environment
        lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
        assert "rank 1 (node 1, host" in lines[0] and f"its {b.resolve()} holds no token file" in lines[0]
        assert "same folder" in lines[0]
    assert results[0][1][-1]["event"] == "error" and results[1][1] == []
    assert not any((d / name).exists() for d in (a, b) for name in ("last.pt", "best.safetensors"))


def test_nodes_that_disagree_stop_before_any_rank_starts(dataset, tmp_path: Path) -> None:  # noqa: F811
    run = tmp_path / "run"
    endpoint = f"127.0.0.1:{_port()}"
    base = ["--nnodes", "2", "--rdzv-endpoint", endpoint]
    procs = [_start(_args(dataset, run, 1, *base, "--node-rank", "0", "--nproc", "1")),
             _start(_args(dataset, run, 1, *base, "--node-rank", "1", "--nproc", "2", "--allow-oversubscribe"))]
    for code, events, stderr in _finish(procs, timeout=120):
        assert code == 2 and events == [] and "Traceback" not in stderr, stderr
        assert "node 1 (host" in stderr and "says --nproc 2, node 0 says --nproc 1" in stderr
    assert not (run / "last.pt").exists()


def _interrupt(procs: list[subprocess.Popen], victim: subprocess.Popen, sig: signal.Signals) -> list[tuple]:
    for line in procs[0].stdout:  # rank 0's events, until the first resume checkpoint is written
        if line.startswith("{") and (ev := json.loads(line))["event"] == "checkpoint" and not ev["best"]:
            break
    victim.send_signal(sig)
    return _finish(procs, timeout=300)


def test_an_interrupted_launcher_stops_every_machine_like_one_process(dataset, tmp_path: Path) -> None:  # noqa: F811
    [(alone, _ev, err)] = _interrupt([p := _start(_args(dataset, tmp_path / "one", 200))], p, signal.SIGINT)
    assert alone == 3, err[-2000:]  # README: interrupted, state saved
    for sig, victim in ((signal.SIGINT, 0), (signal.SIGTERM, 1)):
        run = tmp_path / f"{sig.name}"
        procs = _nodes(dataset, (run, run), 200)
        results = _interrupt(procs, procs[victim], sig)
        assert [c for c, _e, _s in results] == [alone, alone], [s[-2000:] for _c, _e, s in results]
        for _code, _events, stderr in results:  # one line per machine, as one process says it
            assert stderr.count("interrupted: state saved") == 1 and "Traceback" not in stderr, stderr[-2000:]
        st = load_state(run / "last.pt")["progress"]
        assert st["epoch"] >= 1 and st["epoch"] < 200  # saved once, mid-run, where both machines stopped


def test_under_the_users_torchrun_it_launches_nothing_itself(dataset, tmp_path: Path) -> None:  # noqa: F811
    torchrun = ("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2")
    run = tmp_path / "t"
    [(code, events, stderr)] = _finish([_start(_args(dataset, run, 1), prefix=torchrun)])
    assert code == 0, stderr[-3000:]
    assert [e["event"] for e in events].count("start") == 1  # two ranks, one report
    assert load_state(run / "last.pt")["progress"]["epoch"] == 1


def test_srun_tasks_join_one_run(dataset, tmp_path: Path) -> None:  # noqa: F811
    run, port = tmp_path / "s", _port()
    slurm = {"SLURM_STEP_NUM_TASKS": "2", "SLURM_STEP_NUM_NODES": "1", "SLURM_STEP_NODELIST": "127.0.0.1",
             "SLURM_JOB_ID": "7", "MASTER_PORT": str(port)}  # fmt: skip
    def tasks(*extra: str) -> list[subprocess.Popen]:
        return [_start(_args(dataset, run, 1, *extra), env=_env(**slurm, SLURM_PROCID=str(k), SLURM_LOCALID=str(k)))
                for k in range(2)]  # fmt: skip

    for code, _events, stderr in _finish(tasks("--nproc", "2")):  # srun decides the processes
        assert code == 2 and "rank" in stderr and "started by srun" in stderr and "leave out --nproc" in stderr
    assert not run.exists()
    procs = tasks()
    (c0, ev0, e0), (c1, ev1, e1) = _finish(procs)
    assert (c0, c1) == (0, 0), e0[-3000:] + e1[-3000:]
    assert [e["event"] for e in ev0].count("start") == 1 and ev1 == []
    assert len(_losses(ev0)) == 2  # 4 images x 2 repeats / global batch 4: the two tasks shared each step


def test_a_machine_that_dies_ends_the_other_in_one_line(dataset, tmp_path: Path) -> None:  # noqa: F811
    run = tmp_path / "run"
    procs = _nodes(dataset, (run, run), 200)
    (code0, _ev, err0), (code1, _ev1, _err1) = _interrupt(procs, procs[1], signal.SIGKILL)
    assert code1 == -signal.SIGKILL
    lines = [ln for ln in err0.splitlines() if ln.startswith("error:")]
    assert "Traceback" not in err0 and len(lines) == 1, err0[-3000:]
    assert "lost the connection to another training process" in lines[0] and "--resume" in lines[0]
    assert code0 == 3 and (run / "last.pt").is_file()  # as a rank killed on one machine (README)
