"""Training of the whole-frame sky network (model.skynet) on whole shrunk frames, detector frozen.

``main.py train-sky``: start from a BafeNet weights file, give it a ``sky_net`` (initialised from
the detector's backbone, FPN and sky head), train only that on whole frames shrunk to a long side
around ``cfg.sky_pass_long_side`` (scale jitter, horizontal flips), validate the sky figures on the
validation split after every epoch, and write the detector's weights plus the best sky network as
one weights file. The detector's tensors are copied unchanged, so detection cannot move.

Run folder: ``last.pt`` (resume: the sky network, optimiser, weight average and progress),
``best.safetensors`` (the whole network at the epoch with the best ``selection_score``: the mean of
the pooled, per-image median and large-frame sky IoU), ``events.jsonl`` via the callback. With
``ema`` > 0 an exponential moving average of the weights is what is validated and exported: at a
long side of 448 the plain weights' median IoU swings by +-0.005 from one epoch to the next.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.errors import CheckpointError
from model.card_meta import merged_sky
from model.checkpoint import build_from_weights, load_state, read_metadata, save_state, save_weights
from model.config import BafeConfig
from model.data import SKY_IGNORE, Sample, shrunk_sky_batch
from model.frames import downscale
from model.skynet import SkyNet, init_from_detector
from model.train import lr_at, seed_everything
from model.validate import validate_sky

Emit = Callable[[dict], None]
DEFAULT_LONG_SIDE = 448  # the shipped sky network's (MODEL.md: 448 beat 320 on every sky figure)


@dataclass
class SkyTrainOptions:
    out: Path
    weights: Path  # the detector (any BafeNet weights file); its tensors are carried over unchanged
    long_side: int | None = None  # None: that of the sky network it starts from, else DEFAULT_LONG_SIDE
    jitter: float = 0.2  # training long side drawn from long_side * [1 - jitter, 1 + jitter]
    batch: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.01
    epochs: int = 20
    warmup_steps: int = 20
    time_budget_min: float | None = None
    seed: int = 0
    resume: bool = False
    sky_from: Path | None = None  # start the sky network from this weights file's sky network
    sky_average: tuple[Path, ...] = ()  # or from the mean of these epoch states' sky networks (epoch_NNN.pt)
    keep_epochs: bool = False  # write RUN/epoch_NNN.pt (the state after each epoch) for a later --sky-average
    ema: float = 0.0  # decay of an exponential moving average of the weights (0: off); validated and exported


class ShrunkFrames:
    """Labelled frames kept shrunk to the largest training long side (the rest is resized per step)."""

    def __init__(self, samples: list[Sample], max_long_side: int) -> None:
        self.items: list[tuple[np.ndarray, np.ndarray]] = []
        areas = []
        for s in samples:
            if (s.sky == SKY_IGNORE).all():
                continue  # no sky label: nothing to learn from
            img = downscale(s.image, max_long_side)
            sky = cv2.resize(s.sky, img.shape[::-1], interpolation=cv2.INTER_NEAREST)
            self.items.append((img, sky))
            areas.append(float(s.image.size))
        # Pooled IoU counts full-resolution pixels, so a 1280x1024 frame weighs 20x a 300x250 one;
        # the square root of that share keeps small frames (the per-image median) in the game.
        a = np.asarray(areas or [1.0])
        self.weights = np.sqrt(a / a.mean()).astype(np.float32)

    def __len__(self) -> int:
        return len(self.items)

    def batch(self, idx: list[int], long_side: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [B, 1, H, W] (zero-padded to multiples of 32) and sky [B, H, W] (SKY_IGNORE padding)."""
        return shrunk_sky_batch([self.items[i] for i in idx], long_side, rng)


def sky_net_loss(logits: torch.Tensor, sky: torch.Tensor, weights: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(weighted mean, per-image values) of BCE plus a soft-IoU term (the IoU is what the annotator
    and the bars count), on labelled pixels of the logits upsampled to the input."""
    up = F.interpolate(logits, size=sky.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    valid = (sky != SKY_IGNORE).float()
    target = (sky == 1).float()
    n = valid.sum(dim=(1, 2)).clamp_min(1.0)
    bce = (F.binary_cross_entropy_with_logits(up, target, reduction="none") * valid).sum(dim=(1, 2)) / n
    p = torch.sigmoid(up) * valid
    t = target * valid
    inter = (p * t).sum(dim=(1, 2))
    union = (p + t - p * t).sum(dim=(1, 2))
    per_image = bce + 1.0 - (inter + 1.0) / (union + 1.0)
    w = torch.ones_like(per_image) if weights is None else weights
    return (per_image * w).sum() / w.sum(), per_image.detach()


def selection_score(val: dict[str, float]) -> float:
    """What picks the best epoch: the mean of the three sky figures the issue-12 bars are set on
    (pooled IoU, per-image median, pooled over the 1280x1024 frames when there are any), so an epoch
    that wins the pooled IoU by losing the typical frame is not kept."""
    keys = [k for k in ("sky_iou", "sky_median", "sky_large") if k in val]
    return float(np.mean([val[k] for k in keys])) if keys else 0.0


class WeightAverage:
    """Exponential moving average of a module's parameters and buffers (BatchNorm statistics too),
    with the usual warm-up (decay min(d, (1 + n) / (10 + n)) after n updates)."""

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        import copy

        self.decay, self.updates = decay, 0
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for avg, cur in zip(self.module.state_dict().values(), module.state_dict().values(), strict=True):
            if avg.dtype.is_floating_point:
                avg.mul_(d).add_(cur.detach(), alpha=1 - d)
            else:
                avg.copy_(cur)


def average_states(paths: list[Path]) -> tuple[dict[str, torch.Tensor], BafeConfig]:
    """The mean of the sky networks of several epoch states (floating tensors averaged, BatchNorm
    statistics included; integer counters from the last) and the last one's config. Late epochs
    of one run, averaged, vary less from one to the next than any single epoch (MODEL.md)."""
    if not paths:
        raise CheckpointError("no epoch states to average")
    states = [load_state(Path(p)) for p in paths]
    first = states[0]["model"]
    for p, st in zip(paths, states, strict=True):
        if set(st["model"]) != set(first) or any(st["model"][k].shape != v.shape for k, v in first.items()):
            raise CheckpointError(f"{p} holds a different sky network from {paths[0]}; average states of one run")
    mean = {k: (sum(st["model"][k] for st in states) / len(states)) if v.is_floating_point()
            else states[-1]["model"][k] for k, v in first.items()}
    return mean, BafeConfig.from_json(states[-1]["config"])


def evaluate_sky(sky_net: torch.nn.Module, cfg: BafeConfig, samples: list[Sample]) -> dict[str, float]:
    """Pooled sky IoU at the best threshold, then per-image median and large-frame IoU of the
    cleaned proposal at that threshold, through the Predictor (model.validate.validate_sky)."""
    return validate_sky(sky_net, cfg, samples)


class SkyTrainer:
    """One sky-network run in one folder (resumable, time-budgeted, best kept by val sky IoU)."""

    def __init__(self, opts: SkyTrainOptions, train: list[Sample], val: list[Sample], emit: Emit,
                 stop: Callable[[], bool], overrides: dict | None = None) -> None:
        self.opts, self.emit, self.stop = opts, emit, stop
        self.out = Path(opts.out)
        self.out.mkdir(parents=True, exist_ok=True)
        seed_everything(opts.seed)
        self.net, cfg, self.meta = build_from_weights(Path(opts.weights))
        resumed = load_state(self.out / "last.pt") if opts.resume else None  # read once, used twice
        averaged = average_states(list(opts.sky_average)) if opts.sky_average and resumed is None else None
        self.long_side = opts.long_side or self._start_long_side(cfg, resumed, averaged)
        self.cfg = dataclasses.replace(cfg, sky_net=True, sky_pass_long_side=self.long_side,
                                       sky_pass_weight=1.0, **(overrides or {}))
        detector = {k: v for k, v in self.net.state_dict().items() if not k.startswith("sky_net.")}
        if self.net.sky_net is None:
            self.net.sky_net = SkyNet(self.cfg)
            init_from_detector(self.net.sky_net, detector)
        self.net.cfg = self.cfg
        self.sky = self.net.sky_net
        self.sky.flip = self.cfg.sky_flip  # a network loaded with the weights was built with their config
        if opts.sky_from is not None:
            self._load_sky_from(Path(opts.sky_from))
        elif averaged is not None:
            self.sky.load_state_dict(averaged[0])
        self.train_set = ShrunkFrames(train, int(math.ceil(self.long_side * (1 + opts.jitter))))
        if not len(self.train_set):
            raise CheckpointError("no training image has a sky label; the sky network has nothing to learn")
        self.val = val
        self.steps = max(1, math.ceil(len(self.train_set) / opts.batch))
        self.optim = torch.optim.AdamW(self.sky.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
        self.average = WeightAverage(self.sky, opts.ema) if opts.ema > 0 else None
        self.state = {"epoch": 0, "step": 0, "best": -1.0, "best_val": {}, "elapsed_s": 0.0, "history": [],
                      "frame_loss": [1.0] * len(self.train_set)}
        if resumed is not None:
            st = resumed
            self.sky.load_state_dict(st["model"])
            self.optim.load_state_dict(st["optim"])
            self.state = st["progress"]
            if self.average is not None and "average" in st:
                self.average.module.load_state_dict(st["average"])
                self.average.updates = self.state.get("average_updates", 0)

    def _start_long_side(self, cfg: BafeConfig, resumed: dict | None,
                         averaged: tuple[dict, BafeConfig] | None) -> int:
        """The long side of the sky network training starts from: the checkpoint's on a resume,
        else --sky-from's or the averaged epochs', else the weights' (DEFAULT_LONG_SIDE for none)."""
        if resumed is not None:
            return BafeConfig.from_json(resumed["config"]).sky_pass_long_side
        if self.opts.sky_from is not None:
            cfg = BafeConfig.from_json(read_metadata(Path(self.opts.sky_from))["config"])
        elif averaged is not None:
            cfg = averaged[1]
        return cfg.sky_pass_long_side if cfg.sky_net else DEFAULT_LONG_SIDE

    def _load_sky_from(self, path: Path) -> None:
        from model.checkpoint import load_weights

        tensors = load_weights(path)[0]
        sky = {k[len("sky_net."):]: v for k, v in tensors.items() if k.startswith("sky_net.")}
        if not sky:
            raise CheckpointError(f"{path} has no sky network; train one with `main.py train-sky`")
        try:
            self.sky.load_state_dict(sky)
        except RuntimeError as exc:
            raise CheckpointError(f"the sky network of {path} does not fit this one ({exc})") from exc

    def _order(self, epoch: int) -> np.ndarray:
        """An epoch's frames: half a plain permutation, half drawn in proportion to each frame's last
        loss (hard frames, such as bright clouds that look like ground, come back more often)."""
        n = len(self.train_set)
        rng = np.random.default_rng([self.opts.seed, epoch])
        loss = np.asarray(self.state["frame_loss"], np.float64) + 1e-3
        hard = rng.choice(n, size=n - n // 2, p=loss / loss.sum())
        order = np.concatenate([rng.permutation(n)[: n // 2], hard])
        return order[rng.permutation(n)]

    def _save(self) -> None:
        state = {"model": self.sky.state_dict(), "optim": self.optim.state_dict(), "config": self.cfg.to_json(),
                 "progress": self.state}
        if self.average is not None:
            state["average"] = self.average.module.state_dict()
            self.state["average_updates"] = self.average.updates
        save_state(self.out / "last.pt", state)
        if self.opts.keep_epochs and self.state["step"] == 0 and self.state["epoch"] > 0:
            save_state(self.out / f"epoch_{self.state['epoch']:03d}.pt", state)

    def _progress(self, elapsed: float) -> float:
        st = self.state
        frac = (st["epoch"] * self.steps + st["step"]) / max(self.opts.epochs * self.steps, 1)
        if self.opts.time_budget_min:
            frac = max(frac, elapsed / (self.opts.time_budget_min * 60))
        return min(frac, 1.0)

    def run(self) -> dict:
        st, opts = self.state, self.opts
        t0, base = time.monotonic(), st["elapsed_s"]
        elapsed = lambda: base + time.monotonic() - t0  # noqa: E731
        self.emit({"event": "start", "run_dir": str(self.out), "epochs": opts.epochs,
                   "steps_per_epoch": self.steps, "frames": len(self.train_set)})
        self.sky.train()
        if opts.epochs == 0 and not opts.resume:  # no training: validate and export what is there
            self._end_epoch(0.0)
        while st["epoch"] < opts.epochs:
            over = opts.time_budget_min is not None and elapsed() > opts.time_budget_min * 60
            if st["step"] >= self.steps or (over and st["step"] > 0):
                self._end_epoch(elapsed())
                if over:
                    break
                continue
            if over or self.stop():
                break
            rng = np.random.default_rng([opts.seed, st["epoch"], st["step"]])
            if st["step"] == 0 or not st.get("order"):  # drawn once per epoch, kept for a resume
                st["order"] = self._order(st["epoch"]).tolist()
            idx = st["order"][st["step"] * opts.batch: (st["step"] + 1) * opts.batch]
            side = int(round(self.long_side * rng.uniform(1 - opts.jitter, 1 + opts.jitter)))
            x, sky = self.train_set.batch(idx, side, rng)
            lr = lr_at(st["epoch"] * self.steps + st["step"], self._progress(elapsed()), opts.lr, opts.warmup_steps)
            for g in self.optim.param_groups:
                g["lr"] = lr
            w = torch.from_numpy(self.train_set.weights[idx])
            loss, per_image = sky_net_loss(self.sky(x), sky, w)
            for i, v in zip(idx, per_image.tolist(), strict=True):
                st["frame_loss"][i] = v
            self.optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.sky.parameters(), 10.0)
            self.optim.step()
            if self.average is not None:
                self.average.update(self.sky)
            st["step"] += 1
            self.emit({"event": "step", "epoch": st["epoch"] + 1, "step": st["step"], "steps": self.steps,
                       "loss": float(loss.detach()), "lr": lr, "long_side": side, "elapsed_s": elapsed()})
        st["elapsed_s"] = elapsed()
        self._save()
        return st["best_val"]

    def _end_epoch(self, elapsed: float) -> None:
        st = self.state
        kept = self.sky if self.average is None else self.average.module  # what is validated and exported
        val = evaluate_sky(kept, self.cfg, self.val) if self.val else {}
        st["epoch"] += 1
        st["step"] = 0
        st["elapsed_s"] = elapsed
        st["history"].append({"epoch": st["epoch"], "val": val})
        score = selection_score(val)
        best = not self.val or score > st["best"]
        if best:
            st["best"], st["best_val"] = score, val
            self.net.sky_net = kept
            try:
                self.export(self.out / "best.safetensors", val)
            finally:
                self.net.sky_net = self.sky
        self.emit({"event": "epoch", "epoch": st["epoch"], "val": val, "best": best, "elapsed_s": elapsed})
        self._save()

    def export(self, path: Path, val: dict) -> None:
        """The detector's tensors and metadata as they came, plus this sky network and its figures."""
        meta = {k: v for k, v in self.meta.items() if k not in ("config", "preset", "format")}
        meta["sky_threshold"] = str(val.get("sky_threshold", meta.get("sky_threshold", 0.5)))
        # one set of figures: the sky network's replace the detector's own-head sky figures (model.card_meta)
        meta["val"] = merged_sky(meta.get("val"), {k: round(float(v), 4) for k, v in val.items()})
        meta.pop("sky_val", None)
        preset = read_metadata(Path(self.opts.weights)).get("preset", "default")
        save_weights(path, self.net, self.cfg, preset, **meta)
