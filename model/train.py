"""The detector's training task for the one loop (model.loop): crops (plus, optionally, whole
downscaled frames for the sky loss) -> the four losses; validation each epoch; the best weights by
val mAP07 as ``best.safetensors``. Resume, time budget, stop, events, checkpoints, schedule and data
parallelism are the loop's (model/loop.py).

Under DDP every rank draws the same global batch of crops as a single process would (same seeds)
and takes its share (``StepContext.share``): the union over ranks is the one-process batch. Losses
normalise by the positives of a rank's share (model/losses.py), so the curve follows the
one-process curve closely but not bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.errors import CheckpointError
from model.checkpoint import load_state, save_weights
from model.config import BafeConfig, preset
from model.data import CropSampler, Sample, whole_frame_batch
from model.device import DeviceChoice, Precision, pick_device, seed_everything
from model.distill import distill_loss
from model.loop import Loop, LoopOptions, LoopResult, StepContext, resume_state
from model.losses import compute_losses, sky_loss
from model.net import BafeNet
from model.replay import ParentPull, keep_norm_statistics, mixed_order
from model.rescore_choice import RESCORER

# How a run scores its epochs: model.validate.validate (the Predictor's path), passed in by the
# caller, so training stands on the floor below prediction instead of above it (ADR 0029).
Validate = Callable[[torch.nn.Module, BafeConfig, list[Sample], Callable[[], bool]], dict | None]

__all__ = ["LOSS_KEYS", "DetectorTask", "Precision", "TrainOptions", "TrainResult", "detector_loop"]

LOSS_KEYS = ("cls", "box", "ctr", "sky", "total")
Emit = Callable[[dict], None]
TrainResult = LoopResult


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
    device: DeviceChoice = DeviceChoice.AUTO
    keep_epochs: bool = False  # also write RUN/epoch_NNN.pt after each epoch
    # A fine-tune without forgetting (model/replay.py, ADR 0034): indices into the training set of
    # the newly corrected images, the share of each batch they get, and the pull toward the parent.
    new: tuple[int, ...] = ()
    new_share: float = 0.0
    l2sp: float = 0.0
    keep_bn_stats: bool = False  # BatchNorm layers normalise with the parent's statistics (not updated)
    # A lighter detector taught by its parent (model/distill.py): the weight of the soft-target loss
    # of the init weights' detector, frozen (0: labels only).
    distill: float = 0.0


class CropsAndFrames(torch.nn.Module):
    """The detector's training forward: the crop batch and, optionally, the whole frames in one
    call, so DDP sees one forward (and one backward) per step."""

    def __init__(self, net: BafeNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor, whole: torch.Tensor | None = None):
        return self.net(images), (self.net(whole) if whole is not None else None)


class DetectorTask:
    """BAFE-Net on crops; see the module docstring."""

    loss_keys = LOSS_KEYS

    def __init__(self, opts: TrainOptions, train: list[Sample], val: list[Sample], sampler: CropSampler,
                 resumed: dict | None, validate: Validate) -> None:
        self.opts, self.train_set, self.val_set, self.sampler = opts, train, val, sampler
        self.validate = validate
        self.out = Path(opts.out)
        self.best_path = self.out / "best.safetensors"
        self.validates = bool(val)
        self._parent_sky = {"threshold": 0.5, "keep": False}  # the sky threshold stored when no validation picks one
        self._rescorer: dict | None = None  # the last validation's choice (model.validate.RESCORER)
        inherited = self._inherited(opts) if resumed is None else {}
        self.cfg: BafeConfig = (BafeConfig.from_json(resumed["config"]) if resumed is not None
                                else preset(opts.preset, **(inherited | opts.overrides)))
        self.steps_per_epoch = max(1, math.ceil(len(train) * opts.repeats / opts.batch))
        seed_everything(opts.seed)  # before the network exists: its initial weights come from torch's generator
        self.net = BafeNet(self.cfg)
        if opts.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        if self.net.sky_net is not None:  # crop training leaves a sky network as it is (and DDP ignores it)
            self.net.sky_net.requires_grad_(False)
        if resumed is None and opts.init_weights is not None:
            self._init_from(Path(opts.init_weights))
        self.module = self.net
        self.forward_module = CropsAndFrames(self.net)
        self.pull = ParentPull(self.net, opts.l2sp) if opts.l2sp > 0 else None  # the parent's weights, as loaded
        self.teacher = self._teacher(opts) if opts.distill > 0 else None
        if self.teacher is not None:
            self.loss_keys = (*LOSS_KEYS[:-1], "distill", LOSS_KEYS[-1])

    def _inherited(self, opts: TrainOptions) -> dict:
        """The whole config of the weights a fine-tune starts from (``--set`` still overrides): the
        network continues as its parent was built, keeps the sky its parent gave (sky pass, sky
        network, whose tensors carry over and which crop training leaves as it is, clean-up) and,
        until a validation picks new ones, the parent's operating and sky thresholds."""
        if opts.init_weights is None or Path(opts.init_weights).suffix == ".pt":
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
        # Crop training never moves a sky network: its threshold stays the one chosen for it (a new
        # choice on a few val images would only be noise).
        self._parent_sky = {"threshold": float(meta.get("sky_threshold", 0.5)), "keep": bool(parent.sky_net)}
        return fields

    @staticmethod
    def _teacher(opts: TrainOptions) -> BafeNet:
        """The init weights' detector, frozen and in eval mode (on a resume too: the run's teacher)."""
        if opts.init_weights is None or Path(opts.init_weights).suffix != ".safetensors":
            raise CheckpointError("--distill needs --init-weights WEIGHTS.safetensors: the detector that teaches")
        from model.net import build_from_weights

        teacher, _cfg, _meta = build_from_weights(Path(opts.init_weights))
        teacher.sky_net = None  # crops never reach the sky network
        return teacher.requires_grad_(False)

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

    # ---- the loop's hooks ----------------------------------------------------------------------
    def _order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.opts.seed, epoch])
        if self.opts.new and self.opts.new_share > 0:  # a fixed share of each batch for the new images
            new = sorted(set(self.opts.new))
            old = sorted(set(range(len(self.train_set))) - set(new))
            return mixed_order(new, old, self.opts.batch, self.opts.new_share, self.steps_per_epoch, rng)
        reps = [rng.permutation(len(self.train_set)) for _ in range(self.opts.repeats)]
        return np.concatenate(reps)

    def losses(self, model: torch.nn.Module, ctx: StepContext) -> tuple[dict[str, torch.Tensor], dict]:
        opts = self.opts
        if opts.keep_bn_stats:
            keep_norm_statistics(self.net)
        idx = self._order(ctx.epoch)[ctx.step * opts.batch : (ctx.step + 1) * opts.batch]
        rng = np.random.default_rng([opts.seed, ctx.epoch, ctx.step, 1])
        images, boxes, sky = self.sampler.batch(idx.tolist(), rng)  # the global batch, as one process draws it
        if ctx.world > 1:
            mine = ctx.share(len(idx))
            images, boxes, sky = images[mine], [boxes[i] for i in mine], sky[mine]
        whole = None
        if opts.whole_frames > 0:  # drawn as one process draws them (same rng, same order), then shared
            picks = rng.choice(len(self.train_set), size=opts.whole_frames, replace=False)
            wx, wsky = whole_frame_batch([self.train_set[int(i)] for i in picks], opts.whole_long_side, rng)
            share = ctx.share(len(picks))
            whole = (wx[share], wsky[share]) if ctx.world > 1 else (wx, wsky)
        dev = ctx.device
        images = images.to(dev)
        fmt = torch.channels_last if opts.channels_last else torch.contiguous_format
        wx = whole[0].to(dev).contiguous(memory_format=fmt) if whole is not None else None
        with ctx.autocast():
            out, whole_out = model(images.contiguous(memory_format=fmt), wx)
        out = {k: [t.float() for t in v] for k, v in out.items()}
        losses = compute_losses(out, [b.to(dev) for b in boxes], sky.to(dev), self.cfg)
        if self.teacher is not None:
            with torch.no_grad():
                taught = self.teacher.to(dev)(images)
            losses["distill"] = opts.distill * distill_loss(out, {k: [t.float() for t in v] for k, v in taught.items()})
            losses["total"] = losses["total"] + losses["distill"]
        if whole_out is not None and whole_out["sky"]:
            losses["sky_whole"] = sky_loss([t.float() for t in whole_out["sky"]], whole[1].to(dev))
            losses["total"] = losses["total"] + losses["sky_whole"]
        if self.pull is not None:
            pull = self.pull(self.net)
            losses["total"] = losses["total"] + pull
            return losses, {"l2sp": float(pull.detach())}
        return losses, {}

    def evaluate(self, module: torch.nn.Module, stop: Callable[[], bool]) -> dict | None:
        # a kept sky threshold is the one the weights carry: the sky runs at it (model.validate.validate)
        kept = {"sky_threshold": self._parent_sky["threshold"]} if self._parent_sky["keep"] else {}
        val = self.validate(module, self.cfg, self.val_set, stop, **kept)
        if val is not None:  # the figures stay numbers; the rescorer goes to the weights (export)
            self._rescorer = val.pop(RESCORER, None)
        return val

    def score(self, val: dict) -> float:
        return float(val.get("mAP07", 0.0))

    def export(self, module: torch.nn.Module, val: dict, epoch: int) -> Path:
        thr = val.get("threshold", self.cfg.operating_threshold)
        sky = self._parent_sky["threshold"] if self._parent_sky["keep"] or "sky_threshold" not in val \
            else val["sky_threshold"]
        # The rescorer validation chose with this threshold (ADR 0042); without a validation the
        # parent's, which goes with the parent's threshold kept above.
        carried = self._rescorer if val else None
        rescore = carried["rescore"] if carried else self.cfg.rescore
        extra = {"rescore_carry": carried} if carried else {}
        save_weights(self.best_path, module, self.cfg, self.opts.preset, rescore=rescore, val=val, epoch=epoch,
                     operating_threshold=str(thr), sky_threshold=str(float(sky)), **extra)
        return self.best_path

    def start_fields(self) -> dict:
        return {}

    def checkpoint_fields(self) -> dict:
        return {"config": self.cfg.to_json(), "preset": self.opts.preset}

    def state_dict(self) -> dict:
        # saved with the state, so a resumed fine-tune still knows its parent's sky threshold (and weights)
        state = {"parent_sky": dict(self._parent_sky)}
        if self.pull is not None:
            state["parent_weights"] = self.pull.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self._parent_sky = dict(state.get("parent_sky", self._parent_sky))
        if self.pull is not None and "parent_weights" in state:
            self.pull.load_state_dict(state["parent_weights"])


def detector_loop(opts: TrainOptions, train: list[Sample], val: list[Sample], sampler: CropSampler, emit: Emit,
                  stop: Callable[[], bool], *, validate: Validate) -> Loop:
    """The loop of one detector run (a rank of it under DDP: the process group must be up), its
    epochs scored on ``val`` by ``validate``."""
    import torch.distributed as dist

    world = dist.get_world_size() if dist.is_initialized() else 1
    for name, n in (("--batch", opts.batch), ("--whole-frames", opts.whole_frames)):
        if n % world:  # checked by the launcher too; a rank started by other means checks here
            raise ValueError(f"{name} {n} must be a multiple of the {world} processes (each takes an equal share)")
    resumed = resume_state(_loop_options(opts, torch.device("cpu")))
    task = DetectorTask(opts, train, val, sampler, resumed, validate)
    loop_opts = _loop_options(opts, pick_device(opts.device))
    return Loop(task, loop_opts, emit, stop, resumed)


def _loop_options(opts: TrainOptions, device: torch.device) -> LoopOptions:
    return LoopOptions(out=Path(opts.out), epochs=opts.epochs, lr=opts.lr, weight_decay=opts.weight_decay,
                       warmup_steps=opts.warmup_steps, time_budget_min=opts.time_budget_min, resume=opts.resume,
                       keep_epochs=opts.keep_epochs, device=device, precision=opts.precision)
