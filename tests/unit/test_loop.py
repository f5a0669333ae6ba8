"""model.loop with a toy task (a linear model, mean squared error): the warm-up + cosine rates of
LambdaLR and the EMA of AveragedModel against hand-derived values, and an interrupted + resumed
run against an uninterrupted one (weights, average and rates)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from model.checkpoint import load_state
from model.loop import Loop, LoopOptions, StepContext, resume_state
from model.schedule import ema, mean_of

X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0], [0.5, 0.5], [-1.0, 2.0]])
Y = torch.tensor([1.0, -1.0, 0.0, 3.0, 0.0, -3.0])  # y = x0 - x1


class LinearTask:
    """y = w . x on the six rows above, two rows per step (all of them per epoch)."""

    loss_keys = ("total",)
    steps_per_epoch = 3
    batch = 2

    def __init__(self, out: Path, validates: bool = True) -> None:
        self.module = self.forward_module = nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            self.module.weight.copy_(torch.tensor([[0.5, 0.25]]))
        self.best_path = out / "best.safetensors"
        self.validates = validates
        self.seen = 0  # task state that must survive a resume

    def losses(self, model, ctx: StepContext):
        rows = list(range(ctx.step * self.batch, (ctx.step + 1) * self.batch))
        mine = [rows[i] for i in ctx.share(len(rows))]
        self.seen += len(mine)
        pred = model(X[mine].to(ctx.device))[:, 0]
        return {"total": ((pred - Y[mine].to(ctx.device)) ** 2).mean()}, {"rows": mine}

    def evaluate(self, module, stop):
        with torch.no_grad():
            return {"mse": float(((module(X)[:, 0] - Y) ** 2).mean())}

    def score(self, val):
        return -val["mse"]

    def export(self, module, val, epoch):
        save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(self.best_path))
        return self.best_path

    def start_fields(self):
        return {}

    def checkpoint_fields(self):
        return {"config": "{}"}

    def state_dict(self):
        return {"seen": self.seen}

    def load_state_dict(self, state):
        self.seen = state["seen"]


def _loop(out: Path, epochs: int = 2, stop=lambda: False, resume: bool = False, ema_decay: float = 0.0,
          **kw) -> tuple[Loop, list[dict]]:
    opts = LoopOptions(out=out, epochs=epochs, lr=0.1, weight_decay=0.0, warmup_steps=2, resume=resume,
                       ema=ema_decay, **kw)
    events: list[dict] = []
    loop = Loop(LinearTask(out), opts, events.append, stop, resume_state(opts))
    return loop, events


def _cosine(step: int, total: int) -> float:  # by hand: 1% floor, cosine over the whole run
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / total))


def test_rates_follow_the_warm_up_and_the_cosine(tmp_path: Path) -> None:
    loop, events = _loop(tmp_path)
    result = loop.run()
    lrs = [e["lr"] for e in events if e["event"] == "step"]
    # 2 epochs x 3 steps, warm-up 2: 0.1 * 1/2, 0.1 * 2/2, then 0.1 * cosine(step / 6)
    expected = [0.05, 0.1, 0.1 * 0.7525, 0.1 * 0.505, 0.1 * 0.2575, 0.1 * _cosine(5, 6)]
    assert lrs == pytest.approx(expected, rel=1e-9)
    assert [e["event"] for e in events].count("epoch") == 2 and events[-1]["event"] == "done"
    assert not result.interrupted and result.best_weights == tmp_path / "best.safetensors"
    st = load_state(tmp_path / "last.pt")  # weights_only load of everything the loop saves
    assert st["sched"]["last_epoch"] == 6 and st["task"] == {"seen": 12}
    assert st["progress"]["epoch"] == 2 and len(st["progress"]["history"]) == 2


def test_interrupted_and_resumed_run_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    straight, ev0 = _loop(tmp_path / "a", ema_decay=0.8)
    straight.run()
    holder: dict = {}

    def stop_mid_second_epoch() -> bool:
        return (holder["loop"].progress["epoch"], holder["loop"].progress["step"]) == (1, 1)

    first, ev1 = _loop(tmp_path / "b", ema_decay=0.8, stop=stop_mid_second_epoch)
    holder["loop"] = first
    assert first.run().interrupted
    second, ev2 = _loop(tmp_path / "b", ema_decay=0.8, resume=True)
    assert second.run().epochs_done == 2 and ev2[0]["resumed_from_epoch"] == 1
    lrs = lambda evs: [e["lr"] for e in evs if e["event"] == "step"]  # noqa: E731
    assert lrs(ev1) + lrs(ev2) == lrs(ev0)
    assert torch.equal(straight.task.module.weight, second.task.module.weight)
    assert torch.equal(straight.average.module.weight, second.average.module.weight)
    assert second.task.seen == straight.task.seen == 12
    assert not torch.equal(second.average.module.weight, second.task.module.weight)  # it is an average


def test_longer_resume_stretches_the_cosine(tmp_path: Path) -> None:
    """One epoch, then --resume with --epochs 2: the second epoch's rates are those of a two-epoch
    run from the start (the schedule spans the resumed invocation's epochs)."""
    straight, ev0 = _loop(tmp_path / "s", epochs=2)
    straight.run()
    _loop(tmp_path / "b", epochs=1)[0].run()
    second, ev2 = _loop(tmp_path / "b", epochs=2, resume=True)
    second.run()
    lrs = lambda evs: [e["lr"] for e in evs if e["event"] == "step"]  # noqa: E731
    assert lrs(ev2) == pytest.approx(lrs(ev0)[3:], rel=1e-9)


def test_keep_epochs_and_stop_before_the_first_step(tmp_path: Path) -> None:
    loop, events = _loop(tmp_path, keep_epochs=True)
    loop.run()
    assert sorted(p.name for p in tmp_path.glob("epoch_*.pt")) == ["epoch_001.pt", "epoch_002.pt"]
    assert load_state(tmp_path / "epoch_001.pt")["progress"]["epoch"] == 1
    stopped, ev = _loop(tmp_path / "s", stop=lambda: True)
    res = stopped.run()
    assert res.interrupted and res.best_weights is None and [e["event"] for e in ev] == ["start", "checkpoint"]


def test_weight_average_follows_the_warmed_up_decay() -> None:
    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    with torch.no_grad():
        net[0].weight.fill_(0.0)
    avg = ema(net, decay=0.9)
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[1].num_batches_tracked.fill_(7)
    avg.update_parameters(net)  # decay min(0.9, 2/11): 2/11 * 0 + 9/11 * 1
    assert avg.module[0].weight.item() == pytest.approx(9 / 11)
    assert avg.module[1].num_batches_tracked.item() == 7  # integer buffers are copied, not averaged
    with torch.no_grad():
        net[0].weight.fill_(2.0)
    avg.update_parameters(net)  # decay min(0.9, 3/12) = 0.25
    assert avg.module[0].weight.item() == pytest.approx(0.25 * 9 / 11 + 0.75 * 2.0)
    for _ in range(200):  # long after the warm-up the decay is the one asked for
        avg.update_parameters(net)
    assert avg.module[0].weight.item() == pytest.approx(2.0, abs=1e-6)
    assert not any(p.requires_grad for p in avg.module.parameters())
    assert net[0].weight.item() == 2.0  # the trained module is left alone


def test_mean_of_states_by_hand() -> None:
    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    states = []
    for w, n in ((1.0, 3), (2.0, 4), (6.0, 5)):
        st = {k: v.clone() for k, v in net.state_dict().items()}
        st["0.weight"].fill_(w)
        st["1.running_mean"].fill_(w * 10)
        st["1.num_batches_tracked"].fill_(n)
        states.append(st)
    mean = mean_of(net, states)
    assert mean["0.weight"].item() == pytest.approx(3.0) and mean["1.running_mean"].item() == pytest.approx(30.0)
    assert mean["1.num_batches_tracked"].item() == 5  # the last one's counter
    assert net[0].weight.item() != 3.0  # the module given is only the architecture


def test_a_state_without_schedule_is_refused_clearly(tmp_path: Path) -> None:
    """A last.pt of the old loops (no "sched") cannot continue the schedule: a clear error, in the
    loop and in `train --resume`'s check before anything starts."""
    from app.cli.train import _resume_problem
    from core.errors import CheckpointError
    from model.checkpoint import save_state
    from model.config import preset
    from model.net import BafeNet

    loop, _ = _loop(tmp_path)
    loop.run()
    st = load_state(tmp_path / "last.pt")
    del st["sched"]
    save_state(tmp_path / "last.pt", st)
    with pytest.raises(CheckpointError, match="older version without a learning-rate schedule"):
        _loop(tmp_path, resume=True)
    net = BafeNet(preset("default", fpn_channels=16, gn_groups=4, tower_convs=1, adapter_hidden=8))
    old = {"model": net.state_dict(), "optim": torch.optim.AdamW(net.parameters()).state_dict(),
           "config": net.cfg.to_json(), "progress": {}}
    save_state(tmp_path / "old.pt", old)
    assert "older version without a learning-rate schedule" in _resume_problem(tmp_path / "old.pt")
