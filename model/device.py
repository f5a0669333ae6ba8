"""The device a run trains on, chosen once: where the model and batches go, which autocast applies
and which process-group backend data parallelism uses (nccl on CUDA, gloo on CPU)."""

from __future__ import annotations

import contextlib
import os
import random
from enum import Enum

import numpy as np
import torch


class DeviceChoice(Enum):
    AUTO = "auto"  # CUDA when torch sees a GPU, else the CPU
    CPU = "cpu"
    CUDA = "cuda"


class Precision(Enum):
    FP32 = "fp32"
    BF16 = "bf16"  # autocast to bfloat16 (CPU: AMX; CUDA: Ampere or newer); weights and optimiser fp32
    FP16 = "fp16"  # CUDA only: autocast to float16 with a gradient scaler


def local_rank() -> int:
    """This process's index on its machine (torchrun's LOCAL_RANK; 0 outside a distributed run)."""
    return int(os.environ.get("LOCAL_RANK", 0))


def pick_device(choice: DeviceChoice, rank_on_node: int | None = None) -> torch.device:
    """``cuda:LOCAL_RANK`` (one GPU per process) or ``cpu``; ValueError when CUDA is asked for
    and torch sees none."""
    cuda = torch.cuda.is_available()
    if choice is DeviceChoice.CUDA and not cuda:
        raise ValueError("--device cuda: torch sees no CUDA GPU here (a CPU-only torch build, or no driver); "
                         "use --device cpu or auto")
    if choice is DeviceChoice.CPU or not cuda:
        return torch.device("cpu")
    return torch.device("cuda", local_rank() if rank_on_node is None else rank_on_node)


def check_precision(device: torch.device, precision: Precision) -> None:
    """fp16 autocast on the CPU is neither faster nor supported by the gradient scaler."""
    if precision is Precision.FP16 and device.type != "cuda":
        raise ValueError("--precision fp16 needs a CUDA device (--device cuda); on the CPU use bf16 or fp32")


def backend_for(device: torch.device) -> str:
    """The process-group backend for ranks on this device."""
    return "nccl" if device.type == "cuda" else "gloo"


def autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager:
    """Mixed precision for a forward pass on ``device`` (a no-op context for fp32)."""
    if precision is Precision.FP32:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision is Precision.BF16 else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: Precision) -> torch.amp.GradScaler:
    """Loss scaling, on only for fp16 (bf16 has fp32's exponent range and needs none)."""
    return torch.amp.GradScaler(device.type, enabled=precision is Precision.FP16)


def seed_everything(seed: int) -> None:
    """Seed python, numpy's global and torch's generators (crops and BAG-CP draw from their own
    per-step ``default_rng([seed, epoch, step])``, so they follow the seed too)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
