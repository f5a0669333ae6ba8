"""The process group of a data-parallel run (the training itself is model/loop.py on
``DistributedDataParallel``).

``main.py train --nproc N`` re-runs itself as N ranks, children of the command itself (env://
rendezvous; model/ddp_launch.py supervises them). Each rank joins the group with the backend of
its device (nccl on CUDA, gloo on CPU, model.device) and builds the same loop as one process;
rank 0's initial weights are broadcast by DDP, gradients are averaged by DDP's bucketed
all-reduce during backward, so the weights stay identical on every rank.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import torch
import torch.distributed as dist

from model import ddp_launch
from model.ddp_launch import WORKER_ENV, strip_nproc  # noqa: F401 (re-exported)
from model.device import backend_for


def world() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment; (0, 1) outside a distributed run."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def in_worker() -> bool:
    return os.environ.get(WORKER_ENV) == "1"


def launch(argv: list[str], nproc: int, run_dir: Path, main_py: Path | None = None) -> int:
    """Run ``main.py <argv>`` as ``nproc`` ranks supervised by this process (model/ddp_launch.py);
    returns the run's exit code."""
    return ddp_launch.launch(argv, nproc, run_dir, main_py or Path(__file__).resolve().parents[1] / "main.py")


def init_process_group(device: torch.device) -> tuple[int, int]:
    """Join the run (env:// rendezvous from the launcher) with the backend for ``device``; a CUDA
    rank also makes its GPU the current one (nccl's collectives run there)."""
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend_for(device))
    return dist.get_rank(), dist.get_world_size()


def shutdown(wait_for_peers: bool = False) -> None:
    """Leave the group (a no-op outside one). ``wait_for_peers`` (a rank that finished normally):
    a barrier first, so no rank tears down gloo's store and pairs while another still runs its last
    collective. Without it about 1 run in 6 of two gloo ranks aborted at exit here ("terminate
    called without an active exception"). Never on an error path: a peer may be gone for good."""
    if not dist.is_initialized():
        return
    gc.collect()  # DDP reducers held only by reference cycles go while their group still exists
    if wait_for_peers:
        dist.barrier()
    dist.destroy_process_group()
