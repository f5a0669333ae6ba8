"""`main.py train --sky-share F` / `--sky-steps N`: after the detector fine-tune, fine-tune the sky
network of the new weights on the same training images (ADR 0031).

Crop training never moves the sky network (ADR 0010); on a 1280x1024 camera family the sky is most
of what the annotator corrects (MODEL.md, issue 20). So a fine-tune can give part of its time
budget to the sky network: the detector trains for ``(1 - F)`` of ``--time-budget-min``, then
model.sky_train's task runs on the same frames for the rest (or ``--sky-steps`` steps), in
RUN_DIR/sky, with the one training loop (model/loop.py). The result replaces RUN_DIR/best.safetensors:
one weights file with the fine-tuned detector and the fine-tuned sky network.

Events: the sky stage's own events carry ``"stage": "sky"`` (its end is ``stage_done``); the run's
single ``done`` event comes after it, naming the combined file. No validation picks the sky
network's epoch or threshold (the parent's sky threshold is kept, as the detector fine-tune keeps
it): the comparison with the active model on the val images shows what it did.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STAGE = "sky"
SUBDIR = "sky"  # RUN_DIR/sky: the sky stage's own run folder (last.pt, best.safetensors, events)
LR = 3e-4  # a third of train-sky's from-scratch rate: the parent's sky network is already trained
WARMUP_STEPS = 5
BATCH = 8
DEFAULT_STEPS = 32  # without a time budget (by step count): about 6 passes over 40 frames
MAX_SHARE = 0.9
DEFAULT_SHARE = 0.3  # --from-active with a budget (app/training_sky.DEFAULT_PERCENT)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sky-share", type=float, default=None, metavar="F",
                   help="fine-tune: give this part (0-0.9) of --time-budget-min to a fine-tune of the sky network "
                        f"on the same images after the detector's; one weights file holds both (default "
                        f"{DEFAULT_SHARE:g} with --from-active and a budget, as the Training dock does, else 0; "
                        "0: the sky network is kept as it is)")
    p.add_argument("--sky-steps", type=int, default=0, metavar="N",
                   help="fine-tune the sky network for N steps of 8 whole frames after the detector (capped by "
                        "its share of the budget when --sky-share is given too)")


def wanted(args: argparse.Namespace) -> bool:
    """A sky stage follows the detector (after ``problem`` resolved the default share)."""
    return (getattr(args, "sky_share", 0.0) or 0.0) > 0 or (getattr(args, "sky_steps", 0) or 0) > 0


def problem(args: argparse.Namespace) -> str | None:
    """What is wrong with --sky-share / --sky-steps, or None (after --from-active is resolved;
    resolves the default --sky-share)."""
    if args.sky_share is None:
        auto = getattr(args, "from_active", False) and args.time_budget_min is not None
        args.sky_share = DEFAULT_SHARE if auto else 0.0
    share, steps = args.sky_share, args.sky_steps
    if not (math.isfinite(share) and 0.0 <= share <= MAX_SHARE):
        return f"--sky-share {share} must be in 0 .. {MAX_SHARE}"
    if steps < 0:
        return f"--sky-steps {steps} must be 0 or more"
    if not wanted(args):
        return None
    if share > 0 and args.time_budget_min is None:
        return "--sky-share splits --time-budget-min; give a budget (or --sky-steps N for a run by step count)"
    if args.init_weights is None and not args.resume:  # a resume starts from the run's own weights
        return ("the sky-network fine-tune continues the sky network of the starting weights: give --from-active "
                "or --init-weights (a new sky network is trained with `main.py train-sky`)")
    return None


def detector_budget(args: argparse.Namespace) -> float | None:
    """The detector's share of --time-budget-min."""
    if args.time_budget_min is None or not wanted(args):
        return args.time_budget_min
    return args.time_budget_min * (1.0 - args.sky_share)


@dataclass
class Held:
    """The detector's events, with its "done" held back until the sky stage has run."""

    emit: Callable[[dict], None]
    done: dict | None = None

    def __call__(self, ev: dict) -> None:
        if ev.get("event") == "done":
            self.done = ev
            return
        self.emit(ev)


def _tagged(emit: Callable[[dict], None]) -> Callable[[dict], None]:
    def send(ev: dict) -> None:
        ev = {**ev, "stage": STAGE}
        if ev["event"] == "done":
            ev["event"] = "stage_done"
        emit(ev)

    return send


def run_stage(args: argparse.Namespace, train: list, detector_weights: Path, detector_done: dict,
              emit: Callable[[dict], None], stop: Callable[[], bool],
              new: tuple[int, ...] = ()) -> tuple[bool, dict | None]:
    """The sky stage (all ranks of a distributed run call it); (interrupted, the run's "done" event
    for rank 0 to emit, None elsewhere). RUN_DIR/best.safetensors becomes the combined file. ``new``:
    indices into ``train`` of the newly corrected images (``args.new_share`` of each batch, ADR 0034)."""
    import torch.distributed as dist

    from core.fileio import atomic_write_bytes
    from model.data import SKY_IGNORE
    from model.device import DeviceChoice
    from model.distributed import world
    from model.loop import STATE_NAME
    from model.sky_train import SkyTrainOptions, sky_loop
    from model.validate import validate_sky

    if dist.is_initialized():
        dist.barrier()  # rank 0 has written the detector's weights that every rank starts from
    out = Path(args.out) / SUBDIR
    budget = args.time_budget_min * args.sky_share if args.time_budget_min is not None and args.sky_share > 0 \
        else None
    steps = args.sky_steps or (0 if budget is not None else DEFAULT_STEPS)
    frames = sum(1 for s in train if (s.sky != SKY_IGNORE).any())  # as model.sky_train.ShrunkFrames keeps
    per_epoch = max(1, math.ceil(frames / BATCH))
    epochs = math.ceil(steps / per_epoch) if steps else 100_000  # by the budget
    # by step count, epochs of equal length that add up to the steps asked for (not whole passes:
    # with the project's other images replayed, one pass can exceed the steps)
    per_epoch = math.ceil(steps / epochs) if steps else per_epoch
    resume = bool(args.resume) and (out / STATE_NAME).is_file()
    opts = SkyTrainOptions(out=out, weights=Path(detector_weights), batch=BATCH,
                           lr=getattr(args, "sky_lr", None) or LR, warmup_steps=WARMUP_STEPS,
                           epochs=epochs, time_budget_min=budget, seed=args.seed, resume=resume,
                           device=DeviceChoice(args.device), steps_per_epoch=per_epoch if steps else 0, new=tuple(new),
                           new_share=getattr(args, "new_share", 0.0) or 0.0,
                           l2sp=getattr(args, "sky_l2sp", 0.0) or 0.0,
                           keep_bn_stats=bool(getattr(args, "sky_keep_bn_stats", False)))  # fmt: skip
    result = sky_loop(opts, train, [], _tagged(emit), stop, validate=validate_sky).run()  # no val frames: never called
    if result.interrupted or world()[0] != 0:
        return result.interrupted, None
    final = Path(args.out) / "best.safetensors"
    if result.best_weights is not None and result.best_weights != final:
        atomic_write_bytes(final, Path(result.best_weights).read_bytes())
    done = {**detector_done, "best_weights": str(final),
            "elapsed_s": float(detector_done.get("elapsed_s") or 0.0) + result.elapsed_s,
            "sky_stage": {"epochs": result.epochs_done, "elapsed_s": result.elapsed_s,
                          "weights": str(result.best_weights or "")}}  # fmt: skip
    return False, done
