"""The device logic without a GPU: torch.cuda.is_available faked, the chosen device, process-group
backend, autocast and gradient scaling asserted for a CUDA machine and for this CPU one."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from model import distributed
from model.device import (
    DeviceChoice,
    Precision,
    autocast,
    backend_for,
    check_precision,
    grad_scaler,
    pick_device,
)


@pytest.fixture
def cuda_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # asked by autocast(bf16)
    monkeypatch.setenv("LOCAL_RANK", "1")


def test_a_cuda_machine_trains_on_its_gpu_with_nccl(cuda_machine, monkeypatch) -> None:
    device = pick_device(DeviceChoice.AUTO)
    assert device == torch.device("cuda", 1)  # cuda:LOCAL_RANK: one GPU per process
    assert pick_device(DeviceChoice.CUDA, 0) == torch.device("cuda", 0)
    assert pick_device(DeviceChoice.CPU) == torch.device("cpu")  # asked for: the CPU even with a GPU
    assert backend_for(device) == "nccl"
    ctx = autocast(device, Precision.FP16)
    assert isinstance(ctx, torch.autocast) and ctx.device == "cuda" and ctx.fast_dtype == torch.float16
    assert autocast(device, Precision.BF16).fast_dtype == torch.bfloat16
    check_precision(device, Precision.FP16)  # allowed on CUDA
    calls: dict = {}
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend: calls.setdefault("backend", backend))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.setdefault("device", d))
    assert distributed.init_process_group(device) == (1, 2)
    assert calls == {"backend": "nccl", "device": torch.device("cuda", 1)}


def test_this_cpu_machine_trains_on_the_cpu_with_gloo(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    device = pick_device(DeviceChoice.AUTO)
    assert device == torch.device("cpu") and backend_for(device) == "gloo"
    ctx = autocast(device, Precision.BF16)
    assert ctx.device == "cpu" and ctx.fast_dtype == torch.bfloat16
    with autocast(device, Precision.FP32):
        assert not torch.is_autocast_enabled("cpu")
    assert not grad_scaler(device, Precision.BF16).is_enabled()
    with pytest.raises(ValueError, match="--device cuda: torch sees no CUDA GPU"):
        pick_device(DeviceChoice.CUDA)
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        check_precision(device, Precision.FP16)


def test_train_refuses_a_missing_gpu_before_starting(tmp_path, monkeypatch, capsys) -> None:
    import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main.main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--device", "cuda"])
    assert code == 2 and "torch sees no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "run" / "last.pt").exists()
    code = main.main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r2"), "--precision", "fp16",
                      "--device", "cpu"])
    assert code == 2 and "fp16 needs a CUDA device" in capsys.readouterr().err
