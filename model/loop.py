"""The one training loop of the detector (model.train) and the sky network (model.sky_train).

A ``Task`` plugs in what differs: its network, the losses of one step and the evaluation of an
epoch. Everything else lives here only: AdamW with torch's warm-up + cosine ``LambdaLR``, gradient
clipping, the optional weight average (``AveragedModel``), the device and autocast, data
parallelism by ``DistributedDataParallel``, the time budget, stop requests, events and checkpoints.

Run folder: ``last.pt`` (resume state: weights, optimiser, scheduler, scaler, average (+ its count), progress and
the task's own state; written at every epoch end and on interruption, read with
``weights_only=True``), ``epoch_NNN.pt`` (with ``keep_epochs``), ``best.safetensors`` (the task
exports it at the best epoch). A stop request is honoured after the current step: the state is
saved and ``run`` returns ``interrupted=True``; ``resume`` continues at the next step exactly.

Under DDP (a process group is initialised) every rank runs the loop; rank 0 alone evaluates,
writes and emits; stop requests, the time budget and a cut-short evaluation are agreed on by all
ranks, so no rank waits forever in a collective. Events: docs/architecture.md "Training events".
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from core.errors import CheckpointError
from model.checkpoint import load_state, save_state
from model.device import Precision, autocast, check_precision, grad_scaler
from model.schedule import ema, time_horizon, warmup_cosine

Emit = Callable[[dict], None]
STATE_NAME = "last.pt"


@dataclass
class LoopOptions:
    out: Path
    epochs: int
    lr: float
    weight_decay: float
    warmup_steps: int
    time_budget_min: float | None = None  # the whole run's, resumes included
    resume: bool = False
    keep_epochs: bool = False  # also write RUN/epoch_NNN.pt after each epoch
    ema: float = 0.0  # decay of a weight average that is evaluated and exported (0: off)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: Precision = Precision.FP32
    clip: float = 10.0  # max gradient norm


@dataclass
class StepContext:
    """Where one step runs: its place in the run, this rank's share and the device."""

    epoch: int
    step: int
    rank: int
    world: int
    device: torch.device
    precision: Precision

    def autocast(self):
        return autocast(self.device, self.precision)

    def share(self, n: int) -> list[int]:
        """This rank's indices of a global batch of n (all of them in one process)."""
        if self.world == 1:
            return list(range(n))
        return list(DistributedSampler(range(n), num_replicas=self.world, rank=self.rank, shuffle=False))


class Task(Protocol):
    module: torch.nn.Module  # trained, saved in last.pt, averaged, evaluated
    forward_module: torch.nn.Module  # runs the training forward (DDP wraps it); shares module's parameters
    steps_per_epoch: int
    loss_keys: tuple[str, ...]  # losses averaged per epoch and reported ("total" is the one minimised)
    validates: bool  # has an evaluation set (without, every epoch's weights are the best)
    best_path: Path

    def losses(self, model: torch.nn.Module, ctx: StepContext) -> tuple[dict[str, torch.Tensor], dict]: ...
    def evaluate(self, module: torch.nn.Module, stop: Callable[[], bool]) -> dict | None: ...
    def score(self, val: dict) -> float: ...
    def export(self, module: torch.nn.Module, val: dict, epoch: int) -> Path: ...
    def start_fields(self) -> dict: ...
    def checkpoint_fields(self) -> dict: ...  # "config" (JSON) and whatever else last.pt carries
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class LoopResult:
    best_weights: Path | None
    val: dict
    interrupted: bool
    epochs_done: int
    elapsed_s: float


def resume_state(opts: LoopOptions) -> dict | None:
    """RUN/last.pt when resuming (CheckpointError when missing or damaged), else None."""
    return load_state(Path(opts.out) / STATE_NAME) if opts.resume else None


def _agree(flag: bool) -> bool:
    """True on every rank when it is True on any (a stop anywhere stops everywhere)."""
    if not dist.is_initialized():
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def _silent(_event: dict) -> None:
    pass


class Loop:
    """One run of a task in one folder; see the module docstring."""

    def __init__(self, task: Task, opts: LoopOptions, emit: Emit, stop: Callable[[], bool],
                 resumed: dict | None = None) -> None:
        check_precision(opts.device, opts.precision)
        self.task, self.opts, self.device = task, opts, opts.device
        self.out = Path(opts.out)
        self.out.mkdir(parents=True, exist_ok=True)
        ranked = dist.is_initialized()
        self.rank, self.world = (dist.get_rank(), dist.get_world_size()) if ranked else (0, 1)
        self.chief = self.rank == 0
        self.emit = emit if self.chief else _silent
        self._local_stop = stop
        task.module.to(self.device)
        self.optim = torch.optim.AdamW(task.module.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
        self.planned = max(opts.epochs * task.steps_per_epoch, 1)
        self.sched = warmup_cosine(self.optim, opts.warmup_steps, self.planned)
        self.scaler = grad_scaler(self.device, opts.precision)
        self.average = ema(task.module, opts.ema) if opts.ema > 0 else None
        self.progress: dict[str, Any] = {"epoch": 0, "step": 0, "best_score": -math.inf, "best_val": {},
                                         "elapsed_s": 0.0, "history": []}
        self.resumed = resumed is not None
        if resumed is not None:
            self._load(resumed)
        self._t0, self._base, self._done_here = time.monotonic(), self.progress["elapsed_s"], 0
        self.train_module: torch.nn.Module = task.forward_module
        if ranked:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_module = DistributedDataParallel(task.forward_module, device_ids=ids)

    # ---- checkpoints -------------------------------------------------------------------------
    def _load(self, st: dict) -> None:
        if "sched" not in st:
            raise CheckpointError(f"{self.out / STATE_NAME} was written by an older version without a learning-rate "
                                  "schedule state; start a new run (without --resume) in another folder")
        self.task.module.load_state_dict(st["model"])
        self.optim.load_state_dict(st["optim"])
        self.sched.load_state_dict(st["sched"])
        if "scaler" in st:
            self.scaler.load_state_dict(st["scaler"])
        if self.average is not None and "average" in st:
            self.average.module.load_state_dict(st["average"])
            self.average.n_averaged.fill_(int(st.get("average_n", 1)))
        self.task.load_state_dict(st.get("task", {}))
        self.progress = st["progress"]
        # --epochs may differ from the interrupted invocation's: the schedule spans this one's
        # (or the time budget's shorter estimate), and the next step's rate follows it
        fn = self.sched.lr_lambdas[0]
        total = min(fn.total, self.planned) if self.opts.time_budget_min else self.planned
        if total != fn.total:
            fn.total = total
            self.sched.last_epoch -= 1
            self.sched.step()  # recomputes the rate of the same step under the new span

    def _save(self) -> Path:
        path = self.out / STATE_NAME
        if not self.chief:
            return path
        state = {"model": self.task.module.state_dict(), "optim": self.optim.state_dict(),
                 "sched": self.sched.state_dict(), "scaler": self.scaler.state_dict(),
                 "progress": self.progress, "task": self.task.state_dict(), **self.task.checkpoint_fields()}
        if self.average is not None:  # the averaged network as a plain state dict (as exported), and its count
            state["average"] = self.average.module.state_dict()
            state["average_n"] = int(self.average.n_averaged)
        save_state(path, state)
        st = self.progress
        if self.opts.keep_epochs and st["step"] == 0 and st["epoch"] > 0:
            save_state(self.out / f"epoch_{st['epoch']:03d}.pt", state)
        return path

    # ---- time --------------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return self._base + time.monotonic() - self._t0

    def _budget_s(self) -> float | None:
        return self.opts.time_budget_min * 60 if self.opts.time_budget_min else None

    def _over_budget(self) -> bool:
        budget = self._budget_s()
        return _agree(budget is not None and self._elapsed() > budget)

    def _eta(self, steps_left: int) -> float:
        """Seconds left: from the step rate of this invocation, capped by the time budget."""
        eta = (time.monotonic() - self._t0) / max(self._done_here, 1) * steps_left
        budget = self._budget_s()
        return min(eta, max(budget - self._elapsed(), 0.0)) if budget else eta

    def _stop(self) -> bool:
        return _agree(self._local_stop())

    # ---- the run -----------------------------------------------------------------------------
    def run(self) -> LoopResult:
        """Train until the last epoch, a stop request or the time budget; state saved either way."""
        st, steps = self.progress, self.task.steps_per_epoch
        self.emit({"event": "start", "run_dir": str(self.out), "epochs": self.opts.epochs, "steps_per_epoch": steps,
                   "resumed_from_epoch": st["epoch"] if self.resumed else 0, **self.task.start_fields()})
        self.train_module.train()
        self._t0, self._base, self._done_here = time.monotonic(), st["elapsed_s"], 0
        sums, n = dict.fromkeys(self.task.loss_keys, 0.0), 0
        if self.opts.epochs == 0 and not self.resumed:  # nothing to train: evaluate and export what is there
            if not self._end_epoch({}):
                return self._halt(interrupted=True)
        while st["epoch"] < self.opts.epochs:
            if st["step"] >= steps:
                if not self._end_epoch(self._mean(sums, n)):
                    return self._halt(interrupted=True)
                sums, n = dict.fromkeys(self.task.loss_keys, 0.0), 0
                continue
            if self._stop():
                return self._halt(interrupted=True)
            if self._over_budget():
                if n and not self._end_epoch(self._mean(sums, n)):  # evaluate the last weights
                    return self._halt(interrupted=True)
                return self._halt(interrupted=False)
            values, extra, lr = self.step()
            st["step"] += 1
            self._done_here, n = self._done_here + 1, n + 1
            for k in self.task.loss_keys:
                sums[k] += values[k]
            left = (self.opts.epochs - st["epoch"]) * steps - st["step"]
            self.emit({"event": "step", "epoch": st["epoch"] + 1, "step": st["step"], "steps": steps,
                       "losses": values, "loss": values["total"], "lr": lr, **extra,
                       "elapsed_s": self._elapsed(), "eta_s": self._eta(left)})
        return self._halt(interrupted=False)

    def step(self) -> tuple[dict[str, float], dict, float]:
        """One optimiser step at the current place in the run (which the caller advances): the
        task's losses, backward (DDP averages the gradients over the ranks), clipping, AdamW, the
        schedule and the weight average. (losses averaged over ranks, task's event fields, lr)"""
        st = self.progress
        ctx = StepContext(st["epoch"], st["step"], self.rank, self.world, self.device, self.opts.precision)
        losses, extra = self.task.losses(self.train_module, ctx)
        lr = self.optim.param_groups[0]["lr"]
        self.optim.zero_grad(set_to_none=True)
        self.scaler.scale(losses["total"]).backward()
        self.scaler.unscale_(self.optim)
        torch.nn.utils.clip_grad_norm_(self.task.module.parameters(), self.opts.clip)
        self.scaler.step(self.optim)
        self.scaler.update()
        done = st["epoch"] * self.task.steps_per_epoch + st["step"] + 1
        # a time budget that ends the run before the epochs do shortens the cosine to match
        self.sched.lr_lambdas[0].total = time_horizon(done, self.planned, self._elapsed(), self._budget_s())
        self.sched.step()
        if self.average is not None:
            self.average.update_parameters(self.task.module)
        values = torch.tensor([float(losses[k].detach()) for k in self.task.loss_keys])
        if self.world > 1:
            dist.all_reduce(values)
            values /= self.world
        return dict(zip(self.task.loss_keys, values.tolist(), strict=True)), extra, lr

    @staticmethod
    def _mean(sums: dict[str, float], n: int) -> dict[str, float]:
        return {k: v / max(n, 1) for k, v in sums.items()}

    def kept(self) -> torch.nn.Module:
        """What is evaluated and exported: the weight average when there is one, on the CPU."""
        kept = self.task.module if self.average is None else self.average.module
        return kept if self.device.type == "cpu" else copy.deepcopy(kept).cpu()

    def _end_epoch(self, losses: dict) -> bool:
        """Evaluate (rank 0), keep the best weights, save; False when a stop request cut the
        evaluation short (on every rank)."""
        st = self.progress
        val: dict | None = {}
        kept = self.kept() if self.chief else None
        if self.chief and self.task.validates:
            val = self.task.evaluate(kept, self._local_stop)
        if _agree(val is None):
            return False
        val = val or {}
        st["epoch"] += 1
        st["step"] = 0  # an epoch cut short by the time budget still counts as one
        st["elapsed_s"] = self._elapsed()
        st["history"].append({"epoch": st["epoch"], "losses": losses, "val": val})
        best = False
        if self.chief:
            score = self.task.score(val)
            best = not self.task.validates or score > st["best_score"]
            if best:
                st["best_score"], st["best_val"] = score, val
                self.task.export(kept, val, st["epoch"])
        left = (self.opts.epochs - st["epoch"]) * self.task.steps_per_epoch
        self.emit({"event": "epoch", "epoch": st["epoch"], "losses": losses, "val": val, "best": best,
                   "elapsed_s": st["elapsed_s"], "eta_s": self._eta(left)})
        if best:
            self.emit({"event": "checkpoint", "path": str(self.task.best_path), "epoch": st["epoch"], "best": True})
        path = self._save()
        self.emit({"event": "checkpoint", "path": str(path), "epoch": st["epoch"], "best": False})
        return True

    def _halt(self, interrupted: bool) -> LoopResult:
        """Save the resume state; on a normal end (last epoch or time budget) emit "done"."""
        st = self.progress
        st["elapsed_s"] = self._elapsed()
        path = self._save()
        self.emit({"event": "checkpoint", "path": str(path), "epoch": st["epoch"], "best": False})
        best_path = self.task.best_path if self.task.best_path.exists() else None
        if not interrupted:
            self.emit({"event": "done", "best_weights": str(best_path or ""), "val": st["best_val"],
                       "elapsed_s": st["elapsed_s"]})
        return LoopResult(best_path, st["best_val"], interrupted, st["epoch"], st["elapsed_s"])
