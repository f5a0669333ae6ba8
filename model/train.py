"""Training loop: crops -> losses -> AdamW with warm-up + cosine decay; validation each epoch;
atomic, resumable checkpoints; events (see docs/architecture.md "Training events") via a callback.

Run folder: ``last.pt`` (resume state, written at every epoch end and on interruption),
``best.safetensors`` (best val mAP07, with metadata) and ``events.jsonl`` (a copy of the events).
A stop request (SIGINT/SIGTERM in the CLI) is honoured after the current step: the state is saved,
``train`` returns with ``interrupted=True``, and ``--resume`` continues at the next step.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np
import torch

from core.errors import CheckpointError
from model.checkpoint import load_state, save_state, save_weights
from model.config import BafeConfig, preset
from model.data import CropSampler, Sample, whole_frame_batch
from model.losses import compute_losses, sky_loss
from model.net import BafeNet
from model.validate import validate

LOSS_KEYS = ("cls", "box", "ctr", "sky", "total")
Emit = Callable[[dict], None]
Batch = tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]


class Precision(Enum):
    FP32 = "fp32"
    BF16 = "bf16"  # CPU autocast: convs and matmuls in bfloat16 (AMX), weights and optimiser in fp32


def train_step(net: torch.nn.Module, optim: torch.optim.Optimizer, batch: Batch, cfg: BafeConfig,
               precision: Precision = Precision.FP32, channels_last: bool = False,
               whole: tuple[torch.Tensor, torch.Tensor] | None = None,
               sync: Callable[[torch.nn.Module], None] | None = None) -> dict[str, torch.Tensor]:
    """One optimiser step on a crop batch (all four losses) plus, optionally, a batch of whole
    downscaled frames that adds their sky loss (their targets are too small to detect at that scale).
    ``sync(net)`` runs between backward and the step (the distributed trainer averages the gradients
    over its ranks there)."""
    images, boxes, sky = batch
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision is Precision.BF16):
        out = net(images)
        if whole is not None:
            whole_out = net(whole[0].contiguous(memory_format=torch.channels_last) if channels_last else whole[0])
    out = {k: [t.float() for t in v] for k, v in out.items()}
    losses = compute_losses(out, boxes, sky, cfg)
    if whole is not None and whole_out["sky"]:
        losses["sky_whole"] = sky_loss([t.float() for t in whole_out["sky"]], whole[1])
        losses["total"] = losses["total"] + losses["sky_whole"]
    optim.zero_grad(set_to_none=True)
    losses["total"].backward()
    if sync is not None:
        sync(net)
    torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
    optim.step()
    return losses


@dataclass
class TrainOptions:
    out: Path
    preset: str = "default"
    epochs: int = 12
    batch: int = 8
    crop: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 100
    repeats: int = 1  # crops drawn per training image per epoch
    seed: int = 0
    resume: bool = False
    time_budget_min: float | None = None
    overrides: dict = field(default_factory=dict)
    init_weights: Path | None = None  # start from these weights (fine-tuning); ignored on resume
    precision: Precision = Precision.FP32
    channels_last: bool = False
    whole_frames: int = 0  # whole downscaled frames per step (sky loss only), next to the crops
    whole_long_side: int = 384  # their long side in pixels


@dataclass
class TrainResult:
    best_weights: Path | None
    val: dict
    interrupted: bool
    epochs_done: int


def lr_at(step: int, progress: float, base: float, warmup: int) -> float:
    """Linear warm-up over the first steps, then cosine decay to 1% of base as progress goes 0 -> 1."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = min(max(progress, 0.0), 1.0)
    return base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def seed_everything(seed: int) -> None:
    """Seed python, numpy's global and torch's generators (crops and BAG-CP draw from their own
    per-step ``default_rng([seed, epoch, step])``, so they follow the seed too)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """One training run in one folder."""

    def __init__(self, opts: TrainOptions, train: list[Sample], val: list[Sample], sampler: CropSampler,
                 emit: Emit, stop: Callable[[], bool]) -> None:
        self.opts, self.train_set, self.val_set, self.sampler = opts, train, val, sampler
        self.emit, self.stop = emit, stop
        self.out = Path(opts.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self._parent_sky_threshold = 0.5  # the sky threshold stored when no validation picks one
        self._keep_sky_threshold = False
        self.cfg: BafeConfig = preset(opts.preset, **(self._inherited(opts) | opts.overrides))
        self.steps = max(1, math.ceil(len(train) * opts.repeats / opts.batch))
        seed_everything(opts.seed)  # before the network exists: its initial weights come from torch's generator
        self.state = {"epoch": 0, "step": 0, "best_map": -1.0, "best_val": {}, "elapsed_s": 0.0, "history": [],
                      # saved with the state, so a resumed fine-tune still knows its parent's sky threshold
                      "parent_sky": {"threshold": self._parent_sky_threshold, "keep": self._keep_sky_threshold}}
        self.net = self._new_net()
        self.optim = torch.optim.AdamW(self.net.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
        if opts.resume:
            self._load()
        elif opts.init_weights is not None:
            self._init_from(Path(opts.init_weights))

    def _inherited(self, opts: TrainOptions) -> dict:
        """The whole config of the weights a fine-tune starts from (``--set`` still overrides): the
        network continues as its parent was built, keeps the sky its parent gave (sky pass, sky
        network, whose tensors carry over and which crop training leaves as it is, clean-up) and,
        until a validation picks new ones, the parent's operating and sky thresholds."""
        if opts.init_weights is None or opts.resume or Path(opts.init_weights).suffix == ".pt":
            return {}
        import dataclasses

        from model.checkpoint import parse_config, read_metadata

        path = Path(opts.init_weights)
        meta = read_metadata(path)
        parent_preset = meta.get("preset")
        if parent_preset is not None and parent_preset != opts.preset:
            raise CheckpointError(f"{path} is a {parent_preset!r} model; fine-tune it with --preset {parent_preset}")
        parent = parse_config(path, meta["config"])
        fields = {f.name: getattr(parent, f.name) for f in dataclasses.fields(parent)}
        thr = meta.get("operating_threshold")
        if thr is not None:
            fields["operating_threshold"] = float(thr)
        self._parent_sky_threshold = float(meta.get("sky_threshold", 0.5))
        # Crop training never moves a sky network: its threshold stays the one chosen for it (a new
        # choice on a few val images would only be noise).
        self._keep_sky_threshold = bool(parent.sky_net)
        return fields

    def _new_net(self) -> BafeNet:
        net = BafeNet(self.cfg)
        return net.to(memory_format=torch.channels_last) if self.opts.channels_last else net

    def _init_from(self, path: Path) -> None:
        """Copy every tensor of a weights file (safetensors or last.pt) whose name and shape fit.

        Switching exchange mode drops or adds the selector convs; everything else carries over.
        """
        from model.checkpoint import load_weights

        tensors = load_state(path)["model"] if path.suffix == ".pt" else load_weights(path)[0]
        own = self.net.state_dict()
        fit = {k: v for k, v in tensors.items() if k in own and own[k].shape == v.shape}
        if len(fit) < len(own) // 2:
            raise CheckpointError(f"{path} shares only {len(fit)} of {len(own)} tensors with this network; "
                                  "pick weights of the same preset")
        self.net.load_state_dict(fit, strict=False)

    def _load(self) -> None:
        st = load_state(self.out / "last.pt")
        self.cfg = BafeConfig.from_json(st["config"])
        self.net = self._new_net()
        self.net.load_state_dict(st["model"])
        self.optim = torch.optim.AdamW(self.net.parameters(), lr=self.opts.lr, weight_decay=self.opts.weight_decay)
        self.optim.load_state_dict(st["optim"])
        self.state = st["progress"]

    def _save(self) -> Path:
        path = self.out / "last.pt"
        save_state(path, {"model": self.net.state_dict(), "optim": self.optim.state_dict(),
                          "config": self.cfg.to_json(), "preset": self.opts.preset, "progress": self.state})
        return path

    def _order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.opts.seed, epoch])
        reps = [rng.permutation(len(self.train_set)) for _ in range(self.opts.repeats)]
        return np.concatenate(reps)

    def _step(self, epoch: int, step: int, progress: float) -> dict[str, float]:
        order = self._order(epoch)
        idx = order[step * self.opts.batch : (step + 1) * self.opts.batch]
        rng = np.random.default_rng([self.opts.seed, epoch, step, 1])
        batch = self.sampler.batch(idx.tolist(), rng)
        whole = None
        if self.opts.whole_frames > 0:
            picks = rng.choice(len(self.train_set), size=self.opts.whole_frames, replace=False)
            whole = whole_frame_batch([self.train_set[int(i)] for i in picks], self.opts.whole_long_side, rng)
        lr = lr_at(epoch * self.steps + step, progress, self.opts.lr, self.opts.warmup_steps)
        for g in self.optim.param_groups:
            g["lr"] = lr
        losses = train_step(self.net, self.optim, batch, self.cfg, self.opts.precision, self.opts.channels_last,
                            whole)
        return {k: float(losses[k].detach()) for k in LOSS_KEYS} | {"lr": lr}

    def _eta(self, t0: float, done_steps: int, total_left: int) -> float:
        """Seconds left: from the step rate of this invocation, capped by the time budget."""
        eta = (time.monotonic() - t0) / max(done_steps, 1) * total_left
        if self.opts.time_budget_min:
            eta = min(eta, max(self.opts.time_budget_min * 60 - self._elapsed(t0, self._base), 0.0))
        return eta

    def _over_budget(self, t0: float, base: float) -> bool:
        """The run's time budget (--time-budget-min, resumes included) is spent."""
        budget = self.opts.time_budget_min
        return budget is not None and self._elapsed(t0, base) > budget * 60

    def _progress(self, epoch: int, step: int, t0: float, base: float) -> float:
        """Fraction of the schedule done: by steps, or by time when a budget is set (whichever is ahead)."""
        frac = (epoch * self.steps + step) / max(self.opts.epochs * self.steps, 1)
        if self.opts.time_budget_min:
            frac = max(frac, self._elapsed(t0, base) / (self.opts.time_budget_min * 60))
        return min(frac, 1.0)

    def _elapsed(self, t0: float, base: float) -> float:
        return base + time.monotonic() - t0

    def run(self) -> TrainResult:
        """Train until the last epoch, a stop request or the time budget; state saved either way."""
        st = self.state
        self.emit({"event": "start", "run_dir": str(self.out), "epochs": self.opts.epochs,
                   "steps_per_epoch": self.steps, "resumed_from_epoch": st["epoch"] if self.opts.resume else 0})
        self.net.train()
        t0, base, done_here = time.monotonic(), st["elapsed_s"], 0
        self._base = base
        sums, n = dict.fromkeys(LOSS_KEYS, 0.0), 0
        while st["epoch"] < self.opts.epochs:
            if st["step"] >= self.steps:
                if not self._end_epoch(self._mean(sums, n), t0, base, done_here):
                    return self._halt(t0, base, interrupted=True)
                sums, n = dict.fromkeys(LOSS_KEYS, 0.0), 0
                continue
            if self.stop():
                return self._halt(t0, base, interrupted=True)
            if self._over_budget(t0, base):
                if n and not self._end_epoch(self._mean(sums, n), t0, base, done_here):  # validate the last weights
                    return self._halt(t0, base, interrupted=True)
                return self._halt(t0, base, interrupted=False)
            rec = self._step(st["epoch"], st["step"], self._progress(st["epoch"], st["step"], t0, base))
            st["step"] += 1
            done_here, n = done_here + 1, n + 1
            for k in LOSS_KEYS:
                sums[k] += rec[k]
            left = (self.opts.epochs - st["epoch"]) * self.steps - st["step"]
            self.emit({"event": "step", "epoch": st["epoch"] + 1, "step": st["step"], "steps": self.steps,
                       "losses": {k: rec[k] for k in LOSS_KEYS}, "lr": rec["lr"],
                       "elapsed_s": self._elapsed(t0, base), "eta_s": self._eta(t0, done_here, left)})
        return self._halt(t0, base, interrupted=False)

    @staticmethod
    def _mean(sums: dict[str, float], n: int) -> dict[str, float]:
        return {k: v / max(n, 1) for k, v in sums.items()}

    def _end_epoch(self, losses: dict, t0: float, base: float, done_here: int) -> bool:
        """Validate, keep the best weights, save; False when a stop request cut validation short."""
        st = self.state
        val: dict = {}
        if self.val_set:
            val = validate(self.net, self.cfg, self.val_set, stop=self.stop)
            if val is None:
                return False
        score = val.get("mAP07", 0.0)
        is_best = not self.val_set or score > st["best_map"]
        st["epoch"] += 1
        st["step"] = 0  # an epoch cut short by the time budget still counts as one
        st["elapsed_s"] = self._elapsed(t0, base)
        st["history"].append({"epoch": st["epoch"], "losses": losses, "val": val})
        if is_best:
            st["best_map"], st["best_val"] = score, val
            thr = val.get("threshold", self.cfg.operating_threshold)
            save_weights(self.out / "best.safetensors", self.net, self.cfg, self.opts.preset,
                         val=val, epoch=st["epoch"], operating_threshold=str(thr),
                         sky_threshold=str(self._sky_threshold(val)))
        left = (self.opts.epochs - st["epoch"]) * self.steps
        self.emit({"event": "epoch", "epoch": st["epoch"], "losses": losses, "val": val, "best": is_best,
                   "elapsed_s": st["elapsed_s"], "eta_s": self._eta(t0, done_here, left)})
        if is_best:
            self.emit({"event": "checkpoint", "path": str(self.out / "best.safetensors"),
                       "epoch": st["epoch"], "best": True})
        path = self._save()
        self.emit({"event": "checkpoint", "path": str(path), "epoch": st["epoch"], "best": False})
        return True

    def _sky_threshold(self, val: dict) -> float:
        parent = self.state.get("parent_sky") or {"threshold": 0.5, "keep": False}  # older last.pt: none
        if parent["keep"] or "sky_threshold" not in val:
            return float(parent["threshold"])
        return float(val["sky_threshold"])

    def _halt(self, t0: float, base: float, interrupted: bool) -> TrainResult:
        """Save the resume state; on a normal end (last epoch or time budget) emit "done"."""
        self.state["elapsed_s"] = self._elapsed(t0, base)
        path = self._save()
        self.emit({"event": "checkpoint", "path": str(path), "epoch": self.state["epoch"], "best": False})
        best = self.out / "best.safetensors"
        best_path = best if best.exists() else None
        if not interrupted:
            self.emit({"event": "done", "best_weights": str(best_path or ""), "val": self.state["best_val"],
                       "elapsed_s": self.state["elapsed_s"]})
        return TrainResult(best_path, self.state["best_val"], interrupted, self.state["epoch"])
