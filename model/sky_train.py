"""Training of the whole-frame sky network (model.skynet) on whole shrunk frames, detector frozen.

``main.py train-sky``: start from a BafeNet weights file, give it a ``sky_net`` (initialised from
the detector's backbone, FPN and sky head), train only that on whole frames shrunk to a long side
around ``cfg.sky_pass_long_side`` (scale jitter, horizontal flips), validate the sky figures on the
validation split after every epoch, and write the detector's weights plus the best sky network as
one weights file. The detector's tensors are copied unchanged, so detection cannot move.

The loop (resume, time budget, stop, events, checkpoints, schedule, weight average) is
model/loop.py's; this module is the sky network's task for it.

Run folder: ``last.pt`` (resume: the sky network, optimiser, schedule, weight average and progress),
``best.safetensors`` (the whole network at the epoch with the best ``selection_score``: the mean of
the pooled, per-image median and large-frame sky IoU), ``events.jsonl`` via the callback. With
``ema`` > 0 an exponential moving average of the weights is what is validated and exported: at a
long side of 448 the plain weights' median IoU swings by +-0.005 from one epoch to the next.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.errors import CheckpointError
from model.card_meta import merged_sky
from model.checkpoint import load_state, read_metadata, save_weights
from model.config import BafeConfig
from model.data import SKY_IGNORE, Sample, shrunk_sky_batch
from model.device import DeviceChoice, pick_device, seed_everything
from model.frames import downscale
from model.loop import Loop, LoopOptions, StepContext, resume_state
from model.net import build_from_weights
from model.replay import ParentPull, keep_norm_statistics, mixed_order
from model.schedule import mean_of
from model.skynet import SkyNet, init_from_detector

Emit = Callable[[dict], None]
DEFAULT_LONG_SIDE = 448  # the shipped sky network's (MODEL.md: 448 beat 320 on every sky figure)
BOUNDARY_PX = 4  # half-width (input pixels) of the band around the true outline --boundary-weight stresses


@dataclass(frozen=True)
class SkyAugment:
    """Per-frame training augmentations of the sky network beyond the horizontal flip, each drawn
    with its own probability: an upside-down frame (the sky must not be "whatever is at the top"),
    a down-up blur (shrunk by ``blur_factor`` and back, area then linear) and Gaussian noise of
    ``noise_sigma`` grey levels (of 255)."""

    vflip: float = 0.0
    blur: float = 0.0
    blur_factor: float = 0.5
    noise: float = 0.0
    noise_sigma: float = 3.0

    def apply(self, img: np.ndarray, sky: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(image, sky) of one shrunk frame, augmented; the inputs are not modified."""
        if self.vflip > 0 and rng.random() < self.vflip:
            img, sky = img[::-1], sky[::-1]
        if self.blur > 0 and rng.random() < self.blur:
            h, w = img.shape
            small = cv2.resize(np.ascontiguousarray(img), (max(1, round(w * self.blur_factor)),
                               max(1, round(h * self.blur_factor))), interpolation=cv2.INTER_AREA)
            img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        if self.noise > 0 and rng.random() < self.noise:
            noisy = img + rng.normal(0.0, self.noise_sigma / 255.0, img.shape).astype(np.float32)
            img = np.clip(noisy, 0.0, 1.0).astype(np.float32)
        return img, sky


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
    device: DeviceChoice = DeviceChoice.AUTO
    # Training at the inference scale and robustness (docs/adr/0030); all off by default.
    min_scale: float = 0.0  # a frame keeps at least this share of its long side (cfg.sky_pass_min_scale's rule)
    augment: SkyAugment = dataclasses.field(default_factory=lambda: SkyAugment())
    boundary_weight: float = 0.0  # extra BCE weight on labelled pixels within BOUNDARY_PX of the true outline
    distill_mirror: float = 0.0  # weight of the pull toward the starting network's two looks (mirror_teacher)
    # A fine-tune without forgetting (model/replay.py, ADR 0034): indices into the training samples
    # of the newly corrected images, their share of each batch, the pull toward the starting sky network.
    new: tuple[int, ...] = ()
    new_share: float = 0.0
    l2sp: float = 0.0
    steps_per_epoch: int = 0  # 0: one pass over the frames
    keep_bn_stats: bool = False  # BatchNorm layers normalise with the starting statistics (not updated)


class ShrunkFrames:
    """Labelled frames kept shrunk to the largest training long side (the rest is resized per step)."""

    def __init__(self, samples: list[Sample], max_long_side: int, min_scale: float = 0.0,
                 augment: SkyAugment | None = None, max_jitter: float = 1.0) -> None:
        self.items: list[tuple[np.ndarray, np.ndarray]] = []
        self.source: list[int] = []  # each item's index in ``samples``
        self.long_sides: list[int] = []  # each frame's full-size long side
        self.min_scale = min_scale
        self.augment = augment or SkyAugment()
        areas = []
        for k, s in enumerate(samples):
            if (s.sky == SKY_IGNORE).all():
                continue  # no sky label: nothing to learn from
            self.source.append(k)
            full = max(s.image.shape)
            img = downscale(s.image, max(max_long_side, math.ceil(min_scale * full * max_jitter)))
            sky = cv2.resize(s.sky, img.shape[::-1], interpolation=cv2.INTER_NEAREST)
            self.items.append((img, sky))
            self.long_sides.append(full)
            areas.append(float(s.image.size))
        # Pooled IoU counts full-resolution pixels, so a 1280x1024 frame weighs 20x a 300x250 one;
        # the square root of that share keeps small frames (the per-image median) in the game.
        a = np.asarray(areas or [1.0])
        self.weights = np.sqrt(a / a.mean()).astype(np.float32)

    def __len__(self) -> int:
        return len(self.items)

    def side_of(self, i: int, long_side: int, scale: float) -> int:
        """The long side frame ``i`` is trained at: ``long_side``, or at least ``min_scale`` of its
        full long side times the step's jitter ``scale`` (as the Predictor shrinks it, then jittered)."""
        return max(long_side, int(round(self.min_scale * self.long_sides[i] * scale)))

    def batch(self, idx: list[int], long_side: int, rng: np.random.Generator,
              scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [B, 1, H, W] (zero-padded to multiples of 32) and sky [B, H, W] (SKY_IGNORE padding);
        each frame at ``side_of`` its index, augmented (SkyAugment), then h-flipped at random."""
        frames = []
        for i in idx:
            img, sky = self.items[i]
            img = downscale(img, self.side_of(i, long_side, scale))
            if img.shape != sky.shape:
                sky = cv2.resize(sky, img.shape[::-1], interpolation=cv2.INTER_NEAREST)
            frames.append(self.augment.apply(img, sky, rng))
        return shrunk_sky_batch(frames, max(max(f[0].shape) for f in frames), rng)


def boundary_band(sky: torch.Tensor, radius: int = BOUNDARY_PX) -> torch.Tensor:
    """Float [B, H, W]: 1 on labelled pixels within ``radius`` pixels (a square) of a sky / ground
    change of the label, else 0."""
    target = (sky == 1).float()[:, None]
    valid = (sky != SKY_IGNORE).float()
    k = 2 * radius + 1
    grown = F.max_pool2d(target, k, stride=1, padding=radius)
    shrunk = -F.max_pool2d(-target, k, stride=1, padding=radius)
    # ignored pixels count as neither: a band only where both classes are labelled nearby
    labelled_ground = F.max_pool2d(((sky == 0).float())[:, None], k, stride=1, padding=radius)
    band = (grown - shrunk)[:, 0] * labelled_ground[:, 0]
    return band * valid


def sky_net_loss(logits: torch.Tensor, sky: torch.Tensor, weights: torch.Tensor | None = None,
                 boundary_weight: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(weighted mean, per-image values) of BCE plus a soft-IoU term (the IoU is what the annotator
    and the bars count), on labelled pixels of the logits upsampled to the input. With
    ``boundary_weight`` > 0 the BCE of pixels in the band around the true outline (boundary_band)
    counts 1 + boundary_weight times: the strips along tree lines and roofs that cost the annotator
    a stroke each are few pixels, so a per-pixel loss barely sees them."""
    up = F.interpolate(logits, size=sky.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    valid = (sky != SKY_IGNORE).float()
    target = (sky == 1).float()
    n = valid.sum(dim=(1, 2)).clamp_min(1.0)
    pixel_w = valid if boundary_weight <= 0 else valid * (1.0 + boundary_weight * boundary_band(sky))
    bce = (F.binary_cross_entropy_with_logits(up, target, reduction="none") * pixel_w).sum(dim=(1, 2)) / n
    p = torch.sigmoid(up) * valid
    t = target * valid
    inter = (p * t).sum(dim=(1, 2))
    union = (p + t - p * t).sum(dim=(1, 2))
    per_image = bce + 1.0 - (inter + 1.0) / (union + 1.0)
    w = torch.ones_like(per_image) if weights is None else weights
    return (per_image * w).sum() / w.sum(), per_image.detach()


def mirror_teacher(sky: SkyNet) -> SkyNet:
    """A frozen copy of ``sky`` in eval mode that always takes both looks (frame and mirror averaged):
    the target of --distill-mirror, so one look of the trained network learns what two gave."""
    teacher = copy.deepcopy(sky).eval()
    teacher.flip = True
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def distill_loss(logits: torch.Tensor, target_logits: torch.Tensor, sky: torch.Tensor) -> torch.Tensor:
    """Mean BCE of the logits (upsampled to the label's size) against the teacher's probabilities,
    on the frame's pixels (the label's padding, SKY_IGNORE, excluded)."""
    size = sky.shape[-2:]
    up = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)[:, 0]
    soft = torch.sigmoid(F.interpolate(target_logits, size=size, mode="bilinear", align_corners=False)[:, 0])
    valid = (sky != SKY_IGNORE).float()
    bce = F.binary_cross_entropy_with_logits(up, soft, reduction="none") * valid
    return bce.sum() / valid.sum().clamp_min(1.0)


def selection_score(val: dict[str, float]) -> float:
    """What picks the best epoch: the mean of the three sky figures the issue-12 bars are set on
    (pooled IoU, per-image median, pooled over the 1280x1024 frames when there are any), so an epoch
    that wins the pooled IoU by losing the typical frame is not kept."""
    keys = [k for k in ("sky_iou", "sky_median", "sky_large") if k in val]
    return float(np.mean([val[k] for k in keys])) if keys else 0.0


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
    cfg = BafeConfig.from_json(states[-1]["config"])
    return mean_of(SkyNet(cfg), [st["model"] for st in states]), cfg


# How a run scores its epochs: model.validate.validate_sky (pooled sky IoU at the best threshold,
# then per-image median and large-frame IoU of the cleaned proposal, through the Predictor), passed
# in by the caller so training stands on the floor below prediction (ADR 0029).
ValidateSky = Callable[[torch.nn.Module, BafeConfig, list[Sample]], dict[str, float]]


class SkyTask:
    """The sky network of a weights file on whole shrunk frames (the loop's task)."""

    loss_keys = ("total",)

    def __init__(self, opts: SkyTrainOptions, train: list[Sample], val: list[Sample],
                 overrides: dict | None, resumed: dict | None, validate: ValidateSky) -> None:
        self.opts = opts
        self.validate = validate
        self.best_path = Path(opts.out) / "best.safetensors"
        seed_everything(opts.seed)
        self.net, cfg, self.meta = build_from_weights(Path(opts.weights))
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
        self.train_set = ShrunkFrames(train, int(math.ceil(self.long_side * (1 + opts.jitter))),
                                      opts.min_scale, opts.augment, 1 + opts.jitter)
        if not len(self.train_set):
            raise CheckpointError("no training image has a sky label; the sky network has nothing to learn")
        self.val = val
        self.validates = bool(val)
        self.steps_per_epoch = opts.steps_per_epoch or max(1, math.ceil(len(self.train_set) / opts.batch))
        self.module = self.forward_module = self.sky
        wanted = set(opts.new)
        self.new_items = [i for i, k in enumerate(self.train_set.source) if k in wanted]
        self.pull = ParentPull(self.sky, opts.l2sp) if opts.l2sp > 0 else None  # the starting sky network
        self.teacher = mirror_teacher(self.sky) if opts.distill_mirror > 0 else None
        self.frame_loss = [1.0] * len(self.train_set)
        self.order: list[int] = []

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
        if self.new_items and self.opts.new_share > 0:  # a fixed share of each batch for the new frames
            old = sorted(set(range(n)) - set(self.new_items))
            return mixed_order(self.new_items, old, self.opts.batch, self.opts.new_share, self.steps_per_epoch, rng)
        length = self.steps_per_epoch * self.opts.batch
        if self.opts.steps_per_epoch and length > n:  # a set epoch length longer than one pass
            return np.concatenate([self._order_pass(rng) for _ in range(-(-length // n))])
        return self._order_pass(rng)

    def _order_pass(self, rng: np.random.Generator) -> np.ndarray:
        n = len(self.train_set)
        loss = np.asarray(self.frame_loss, np.float64) + 1e-3
        hard = rng.choice(n, size=n - n // 2, p=loss / loss.sum())
        order = np.concatenate([rng.permutation(n)[: n // 2], hard])
        return order[rng.permutation(n)]

    # ---- the loop's hooks ----------------------------------------------------------------------
    def losses(self, model: torch.nn.Module, ctx: StepContext) -> tuple[dict[str, torch.Tensor], dict]:
        opts = self.opts
        if opts.keep_bn_stats:
            keep_norm_statistics(self.sky)
        rng = np.random.default_rng([opts.seed, ctx.epoch, ctx.step])
        if ctx.step == 0 or not self.order:  # drawn once per epoch, kept for a resume
            self.order = self._order(ctx.epoch).tolist()
        idx = self.order[ctx.step * opts.batch: (ctx.step + 1) * opts.batch]
        scale = rng.uniform(1 - opts.jitter, 1 + opts.jitter)
        side = int(round(self.long_side * scale))
        x, sky = self.train_set.batch(idx, side, rng, scale)
        w = torch.from_numpy(self.train_set.weights[idx])
        with ctx.autocast():
            logits = model(x.to(ctx.device))
        loss, per_image = sky_net_loss(logits.float(), sky.to(ctx.device), w.to(ctx.device), opts.boundary_weight)
        extra = {"long_side": side}
        if self.teacher is not None:
            with torch.no_grad():
                self.teacher.to(ctx.device)
                target = self.teacher(x.to(ctx.device)).float()
            distill = distill_loss(logits.float(), target, sky.to(ctx.device))
            loss = loss + opts.distill_mirror * distill
            extra["distill"] = float(distill.detach())
        for i, v in zip(idx, per_image.tolist(), strict=True):
            self.frame_loss[i] = v
        if self.pull is not None:
            pull = self.pull(self.sky)
            loss = loss + pull
            extra["l2sp"] = float(pull.detach())
        return {"total": loss}, extra

    def evaluate(self, module: torch.nn.Module, stop: Callable[[], bool]) -> dict | None:
        return self.validate(module, self.cfg, self.val)

    def score(self, val: dict) -> float:
        return selection_score(val)

    def export(self, module: torch.nn.Module, val: dict, epoch: int) -> Path:
        """The detector's tensors and metadata as they came, plus ``module`` (on the CPU) as the sky
        network and its figures, at ``best_path``."""
        meta = {k: v for k, v in self.meta.items() if k not in ("config", "preset", "format")}
        meta["sky_threshold"] = str(val.get("sky_threshold", meta.get("sky_threshold", 0.5)))
        # one set of figures: the sky network's replace the detector's own-head sky figures (model.card_meta)
        meta["val"] = merged_sky(meta.get("val"), {k: round(float(v), 4) for k, v in val.items()})
        meta.pop("sky_val", None)
        preset = read_metadata(Path(self.opts.weights)).get("preset", "default")
        self.net.sky_net = module
        try:
            # the detector's rescorer and its threshold stay together (ADR 0042; its sky weights are small:
            # python -m model.rescore_fit refits it for a shipped file)
            save_weights(self.best_path, self.net, self.cfg, preset, rescore=self.cfg.rescore, **meta)
        finally:
            self.net.sky_net = self.sky
        return self.best_path

    def start_fields(self) -> dict:
        return {"frames": len(self.train_set)}

    def checkpoint_fields(self) -> dict:
        return {"config": self.cfg.to_json()}

    def state_dict(self) -> dict:
        state = {"frame_loss": list(self.frame_loss), "order": list(self.order)}
        if self.pull is not None:
            state["parent_weights"] = self.pull.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.frame_loss = list(state.get("frame_loss", self.frame_loss))
        self.order = list(state.get("order", []))
        if self.pull is not None and "parent_weights" in state:
            self.pull.load_state_dict(state["parent_weights"])


def sky_loop(opts: SkyTrainOptions, train: list[Sample], val: list[Sample], emit: Emit,
             stop: Callable[[], bool], overrides: dict | None = None, *, validate: ValidateSky) -> Loop:
    """The loop of one sky-network run, its epochs scored on ``val`` by ``validate``."""
    loop_opts = LoopOptions(out=Path(opts.out), epochs=opts.epochs, lr=opts.lr, weight_decay=opts.weight_decay,
                            warmup_steps=opts.warmup_steps, time_budget_min=opts.time_budget_min,
                            resume=opts.resume, keep_epochs=opts.keep_epochs, ema=opts.ema,
                            device=pick_device(opts.device))
    resumed = resume_state(loop_opts)
    task = SkyTask(opts, train, val, overrides, resumed, validate)
    return Loop(task, loop_opts, emit, stop, resumed)
