"""Which rank of which run this process is, however it was started (ADR 0020).

Four ways to start a training run, told apart by the environment only (torch is not imported here):
- ``SINGLE``: one process (none of the variables below, or a world of one);
- ``SIRST``: a rank started by ``main.py train --nproc/--nnodes`` (model/ddp_launch.py), which sets
  ``SIRST_DDP_WORKER=1`` next to torch's env:// variables;
- ``TORCHRUN``: a rank of the user's own ``torchrun`` (or any launcher that sets RANK, WORLD_SIZE,
  LOCAL_RANK, MASTER_ADDR, MASTER_PORT the way torchrun does);
- ``SLURM``: a task of ``srun`` (SLURM_PROCID / SLURM_STEP_NUM_TASKS / SLURM_LOCALID / SLURM_NODEID);
  ``export_torch_env`` turns those into the env:// variables, with MASTER_ADDR the step's first
  node and MASTER_PORT derived from the job id (every task computes the same value).
A SLURM batch script itself (no ``srun``: no SLURM_STEP_NUM_TASKS) is one process, so
``main.py train --nproc N`` inside it launches as usual.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from enum import Enum

WORKER_ENV = "SIRST_DDP_WORKER"  # set by model/ddp_launch.py: this process is one of its ranks
NODE_RANK_ENV = "SIRST_NODE_RANK"  # and the node it runs on (torchrun: GROUP_RANK; SLURM: SLURM_NODEID)
SLURM_PORT_BASE = 20000  # MASTER_PORT under srun without one: 20000 + job id mod 10000


class Launcher(Enum):
    SINGLE = "single"
    SIRST = "main.py"
    TORCHRUN = "torchrun"
    SLURM = "srun"


@dataclass(frozen=True)
class RankEnv:
    launcher: Launcher
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    node_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def chief(self) -> bool:
        """Rank 0: the one process that prints, emits events and writes the run folder."""
        return self.rank == 0

    @property
    def external(self) -> bool:
        """Started by the user's torchrun / srun: main.py must not launch ranks itself."""
        return self.launcher in (Launcher.TORCHRUN, Launcher.SLURM)


class RankEnvError(ValueError):
    """The launcher's variables do not make sense (exit 2)."""


def _int(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = env.get(name)
    if raw is None:
        if default is None:
            raise RankEnvError(f"{name} is not set")
        return default
    try:
        return int(raw)
    except ValueError:
        raise RankEnvError(f"{name}={raw!r} is not a whole number") from None


def from_environ(env: Mapping[str, str] | None = None) -> RankEnv:
    """This process's place in its run, read from ``env`` (default: os.environ)."""
    env = os.environ if env is None else env
    if env.get(WORKER_ENV) == "1":
        launcher = Launcher.SIRST
    elif "RANK" in env and "WORLD_SIZE" in env:
        launcher = Launcher.TORCHRUN
    elif "SLURM_PROCID" in env and _int(env, "SLURM_STEP_NUM_TASKS", 1) > 1:
        return _slurm(env)
    else:
        return RankEnv(Launcher.SINGLE)
    rank, world = _int(env, "RANK"), _int(env, "WORLD_SIZE")
    local_rank = _int(env, "LOCAL_RANK", 0)
    local_world = _int(env, "LOCAL_WORLD_SIZE", world)  # unknown: as if one node held them all
    node = _int(env, NODE_RANK_ENV, _int(env, "GROUP_RANK", 0))
    out = RankEnv(launcher, rank, world, local_rank, local_world, node)
    _check(out)
    return out if out.distributed else RankEnv(Launcher.SINGLE)


def _slurm(env: Mapping[str, str]) -> RankEnv:
    world = _int(env, "SLURM_STEP_NUM_TASKS")
    nodes = max(1, _int(env, "SLURM_STEP_NUM_NODES", _int(env, "SLURM_NNODES", 1)))
    out = RankEnv(Launcher.SLURM, _int(env, "SLURM_PROCID"), world, _int(env, "SLURM_LOCALID", 0),
                  _tasks_here(env, world, nodes), _int(env, "SLURM_NODEID", 0))  # fmt: skip
    _check(out)
    return out


def _tasks_here(env: Mapping[str, str], world: int, nodes: int) -> int:
    """Tasks on this node: the first figure of SLURM_STEP_TASKS_PER_NODE ('2(x3),1'), else an even share."""
    spec = env.get("SLURM_STEP_TASKS_PER_NODE", env.get("SLURM_TASKS_PER_NODE", ""))
    m = re.match(r"(\d+)", spec)
    return int(m.group(1)) if m else max(1, world // nodes)


def _check(r: RankEnv) -> None:
    if r.world_size < 1:
        raise RankEnvError(f"the launcher says WORLD_SIZE={r.world_size}; it must be at least 1")
    if not 0 <= r.rank < r.world_size:
        raise RankEnvError(f"the launcher says rank {r.rank} of a world of {r.world_size}")
    if not 0 <= r.local_rank < max(r.local_world_size, 1):
        raise RankEnvError(f"the launcher says local rank {r.local_rank} of {r.local_world_size} on this node")


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: 'gpu[03-05,9],cpu1' -> 'gpu03'."""
    m = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if not m:
        raise RankEnvError(f"cannot read the SLURM node list {nodelist!r}")
    prefix, ranges = m.group(1), m.group(2)
    if ranges is None:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def export_torch_env(r: RankEnv, env: MutableMapping[str, str] | None = None) -> None:
    """Set the env:// variables ``torch.distributed.init_process_group`` reads, for a SLURM task
    (torchrun and main.py's launcher set them already). Values the user set are kept."""
    env = os.environ if env is None else env
    if r.launcher is not Launcher.SLURM:
        return
    env.setdefault("RANK", str(r.rank))
    env.setdefault("WORLD_SIZE", str(r.world_size))
    env.setdefault("LOCAL_RANK", str(r.local_rank))
    env.setdefault("LOCAL_WORLD_SIZE", str(r.local_world_size))
    env.setdefault(NODE_RANK_ENV, str(r.node_rank))
    if "MASTER_ADDR" not in env:
        nodelist = env.get("SLURM_STEP_NODELIST", env.get("SLURM_JOB_NODELIST"))
        if not nodelist:
            raise RankEnvError("under srun without MASTER_ADDR, SLURM_STEP_NODELIST is needed to find rank 0's host")
        env["MASTER_ADDR"] = first_host(nodelist)
    if "MASTER_PORT" not in env:
        env["MASTER_PORT"] = str(SLURM_PORT_BASE + _int(env, "SLURM_JOB_ID", 0) % 10000)
