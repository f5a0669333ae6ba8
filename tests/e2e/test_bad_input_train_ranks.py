"""Issue 25 items 5-7: `train --nproc N` refuses what cannot work before any process starts; a
rank killed by a signal ends in one clear line (no torchrun traceback); a launcher killed with
SIGKILL takes its ranks with it and nothing more is written to the run folder; a second run in a
live run's folder is refused (real CLI; processes found through /proc)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model.ddp_launch import usable_cores
from tests._support.cli import REPO, assert_clean, cli, cli_here
from tests.e2e.test_train_predict import TINY, dataset  # noqa: F401 - the fixture


def _base(data: Path, out: Path) -> list[str]:
    return ["train", "--data", str(data), "--train-split", "train", "--val-split", "val", "--out", str(out),
            "--crop", "64", "--threads", "1", "--bagcp-prob", "0", "--repeats", "1", *TINY]  # fmt: skip


def test_nproc_that_cannot_work_is_refused_before_anything_starts(dataset, tmp_path: Path) -> None:  # noqa: F811
    too_many = usable_cores() + 1
    cases = [
        (["--batch", "2", "--nproc", "3", "--allow-oversubscribe"], "--batch 2 is not a multiple of --nproc 3"),
        (["--batch", "4", "--nproc", "2", "--whole-frames", "1", "--allow-oversubscribe"],
         "--whole-frames 1 is not a multiple of --nproc 2"),
        (["--batch", str(2 * too_many), "--nproc", str(too_many)],
         f"--nproc {too_many} is more than the {too_many - 1} CPU cores"),
        (["--nproc", "0"], "--nproc = 0 is out of range"),
        (["--nproc", "-2"], "--nproc = -2 is out of range"),
    ]  # fmt: skip
    for extra, words in cases:
        out = tmp_path / "run"
        result = cli_here(*_base(dataset, out), *extra)
        assert_clean(result)
        assert result.returncode == 2, (extra, result.stderr)
        assert words in result.stderr and result.stderr.count("error:") == 1, (extra, result.stderr)
        assert not out.exists(), extra  # no run folder, no rank ever started


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _rank_of(pid: int) -> int:
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return int(next(e for e in env if e.startswith(b"RANK="))[5:])


def _start(data: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, str(REPO / "main.py"), *_base(data, out), "--nproc", "2", "--allow-oversubscribe",
           "--batch", "2", "--epochs", "200", "--events-jsonl"]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), SIRST_LOG_DIR=str(REPO / ".pytest_logs"))
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_checkpoint(proc: subprocess.Popen) -> None:
    """Read rank 0's events until the first resume checkpoint (last.pt) is written."""
    for line in proc.stdout:
        if line.startswith("{") and (ev := json.loads(line))["event"] == "checkpoint" and not ev["best"]:
            return
    raise AssertionError(f"the run ended before its first checkpoint: {proc.wait()} {proc.stderr.read()[-2000:]}")


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


@pytest.mark.slow
def test_a_rank_killed_by_sigkill_ends_in_one_clear_line(dataset, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "run"
    proc = _start(dataset, out)
    try:
        _wait_for_checkpoint(proc)
        ranks = _children(proc.pid)
        assert len(ranks) == 2, ranks  # the ranks are the launcher's own children
        by_rank = {_rank_of(p): p for p in ranks}
        os.kill(by_rank[1], signal.SIGKILL)
        code = proc.wait(timeout=120)
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in stderr and "ChildFailedError" not in stderr, stderr[-3000:]
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, stderr[-3000:]
    assert "training process 1 was killed by SIGKILL" in lines[0] and "--resume" in lines[0]
    assert code == 3  # interrupted, state saved (README): last.pt was written before the kill
    assert (out / "last.pt").is_file()
    assert not any(_alive(p) for p in ranks)


@pytest.mark.slow
def test_a_killed_launcher_takes_its_ranks_with_it(dataset, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "run"
    proc = _start(dataset, out)
    try:
        _wait_for_checkpoint(proc)
        ranks = _children(proc.pid)
        assert len(ranks) == 2, ranks
        # while it runs, a second run in the same folder is refused and changes nothing
        second = cli(*_base(dataset, out), "--batch", "2", "--epochs", "1", "--resume")
        assert_clean(second)
        assert second.returncode == 2 and "in use by another training run" in second.stderr, second.stderr
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 20  # a hang guard, not a speed figure
        while any(_alive(p) for p in ranks) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in ranks), "a rank outlived its launcher"
        before = _snapshot(out)
        time.sleep(4)  # the issue saw checkpoints written 2-4 s after the kill
        assert _snapshot(out) == before
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in _children(proc.pid):
            os.kill(p, signal.SIGKILL)
    # the folder is free again: --resume continues from the last checkpoint
    result = cli(*_base(dataset, out), "--batch", "2", "--epochs", "2", "--resume", timeout=600)
    assert_clean(result)
    assert result.returncode == 0, result.stderr[-2000:]
