"""`main.py train`: train BAFE-Net from a DenseSIRST folder or a project; export the best weights.

Events: with ``--events-jsonl`` one JSON object per line on stdout (schema in docs/architecture.md,
"Training events": start, step, epoch, checkpoint, done, error); without it, a readable log on
stderr. Events are also appended to ``RUN_DIR/events.jsonl``. SIGINT/SIGTERM save the state and
exit with code 3; ``--resume`` continues from ``RUN_DIR/last.pt``.

Examples:
    main.py train --data SIRSTdevkit --train-split train_v2 --val-split val_v2 --out runs/r1 --epochs 12
    main.py train --project myproj --reviewed-only --out myproj/models/runs/1 --events-jsonl
    main.py train --export runs/r1 resources/models/bafenet_default.safetensors
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import traceback
from pathlib import Path

from app.cli import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from core.domain import PasteMode
from core.store.location import project_arg


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train BAFE-Net (DenseSIRST folder or project)",
                              description="Train BAFE-Net; validation each epoch; resumable checkpoints.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", type=Path, help="DenseSIRST root (holds PNGImages, SIRST, SkySeg, Splits)")
    src.add_argument("--project", type=project_arg, help="SIRST Studio project folder or server URL (accepted labels)")
    p.add_argument("--train-split", help="training split (default train_v2 for --data, train for --project)")
    p.add_argument("--val-split", help="validation split (default val_v2 / val); 'none' to skip")
    p.add_argument("--reviewed-only", action="store_true", help="project: only images with status reviewed")
    p.add_argument("--out", type=Path, help="run folder (checkpoints, best weights, events.jsonl)")
    p.add_argument("--preset", default="default", choices=["default", "paper-r18"])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, value as JSON (e.g. exchange=\"off\", p=0.25)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=256, help="square training crop size in pixels")
    p.add_argument("--repeats", type=int, default=1, help="crops per training image per epoch")
    p.add_argument("--target-bias", type=float, default=0.5,
                   help="share of crops centred near a target (the rest are uniform, to show the ground)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup-steps", type=int, default=100, help="linear learning-rate warm-up (fine-tuning needs few)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--bagcp-prob", type=float, default=0.5, help="copy-paste probability per crop (0: off)")
    p.add_argument("--paste", choices=[m.value for m in PasteMode], default=PasteMode.BAGCP.value,
                   help="copy-paste kind: bagcp (clusters in the sky, Gaussian blend), plain (targets copied "
                        "as they are, anywhere; the paper's baseline) or off")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    p.add_argument("--init-weights", type=Path,
                   help="fine-tune: start from these weights (.safetensors or a run's last.pt)")
    p.add_argument("--distill", type=float, default=0.0, metavar="W",
                   help="with --init-weights: that detector, frozen, teaches the trained one (its scores and "
                        "boxes as soft targets, weight W): how a lighter detector (--set detector_blocks=...) "
                        "learns from the full one (0: labels only)")
    p.add_argument("--time-budget-min", type=float, help="train for at most this many minutes in total (resumes included); "
                   "the learning rate anneals to reach its end by then")
    p.add_argument("--whole-frames", type=int, default=0,
                   help="whole frames per step, shrunk to --whole-long-side, that add a sky loss (0: crops only)")
    p.add_argument("--whole-long-side", type=int, default=384, help="long side of those whole frames in pixels")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                   help="mixed precision (autocast on the chosen device): bf16 on CPU (AMX) or recent GPUs, "
                        "fp16 on CUDA only (with loss scaling); weights and optimiser stay fp32")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where to train: auto = the GPU when torch sees one (cuda:LOCAL_RANK per process), else the CPU")
    p.add_argument("--keep-epochs", action="store_true",
                   help="also keep RUN_DIR/epoch_NNN.pt (the state after each epoch)")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--events-jsonl", action="store_true", help="JSON-lines events on stdout")
    from app.cli import launch_args  # --nproc, --nnodes, --node-rank, --rdzv-endpoint

    launch_args.add_arguments(p)
    p.add_argument("--export-weights", type=Path, help="after training, copy the best weights here")
    p.add_argument("--export", nargs=2, type=Path, metavar=("RUN_DIR", "DEST"),
                   help="only export RUN_DIR/best.safetensors (or a weights file) to DEST (no training); "
                        "--set changes inference-side config fields (sky pass, sky clean-up) on the way")
    p.add_argument("--sky-threshold", type=float, help="with --export: the sky-probability threshold to store")
    from app.cli import train_sky_stage
    from app.train_finish import add_arguments  # --from-active, --no-register, --compare

    add_arguments(p)
    train_sky_stage.add_arguments(p)  # --sky-share, --sky-steps
    from app.cli import train_replay

    train_replay.add_arguments(p)  # --new-split, --new-share, --l2sp, --sky-l2sp, --sky-lr
    p.set_defaults(func=run)


class _Events:
    """Writes events to stdout (JSON lines) or a readable stderr log, and to RUN_DIR/events.jsonl."""

    def __init__(self, jsonl: bool, run_dir: Path | None, quiet: bool = False) -> None:
        self.jsonl = jsonl
        self.quiet = quiet  # a rank other than 0 of a distributed run: rank 0 alone reports
        self.file = None
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            self.file = open(run_dir / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    def __call__(self, ev: dict) -> None:
        if self.quiet:
            return
        line = json.dumps(ev)
        if self.file is not None:
            self.file.write(line + "\n")
            self.file.flush()
        if self.jsonl:
            print(line, flush=True)
        elif ev["event"] != "step" or ev["step"] % 10 == 0 or ev["step"] == ev["steps"]:
            print(_readable(ev), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _readable(ev: dict) -> str:
    kind = ev["event"]
    if kind == "step":
        losses = " ".join(f"{k} {v:.3f}" for k, v in ev["losses"].items())
        return f"epoch {ev['epoch']} step {ev['step']}/{ev['steps']} {losses} lr {ev['lr']:.2e} eta {ev['eta_s']:.0f}s"
    if kind == "epoch":
        val = " ".join(f"{k} {v:.3f}" for k, v in ev["val"].items())
        return f"epoch {ev['epoch']} done: val {val}{' (best)' if ev['best'] else ''}"
    return json.dumps(ev)


def _overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: use KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


# (minimum, maximum) of the numeric arguments; None = unbounded on that side
_RANGES = {
    "epochs": (1, 100_000), "batch": (1, 4096), "crop": (32, 2048), "repeats": (1, 10_000),
    "target_bias": (0.0, 1.0), "bagcp_prob": (0.0, 1.0), "lr": (1e-12, 10.0), "threads": (1, 1024),
    "time_budget_min": (1e-3, None), "warmup_steps": (0, 10_000_000), "whole_frames": (0, 1024),
    "whole_long_side": (32, 8192), "nproc": (1, 1024), "distill": (0.0, 1000.0),
}  # fmt: skip
# --set fields that are counts or sizes: (minimum, maximum)
_SET_RANGES = {
    "fpn_channels": (1, 2048), "tower_convs": (0, 16), "gn_groups": (1, 2048),
    "adapter_hidden": (1, 4096), "max_per_image": (1, 100_000), "pre_nms_top_k": (1, 1_000_000),
    "score_thr": (0.0, 1.0), "nms_iou": (0.0, 1.0), "operating_threshold": (0.0, 1.0),
    "center_radius": (0.0, 100.0), "std": (1e-6, None), "mean": (None, None),
    "sky_pass_long_side": (0, 8192), "sky_pass_weight": (0.0, 1.0), "sky_smooth": (0.0, 1000.0),
    "sky_min_area": (0.0, 0.999),
}  # fmt: skip


def _out_of_range(name: str, value: float, lo: float | None, hi: float | None) -> str | None:
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} = {value} is not a finite number"
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"{lo} .. {hi}" if hi is not None else f">= {lo}"
        return f"{name} = {value} is out of range ({bounds})"
    return None


def check_arguments(args: argparse.Namespace) -> str | None:
    """The first nonsensical argument, as a message; None when all make sense."""
    for name, (lo, hi) in _RANGES.items():
        value = getattr(args, name, None)
        if value is not None and (msg := _out_of_range(f"--{name.replace('_', '-')}", value, lo, hi)):
            return msg
    try:
        config_from_arguments(args)
    except ValueError as exc:
        return str(exc)
    if msg := _device_problem(args):
        return msg
    from app.cli import launch_args  # before any process starts (model/ddp_launch.py)

    if msg := launch_args.problem(args, args.batch, args.whole_frames):
        return msg
    if args.resume:
        return _resume_problem(args.out / "last.pt")
    return None


def _distill_problem(args: argparse.Namespace) -> str | None:
    """--distill needs a teacher: weights to start from (after --from-active resolved them)."""
    if args.distill > 0 and not args.resume and (args.init_weights is None or args.init_weights.suffix != ".safetensors"):
        return "--distill needs --init-weights WEIGHTS.safetensors (or --from-active): the detector that teaches"
    return None


def config_from_arguments(args: argparse.Namespace):
    """The BafeConfig the run will use; ValueError naming a bad ``--set``."""
    import dataclasses

    from model.config import BafeConfig, preset

    overrides = _overrides(args.set)
    fields = {f.name: f for f in dataclasses.fields(BafeConfig)}
    for key, value in overrides.items():
        if key not in fields or key == "extra":
            known = ", ".join(sorted(k for k in fields if k != "extra"))
            raise ValueError(f"--set {key}: no such config field; use one of {known}")
        default = getattr(BafeConfig(), key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ValueError(f"--set {key}={value!r}: expected true or false")
        if isinstance(default, int | float) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"--set {key}={value!r}: expected a number")
            if isinstance(default, int) and not float(value).is_integer():
                raise ValueError(f"--set {key}={value!r}: expected an integer")
            if key in _SET_RANGES and (msg := _out_of_range(f"--set {key}", value, *_SET_RANGES[key])):
                raise ValueError(msg)
        if isinstance(default, str) and not isinstance(value, str):
            raise ValueError(f"--set {key}={value!r}: expected a string")
    try:
        cfg = preset(args.preset, **overrides)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--set: {exc}") from None
    if cfg.fpn_channels % cfg.gn_groups:
        raise ValueError(f"fpn_channels {cfg.fpn_channels} must be a multiple of gn_groups {cfg.gn_groups}")
    return cfg


def _device_problem(args: argparse.Namespace) -> str | None:
    """--device / --precision that cannot run here (model.device), before any rank starts."""
    from model.device import DeviceChoice, Precision, check_precision, pick_device

    try:
        check_precision(pick_device(DeviceChoice(args.device), 0), Precision(args.precision))
    except ValueError as exc:
        return str(exc)
    return None


def _resume_problem(path: Path) -> str | None:
    """Why RUN_DIR/last.pt cannot be resumed from, or None."""
    from core.errors import CheckpointError
    from model.checkpoint import load_state

    try:
        st = load_state(path)
    except CheckpointError as exc:
        return str(exc)
    missing = [k for k in ("model", "optim", "config", "progress") if k not in st]
    if missing:
        return (f"{path} lacks {', '.join(missing)}: it is not a complete resume checkpoint; "
                "start a new run without --resume")
    try:
        import torch

        from model.config import BafeConfig
        from model.net import BafeNet

        net = BafeNet(BafeConfig.from_json(st["config"]))
        net.load_state_dict(st["model"])
        torch.optim.AdamW(net.parameters()).load_state_dict(st["optim"])
        if "sched" not in st:  # model/loop.py resumes the schedule too (ADR 0019)
            return (f"{path} was written by an older version without a learning-rate schedule state; "
                    "start a new run without --resume (or in another folder)")
        progress = st["progress"]
        need = ("epoch", "step", "best_score", "best_val", "elapsed_s", "history")
        if not isinstance(progress, dict) or any(k not in progress for k in need):
            raise KeyError(f"progress must hold {', '.join(need)}")
    except Exception as exc:  # any mismatch between the stored config, weights and progress
        return f"{path} does not fit its own config ({type(exc).__name__}: {exc}); start a new run"
    return None


def _load_data(args: argparse.Namespace):
    from model.data import load_densesirst, load_project

    if args.data is not None:
        train_split, val_split = args.train_split or "train_v2", args.val_split or "val_v2"
        load = lambda split: load_densesirst(args.data, split)  # noqa: E731
    else:
        train_split, val_split = args.train_split or "train", args.val_split or "val"
        load = lambda split: load_project(args.project, split, args.reviewed_only)  # noqa: E731
    train = load(train_split)
    val = [] if val_split.lower() == "none" else load(val_split)
    return train, val


def run(args: argparse.Namespace) -> int:
    if args.export is not None:
        try:
            return _export(*args.export, overrides=_overrides(args.set), sky_threshold=args.sky_threshold)
        except ValueError as exc:  # a --set that does not fit these weights: nothing was written
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.out is None or (args.data is None and args.project is None):
        print("error: train needs --out RUN_DIR and one of --data ROOT / --project DIR", file=sys.stderr)
        return EXIT_USAGE
    from app.cli import launch_args, train_replay, train_sky_stage
    from app.train_finish import fine_tune_problem
    from model.ddp_launch import RunLock
    from model.ranks import Launcher, RankEnvError, from_environ

    try:
        here = from_environ()
    except RankEnvError as exc:
        print(f"error: cannot tell this process's rank: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # before the run folder is touched; fine_tune_problem resolves --from-active into --init-weights
    problem = (check_arguments(args) or fine_tune_problem(args) or _distill_problem(args)
               or train_sky_stage.problem(args) or train_replay.problem(args))
    if (code := launch_args.start(args, problem, args.out)) is not None:  # this command starts the ranks
        return code
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    # one run per folder: our ranks share their launcher's lock (inherited); one process, or rank 0
    # under torchrun / srun, takes it here
    lock = RunLock(args.out) if here.launcher is not Launcher.SIRST and here.chief else None
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    events = _Events(args.events_jsonl, args.out if here.chief else None, quiet=not here.chief)
    try:
        return _train(args, events, here)
    except Exception as exc:  # every failure becomes an "error" event, then the usual exit code
        from core.errors import SirstError

        events({"event": "error", "message": str(exc)})
        if isinstance(exc, SirstError | ValueError):
            if here.local_rank == 0 or not getattr(exc, "agreed", False):  # one line per machine
                print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if here.distributed and launch_args.lost_peer(exc):  # another machine's ranks are gone
            code, message = launch_args.lost_peer_exit(args.out)
            print(message, file=sys.stderr)
            return code
        traceback.print_exc()
        return EXIT_INTERNAL
    finally:
        events.close()
        if lock is not None:
            lock.release()


def _train(args: argparse.Namespace, events: _Events, here) -> int:
    import torch

    from app.cli import train_replay
    from app.cli import train_sky_stage as sky_stage
    from model.data import CropSampler, try_bagcp
    from model.device import DeviceChoice, Precision, pick_device
    from model.train import TrainOptions

    torch.set_num_threads(max(1, args.threads))
    stop = {"flag": False}

    def on_signal(signum, frame) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    train, val = _load_data(args)
    if not train:
        raise ValueError("the training split has no images; check --train-split (and --reviewed-only)")
    if args.whole_frames > len(train):
        raise ValueError(f"--whole-frames {args.whole_frames} exceeds the {len(train)} training images")
    new = train_replay.new_indices(args, [s.name for s in train])
    if here.chief:
        print(f"loaded {len(train)} training and {len(val)} validation images", file=sys.stderr)
        if new:
            print(f"{len(new)} of them newly corrected: {args.new_share:g} of each batch", file=sys.stderr)
    sampler = CropSampler(train, crop=args.crop, target_bias=args.target_bias,
                          bagcp=try_bagcp(train, args.bagcp_prob, PasteMode(args.paste)))
    opts = TrainOptions(out=args.out, preset=args.preset, epochs=args.epochs, batch=args.batch, crop=args.crop,
                        lr=args.lr, warmup_steps=args.warmup_steps, repeats=args.repeats, seed=args.seed, resume=args.resume,
                        time_budget_min=sky_stage.detector_budget(args), overrides=_overrides(args.set),
                        init_weights=args.init_weights, precision=Precision(args.precision),
                        channels_last=args.channels_last, whole_frames=args.whole_frames,
                        whole_long_side=args.whole_long_side, device=DeviceChoice(args.device),
                        keep_epochs=args.keep_epochs, new=new, new_share=args.new_share, l2sp=args.l2sp,
                        keep_bn_stats=args.keep_bn_stats, distill=args.distill)
    from model import distributed, run_folder
    from model.train import detector_loop
    from model.validate import validate

    try:  # a rank of a distributed run joins its group; all ranks must share the run folder (ADR 0020)
        run_folder.join_run(here, args.out, args.resume, [*train, *val],
                            lambda: distributed.init_process_group(pick_device(opts.device)))
        if here.chief:
            _record_command(args.out)
        held = sky_stage.Held(events)  # the run's "done" comes after the sky stage, when there is one
        result = detector_loop(opts, train, val, sampler, held if sky_stage.wanted(args) else events,
                               lambda: stop["flag"], validate=validate).run()
        best, interrupted, done = result.best_weights, result.interrupted, held.done
        if sky_stage.wanted(args) and not interrupted:
            interrupted, done = sky_stage.run_stage(args, train, args.out / "best.safetensors", held.done or {},
                                                    events, lambda: stop["flag"], new)
            if done is not None:
                events(done)
                best = Path(done["best_weights"])
        distributed.shutdown(wait_for_peers=True)
    finally:
        distributed.shutdown()
    if interrupted:
        if here.local_rank == 0:  # one line per machine, as one process says it
            print(f"interrupted: state saved in {args.out / 'last.pt'}; continue with --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not here.chief:
        return EXIT_OK
    from app.train_finish import finish_run  # register the version, compare with the active model

    elapsed = float(done["elapsed_s"]) if done is not None else result.elapsed_s
    finish_run(args, best, result.val, elapsed, events, lambda: stop["flag"])
    if args.export_weights is not None and best is not None:
        return _export(args.out, args.export_weights)
    return EXIT_OK


def _record_command(run_dir: Path) -> None:
    """RUN_DIR/command.txt: every command line that trained in this folder (for the model card)."""
    import shlex

    from core.formats._io import atomic_write_text

    path = run_dir / "command.txt"
    if Path(sys.argv[0]).name != "main.py":  # called in-process (tests): no real command line
        return
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    line = "python main.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    atomic_write_text(path, before + line + "\n")


def _export(run_dir: Path, dest: Path, overrides: dict | None = None, sky_threshold: float | None = None) -> int:
    """Re-save RUN_DIR/best.safetensors (weights + metadata) atomically at dest, optionally with
    config overrides (fields that change no tensor shape) and another sky threshold."""
    from model.export import export_weights

    src = export_weights(run_dir, dest, overrides, sky_threshold)
    print(f"exported {src} -> {dest}", file=sys.stderr)
    return EXIT_OK
