"""model.loop on DistributedDataParallel: two gloo processes on this machine, the toy task of
test_loop.py. Truths: the first-step gradient and weights derived by hand (and equal to one
process's on the same global batch), and both ranks' weights read back from disk and gathered."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from model import distributed
from model.loop import Loop, LoopOptions
from tests.unit.test_loop import LinearTask

pytestmark = pytest.mark.slow

# Step 0 takes rows 0 and 1 (rank 0 gets row 0, rank 1 row 1). With w = (0.5, 0.25):
# row 0: x (1, 0), y 1: error -0.5 -> gradient 2 * -0.5 * x = (-1, 0)
# row 1: x (0, 1), y -1: error 1.25 -> gradient (0, 2.5)
# mean over the global batch (what one process computes, what DDP's average gives): (-0.5, 1.25)
HAND_GRAD = [-0.5, 1.25]
# AdamW's first step moves each weight by lr * g / |g| (bias corrections cancel); lr 0.1 * 1/2 (warm-up)
HAND_WEIGHT = [0.5 + 0.05, 0.25 - 0.05]


def _opts(out: Path, epochs: int = 1) -> LoopOptions:
    return LoopOptions(out=out, epochs=epochs, lr=0.1, weight_decay=0.0, warmup_steps=2)


def _rank(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        first = Loop(LinearTask(Path(out) / "first"), _opts(Path(out) / "first"), lambda e: None, lambda: False)
        first.step()  # one step at (epoch 0, step 0)
        grad = first.task.module.weight.grad.detach().clone()
        weight = first.task.module.weight.detach().clone()
        run = Loop(LinearTask(Path(out) / "run"), _opts(Path(out) / "run", epochs=2), lambda e: None, lambda: False)
        run.run()
        final = run.task.module.weight.detach().clone()
        gathered = [torch.empty_like(final) for _ in range(world)]
        dist.all_gather(gathered, final)
        torch.save({"grad": grad, "weight": weight, "final": final, "gathered": gathered},
                   Path(out) / f"rank{rank}.pt")
        del first, run  # as the CLI does: the DDP modules go before the group
        distributed.shutdown(wait_for_peers=True)
    finally:
        distributed.shutdown()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_match_one_process_and_each_other(tmp_path: Path) -> None:
    mp.spawn(_rank, args=(2, _port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for r in ranks:
        assert r["grad"][0].tolist() == pytest.approx(HAND_GRAD, abs=1e-6)
        assert r["weight"][0].tolist() == pytest.approx(HAND_WEIGHT, abs=1e-6)
    assert torch.equal(ranks[0]["final"], ranks[1]["final"])  # read back from each rank's file
    assert torch.equal(ranks[0]["gathered"][0], ranks[0]["gathered"][1])  # and gathered in the group
    assert not torch.equal(ranks[0]["final"], ranks[0]["weight"])  # it did train on
    assert (tmp_path / "run" / "last.pt").is_file()  # rank 0 wrote the state
    # one process, the same global batch: the same first gradient and weights
    one = Loop(LinearTask(tmp_path / "one"), _opts(tmp_path / "one"), lambda e: None, lambda: False)
    one.step()
    assert one.task.module.weight.grad[0].tolist() == pytest.approx(HAND_GRAD, abs=1e-6)
    assert torch.allclose(one.task.module.weight, ranks[0]["weight"], atol=1e-7)
    two = Loop(LinearTask(tmp_path / "two"), _opts(tmp_path / "two", epochs=2), lambda e: None, lambda: False)
    two.run()
    assert torch.allclose(two.task.module.weight, ranks[1]["final"], atol=1e-6)
