"""ADR 0020: the launch flags of `train` and `train-sky` (--nproc, --nnodes, --node-rank,
--rdzv-endpoint) are checked before anything starts: exit 2, one line, no run folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._support.cli import REPO, assert_clean, cli, cli_here, tiny_densesirst

WEIGHTS = REPO / "resources" / "models" / "bafenet_default.safetensors"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dense")
    tiny_densesirst(root, n=3)
    return root


def _train(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--train-split", "train", "--val-split", "val", "--out", str(out),
            "--epochs", "1", "--batch", "4", *extra]  # fmt: skip


def _sky(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train-sky", "--data", str(data), "--train-split", "train", "--val-split", "val", "--weights",
            str(WEIGHTS), "--out", str(out), "--epochs", "1", "--batch", "4", *extra]  # fmt: skip


@pytest.mark.parametrize("command", [_train, _sky])
@pytest.mark.parametrize(("extra", "words"), [
    (["--nnodes", "2"], "--nnodes above 1 needs --rdzv-endpoint HOST:PORT"),
    (["--nnodes", "2", "--node-rank", "2", "--rdzv-endpoint", "127.0.0.1:29500"], "--node-rank 2 is out of range"),
    (["--nnodes", "2", "--rdzv-endpoint", "127.0.0.1"], "give HOST:PORT"),
    (["--nnodes", "0"], "--nnodes = 0 is out of range"),
    (["--nproc", "3", "--allow-oversubscribe"], "--batch 4 is not a multiple of --nproc 3"),
])  # fmt: skip
def test_launch_flags_that_cannot_work_are_refused(command, extra: list[str], words: str, data: Path,
                                                   tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "run"
    result = cli_here(*command(data, out, *extra))
    assert_clean(result)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert result.stderr.count("error:") == 1 and not out.exists()


def test_a_machine_whose_arguments_are_refused_stops_node_0_too(data: Path, tmp_path: Path) -> None:
    """Node 1's own refusal (here: a batch that three processes cannot share) reaches node 0, so
    node 0 does not wait for it."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        endpoint = f"127.0.0.1:{s.getsockname()[1]}"
    out = tmp_path / "run"
    base = ["--nnodes", "2", "--rdzv-endpoint", endpoint]
    node0 = subprocess.Popen([sys.executable, str(REPO / "main.py"), *_train(data, out, *base, "--node-rank", "0")],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    node1 = cli(*_train(data, out, *base, "--node-rank", "1", "--batch", "3"), timeout=120)
    stderr0 = node0.communicate(timeout=120)[1]
    assert node1.returncode == 2 and "--batch 3 is not a multiple of the 2 processes" in node1.stderr
    assert node0.returncode == 2 and "node 1 (host" in stderr0 and "cannot start: --batch 3" in stderr0, stderr0
    assert "Traceback" not in stderr0 + node1.stderr and not (out / "last.pt").exists()
