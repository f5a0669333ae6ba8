"""Data-parallel training across processes with torch.distributed (gloo on CPU, nccl on GPU).

``main.py train --nproc N`` re-runs itself as N ranks, children of the command itself (env://
rendezvous on this machine; model/ddp_launch.py supervises them); each builds a ``DistributedTrainer``:
- every rank draws the same global batch of crops as a single process would (same seeds), and a
  ``DistributedSampler`` over that batch gives each rank its share: the union over ranks is the
  one-process batch, so the loss curve follows the one-process run with the same global batch;
- gradients are averaged over ranks (all-reduce) before the optimizer step, so the weights stay
  identical everywhere (rank 0's initial weights are broadcast first);
- the step itself is model.train.train_step (so --precision, --channels-last and --whole-frames
  work alike); the whole frames of a step are drawn as one process draws them and shared like the
  crops, so their number must be a multiple of N too;
- rank 0 alone validates, writes checkpoints and emits events; stop requests and the time budget
  are agreed on by all ranks each step, so no rank waits forever in a collective.
Losses normalise by the positives of a rank's share (model/losses.py), not of the whole batch,
so the curve matches the one-process curve closely but not bit for bit (tests/unit state the
tolerance).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from model import ddp_launch
from model.data import whole_frame_batch
from model.ddp_launch import WORKER_ENV, strip_nproc  # noqa: F401 (re-exported)
from model.train import LOSS_KEYS, Trainer, lr_at, train_step


def world() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment; (0, 1) outside a distributed run."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def in_worker() -> bool:
    return os.environ.get(WORKER_ENV) == "1"



def launch(argv: list[str], nproc: int, run_dir: Path, main_py: Path | None = None) -> int:
    """Run ``main.py <argv>`` as ``nproc`` ranks supervised by this process (model/ddp_launch.py);
    returns the run's exit code."""
    return ddp_launch.launch(argv, nproc, run_dir, main_py or Path(__file__).resolve().parents[1] / "main.py")


def init_process_group() -> tuple[int, int]:
    """Join the run (env:// rendezvous from the launcher); gloo on CPU, nccl with CUDA."""
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _agree(flag: bool) -> bool:
    """True on every rank when it is True on any (a stop anywhere stops everywhere)."""
    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def _silent(_event: dict) -> None:
    pass


class DistributedTrainer(Trainer):
    """One rank of a data-parallel run; see the module docstring."""

    def __init__(self, opts, train, val, sampler, emit: Callable[[dict], None],
                 stop: Callable[[], bool], rank: int, world_size: int) -> None:  # fmt: skip
        if opts.batch % world_size:
            raise ValueError(f"--batch {opts.batch} must be a multiple of --nproc {world_size} "
                             "(every rank takes an equal share of the global batch)")  # fmt: skip
        if opts.whole_frames % world_size:
            raise ValueError(f"--whole-frames {opts.whole_frames} must be a multiple of --nproc {world_size} "
                             "(every rank takes an equal share of them)")  # fmt: skip
        self.rank, self.world_size, self.chief = rank, world_size, rank == 0
        self._local_stop = stop
        super().__init__(opts, train, val if self.chief else [], sampler,
                         emit if self.chief else _silent, stop)  # fmt: skip
        self.stop = lambda: _agree(self._local_stop())
        for tensor in self.net.state_dict().values():  # same start on every rank
            dist.broadcast(tensor, src=0)

    def _share(self, n: int) -> list[int]:
        return list(DistributedSampler(range(n), num_replicas=self.world_size, rank=self.rank,
                                       shuffle=False))  # fmt: skip

    def _step(self, epoch: int, step: int, progress: float) -> dict[str, float]:
        order = self._order(epoch)
        idx = order[step * self.opts.batch : (step + 1) * self.opts.batch]
        rng = np.random.default_rng([self.opts.seed, epoch, step, 1])
        images, boxes, sky = self.sampler.batch(idx.tolist(), rng)  # the global batch, as 1 process
        mine = self._share(len(idx))
        batch = (images[mine], [boxes[i] for i in mine], sky[mine])
        whole = None
        if self.opts.whole_frames > 0:  # drawn as one process draws them (same rng, same order), then shared
            picks = rng.choice(len(self.train_set), size=self.opts.whole_frames, replace=False)
            wx, wsky = whole_frame_batch([self.train_set[int(i)] for i in picks], self.opts.whole_long_side, rng)
            share = self._share(len(picks))
            whole = (wx[share], wsky[share])
        lr = lr_at(epoch * self.steps + step, progress, self.opts.lr, self.opts.warmup_steps)
        for g in self.optim.param_groups:
            g["lr"] = lr
        losses = train_step(self.net, self.optim, batch, self.cfg, self.opts.precision, self.opts.channels_last,
                            whole, sync=self._average_gradients)
        values = torch.tensor([float(losses[k].detach()) for k in LOSS_KEYS])
        dist.all_reduce(values)
        values /= self.world_size
        return dict(zip(LOSS_KEYS, values.tolist(), strict=True)) | {"lr": lr}

    def _average_gradients(self, net: torch.nn.Module) -> None:
        for p in net.parameters():
            if p.grad is None:  # unused on this rank: still take part in the all-reduce
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)
            p.grad /= self.world_size

    def _over_budget(self, t0: float, base: float) -> bool:
        return _agree(super()._over_budget(t0, base))

    def _end_epoch(self, losses: dict, t0: float, base: float, done_here: int) -> bool:
        if self.chief:
            stop, self.stop = self.stop, self._local_stop  # validation is rank 0's alone
            try:
                ok = super()._end_epoch(losses, t0, base, done_here)
            finally:
                self.stop = stop
        else:  # the same bookkeeping, without validating or writing anything
            st = self.state
            st["epoch"] += 1
            st["step"] = 0
            st["elapsed_s"] = self._elapsed(t0, base)
            st["history"].append({"epoch": st["epoch"], "losses": losses, "val": {}})
            ok = True
        return not _agree(not ok)

    def _save(self) -> Path:
        return super()._save() if self.chief else self.out / "last.pt"


def make_trainer(opts, train, val, sampler, emit, stop) -> Trainer:
    """A plain Trainer, or this process's rank of a distributed run (launched by ``launch``).
    The initial weights come from ``opts.seed``, so 1- and N-process runs start alike."""
    torch.manual_seed(opts.seed)
    if not dist.is_initialized():  # joined by model.run_folder.join_run when this is one rank of a run
        return Trainer(opts, train, val, sampler, emit, stop)
    rank, world_size = init_process_group()
    return DistributedTrainer(opts, train, val, sampler, emit, stop, rank, world_size)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
