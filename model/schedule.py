"""The learning-rate schedule and weight averages of the training loop, on torch's own
``torch.optim.lr_scheduler.LambdaLR`` and ``torch.optim.swa_utils.AveragedModel`` (their state
goes into last.pt, so a resumed run continues exactly)."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import AveragedModel

FLOOR = 0.01  # the cosine ends at 1% of the base rate


class WarmupCosine:
    """LambdaLR factor: linear warm-up over the first steps, then cosine decay to FLOOR as the
    progress ``step / total`` goes 0 -> 1. A callable object (not a lambda) so LambdaLR saves its
    fields (``total`` moves when a time budget, not the epochs, ends the run)."""

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup, self.total = max(int(warmup), 0), max(int(total), 1)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        t = min(max(step / self.total, 0.0), 1.0)
        return FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * t))


def warmup_cosine(optim: torch.optim.Optimizer, warmup: int, total: int) -> LambdaLR:
    return LambdaLR(optim, WarmupCosine(warmup, total))


def time_horizon(step: int, planned: int, elapsed_s: float, budget_s: float | None) -> int:
    """Steps the schedule spans: the planned ones, or fewer when the time budget will end the run
    first (estimated from the time per step so far), so the cosine reaches its floor by then."""
    if not budget_s or elapsed_s <= 0 or step <= 0:
        return planned
    return max(1, min(planned, int(step * budget_s / elapsed_s)))


def _ema_fn(decay: float):
    def avg(averaged: torch.Tensor, current: torch.Tensor, n: torch.Tensor | int) -> torch.Tensor:
        if not averaged.dtype.is_floating_point:  # counters (BatchNorm's num_batches_tracked): the latest
            return current
        d = min(decay, (1 + int(n)) / (10 + int(n)))  # the usual warm-up: early weights fade fast
        return averaged * d + current * (1 - d)

    return avg


def ema(module: torch.nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of ``module``'s parameters and buffers (BatchNorm statistics
    too), decay min(decay, (1 + n) / (10 + n)) at the n-th update. It starts from the module as
    it is now (counted as update 0), so the first update already mixes old and new."""
    avg = AveragedModel(module, avg_fn=_ema_fn(decay), use_buffers=True)
    avg.update_parameters(module)  # n_averaged 0 -> 1: a copy of the starting weights
    for p in avg.parameters():
        p.requires_grad_(False)
    return avg.eval()


def _mean_fn(averaged: torch.Tensor, current: torch.Tensor, n: torch.Tensor | int) -> torch.Tensor:
    if not averaged.dtype.is_floating_point:
        return current
    return averaged + (current - averaged) / (int(n) + 1)


def mean_of(module: torch.nn.Module, states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The equal-weight mean of several state dicts of ``module``'s architecture (floating tensors
    averaged, integer counters from the last), through AveragedModel; ``module`` is left alone."""
    import copy

    scratch = copy.deepcopy(module)
    avg = AveragedModel(scratch, avg_fn=_mean_fn, use_buffers=True)
    for st in states:
        scratch.load_state_dict(st)
        avg.update_parameters(scratch)
    return {k: v.detach().clone() for k, v in avg.module.state_dict().items()}
