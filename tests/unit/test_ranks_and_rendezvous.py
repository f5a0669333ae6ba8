"""ADR 0020: a process's rank read from torchrun's / srun's / our launcher's variables, the env://
variables a srun task gets, the launch flags a rank must not see, and the launchers' meeting
(real sockets on 127.0.0.1, nodes as threads)."""

from __future__ import annotations

import socket
import threading

import pytest

from model.ddp_launch import Placement, nproc_problem, strip_nproc
from model.ranks import Launcher, RankEnv, RankEnvError, export_torch_env, first_host, from_environ
from model.rendezvous import Nodes, RendezvousError, join, nodes_problem, parse_endpoint


def test_no_launcher_variables_is_one_process() -> None:
    assert from_environ({}) == RankEnv(Launcher.SINGLE)
    # a SLURM batch script (no srun step) and a world of one are one process too
    assert from_environ({"SLURM_PROCID": "0", "SLURM_NTASKS": "4"}).launcher is Launcher.SINGLE
    assert from_environ({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}).launcher is Launcher.SINGLE


def test_torchrun_variables() -> None:
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "GROUP_RANK": "1"}
    r = from_environ(env)
    assert (r.launcher, r.rank, r.world_size, r.local_rank, r.local_world_size, r.node_rank) == (
        Launcher.TORCHRUN, 3, 4, 1, 2, 1)  # fmt: skip
    assert r.external and r.distributed and not r.chief


def test_our_launcher_wins_over_torchrun_names() -> None:
    env = {"SIRST_DDP_WORKER": "1", "RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "SIRST_NODE_RANK": "0"}
    r = from_environ(env)
    assert r.launcher is Launcher.SIRST and r.chief and not r.external


def test_srun_task_and_its_torch_variables() -> None:
    env = {"SLURM_PROCID": "5", "SLURM_STEP_NUM_TASKS": "8", "SLURM_LOCALID": "1", "SLURM_NODEID": "2",
           "SLURM_STEP_NUM_NODES": "4", "SLURM_STEP_TASKS_PER_NODE": "2(x4)",
           "SLURM_STEP_NODELIST": "gpu[07-10]", "SLURM_JOB_ID": "123456"}  # fmt: skip
    r = from_environ(env)
    assert (r.launcher, r.rank, r.world_size, r.local_rank, r.local_world_size, r.node_rank) == (
        Launcher.SLURM, 5, 8, 1, 2, 2)  # fmt: skip
    export_torch_env(r, env)
    assert {k: env[k] for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")} == {
        "RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "MASTER_ADDR": "gpu07", "MASTER_PORT": "23456"}  # fmt: skip
    # the user's own values are kept
    mine = {**{k: v for k, v in env.items() if k.startswith("SLURM")}, "MASTER_ADDR": "head", "MASTER_PORT": "4000"}
    export_torch_env(from_environ(mine), mine)
    assert (mine["MASTER_ADDR"], mine["MASTER_PORT"]) == ("head", "4000")


@pytest.mark.parametrize(("nodelist", "first"), [("gpu[07-10]", "gpu07"), ("a1,b2", "a1"), ("n[3,5-6],m1", "n3"),
                                                 ("solo", "solo"), ("10.0.0.5", "10.0.0.5")])  # fmt: skip
def test_first_host_of_a_slurm_node_list(nodelist: str, first: str) -> None:
    assert first_host(nodelist) == first


@pytest.mark.parametrize("env", [{"RANK": "2", "WORLD_SIZE": "2"}, {"RANK": "x", "WORLD_SIZE": "2"},
                                 {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "3", "LOCAL_WORLD_SIZE": "2"}])  # fmt: skip
def test_nonsense_launcher_variables_are_refused(env: dict) -> None:
    with pytest.raises(RankEnvError):
        from_environ(env)


def test_the_ranks_never_see_the_launch_flags() -> None:
    argv = ["train", "--nproc", "2", "--nnodes=2", "--node-rank", "1", "--rdzv-endpoint", "h:1", "--out", "r",
            "--nproc=3", "--batch", "4"]  # fmt: skip
    assert strip_nproc(argv) == ["train", "--out", "r", "--batch", "4"]


def test_flags_of_several_machines_are_checked() -> None:
    assert nodes_problem(2, 0, "10.0.0.5:29500") is None
    assert "needs --rdzv-endpoint" in nodes_problem(2, 1, None)
    assert "--node-rank 2 is out of range" in nodes_problem(2, 2, "h:1")
    assert "HOST:PORT" in nodes_problem(2, 0, "h")
    assert parse_endpoint("[::1]:29500") == ("::1", 29500)
    # the global batch is shared by every process of every machine
    assert "the 4 processes (--nproc 2 x --nnodes 2)" in nproc_problem(2, 6, 0, True, nnodes=2)
    assert nproc_problem(1, 4, 0, False, nnodes=2) is None
    assert Placement(2, 1).lock_name() == ".lock.node1" and Placement().lock_name() == ".lock"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _meet(nodes: list[tuple[int, int, str | None]], nnodes: int, timeout: float = 20) -> dict[int, object]:
    """Run one join per (node rank, nproc, problem) in threads; each node's port or error."""
    port, out = _free_port(), {}

    def one(rank: int, nproc: int, problem: str | None) -> None:
        try:
            out[rank] = join(Nodes(nnodes, rank, "127.0.0.1", port), nproc, problem, timeout=timeout)
        except RendezvousError as exc:
            out[rank] = exc

    threads = [threading.Thread(target=one, args=n) for n in nodes]
    for t in reversed(threads):  # the other nodes first: they wait for node 0
        t.start()
    for t in threads:
        t.join(timeout + 10)
    return out


def test_the_launchers_agree_on_one_port() -> None:
    out = _meet([(0, 2, None), (1, 2, None), (2, 2, None)], nnodes=3)
    assert isinstance(out[0], int) and out[0] == out[1] == out[2]


def test_nodes_that_do_not_fit_stop_every_machine() -> None:
    out = _meet([(0, 1, None), (1, 2, None)], nnodes=2)
    assert all(isinstance(v, RendezvousError) for v in out.values()), out
    assert "says --nproc 2, node 0 says --nproc 1" in str(out[0]) and str(out[0]) == str(out[1])
    out = _meet([(0, 1, None), (1, 1, "--batch 3 is not a multiple")], nnodes=2)
    assert "node 1 (host" in str(out[0]) and "cannot start: --batch 3" in str(out[0])
    assert str(out[1]) == "--batch 3 is not a multiple"  # the node at fault says its own problem
    out = _meet([(0, 1, None), (1, 1, None), (1, 1, None)], nnodes=3)
    assert all(isinstance(v, RendezvousError) for v in out.values()), out
    assert "two nodes say --node-rank 1" in str(out[0])
