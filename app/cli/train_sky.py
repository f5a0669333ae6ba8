"""`main.py train-sky`: train the whole-frame sky network of a weights file (model.sky_train).

The detector's tensors are copied unchanged; only the sky network (docs/adr/0010) learns, on whole
frames shrunk to about --long-side pixels. Validation (sky IoU, per-image median, 1280x1024 frames,
rings and vertices of the cleaned proposal) runs after every epoch; the best epoch is written to
RUN_DIR/best.safetensors, and with --export-weights copied to that path. SIGINT/SIGTERM save the
state and exit 3; --resume continues.

Example:
    main.py train-sky --data SIRSTdevkit --weights resources/models/bafenet_default.safetensors \\
        --out runs/sky1 --time-budget-min 45 --export-weights /tmp/with_sky.safetensors
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from app.cli import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from core.store.location import project_arg


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-sky", help="train the whole-frame sky network of a weights file",
                              description="Train only the whole-frame sky network; the detector is copied unchanged.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="DenseSIRST root (holds PNGImages, SIRST, SkySeg, Splits)")
    src.add_argument("--project", type=project_arg, help="SIRST Studio project folder or server URL")
    p.add_argument("--weights", type=Path, required=True, help="BAFE-Net weights whose detector is kept")
    p.add_argument("--out", type=Path, required=True, help="run folder (last.pt, best.safetensors, events.jsonl)")
    p.add_argument("--train-split", help="default train_v2 for --data, train for --project")
    p.add_argument("--reviewed-only", action="store_true", help="project: only images with status reviewed")
    p.add_argument("--val-split", help="default val_v2 / val; 'none' to skip (then the last epoch is kept)")
    p.add_argument("--long-side", type=int, help="long side of the shrunk frame the sky network sees (default: "
                   "that of the sky network it starts from, --sky-from or --weights; 448 for a new one)")
    p.add_argument("--sky-from", type=Path, help="start the sky network from this weights file's sky network "
                   "(e.g. to put a trained sky network on newly trained detector weights)")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY", help="validate and export an exponential "
                   "moving average of the weights with this decay (e.g. 0.99; 0: off)")
    p.add_argument("--sky-average", type=Path, nargs="+", default=[], metavar="EPOCH_PT",
                   help="start the sky network from the mean of these epoch states (RUN/epoch_NNN.pt of a run "
                   "with --keep-epochs); with --epochs 0 this validates and exports the average")
    p.add_argument("--min-scale", type=float, default=0.0, metavar="SHARE", help="train each frame at no less "
                   "than this share of its long side (as inference's sky_pass_min_scale: 0.5 trains 1280x1024 "
                   "frames at ~640 px, where the shipped file runs them); 0: all at --long-side")
    p.add_argument("--vflip", type=float, default=0.0, metavar="P", help="turn this share of training frames "
                   "upside down (the sky must not be whatever is at the top)")
    p.add_argument("--blur", type=float, default=0.0, metavar="P", help="shrink this share of frames to half "
                   "and back (a down-up blur)")
    p.add_argument("--noise", type=float, default=0.0, metavar="P", help="add Gaussian noise (sigma 3 grey "
                   "levels of 255) to this share of frames")
    p.add_argument("--boundary-weight", type=float, default=0.0, metavar="W", help="the BCE of pixels within "
                   "4 px of the true sky outline counts 1 + W times (0: plain)")
    p.add_argument("--distill-mirror", type=float, default=0.0, metavar="W", help="also pull the network's "
                   "single look toward the starting network's two looks (frame and mirror averaged), with "
                   "weight W: a single look that does what two did (ADR 0044; 0: off)")
    p.add_argument("--keep-epochs", action="store_true", help="also write RUN/epoch_NNN.pt after every epoch")
    p.add_argument("--epochs", type=int, default=20, help="0: only validate and export (with --sky-from)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="inference field to store (sky_smooth, sky_min_area, sky_hole_area, sky_erode; sky_flip 1 to average with the mirrored frame), value as JSON")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where to train: auto = the GPU when torch sees one, else the CPU")
    p.add_argument("--time-budget-min", type=float, help="train for at most this many minutes (resumes included)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    p.add_argument("--export-weights", type=Path, help="after training, copy the best weights here")
    from app.cli import launch_args  # --nproc, --nnodes, --node-rank, --rdzv-endpoint (ADR 0020)

    launch_args.add_arguments(p)
    p.set_defaults(func=run)


# The inference-side fields --set may store, with the type their JSON value is read as
CLEANUP_FIELDS = {"sky_smooth": float, "sky_min_area": float, "sky_flip": bool, "sky_hole_area": float,
                  "sky_erode": float}  # the last two: model.sky_post (ADR 0035)


def _problem(args: argparse.Namespace) -> str | None:
    if not args.weights.is_file():
        return f"weights {args.weights} not found"
    if args.long_side is not None and not 64 <= args.long_side <= 4096:
        return f"--long-side {args.long_side} must be in 64..4096"
    for name in ("batch", "threads"):
        if getattr(args, name) < 1:
            return f"--{name} must be at least 1"
    if args.epochs < 0:
        return "--epochs must be 0 or more"
    if args.sky_from is not None and not args.sky_from.is_file():
        return f"--sky-from {args.sky_from} not found"
    if args.sky_from is not None and args.sky_average:
        return "give --sky-from or --sky-average, not both"
    for path in args.sky_average:
        if not path.is_file():
            return f"--sky-average {path} not found"
    for name in ("vflip", "blur", "noise"):
        if not 0 <= getattr(args, name) <= 1:
            return f"--{name} {getattr(args, name)} must be a share in [0, 1]"
    if not 0 <= args.min_scale <= 1:
        return f"--min-scale {args.min_scale} must be in [0, 1]"
    if args.boundary_weight < 0:
        return f"--boundary-weight {args.boundary_weight} must be 0 or more"
    if args.distill_mirror < 0:
        return f"--distill-mirror {args.distill_mirror} must be 0 or more"
    if not 0 <= args.ema < 1:
        return f"--ema {args.ema} must be in [0, 1)"
    if not 0 < args.lr < 1:
        return f"--lr {args.lr} must be in (0, 1)"
    if args.time_budget_min is not None and args.time_budget_min <= 0:
        return "--time-budget-min must be > 0"
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key not in CLEANUP_FIELDS:
            return f"--set {item!r}: give one of {', '.join(CLEANUP_FIELDS)} as KEY=VALUE"
        try:
            float(json.loads(value))
        except (ValueError, TypeError):
            return f"--set {item!r}: the value must be a number"
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            return "--device cuda: torch sees no CUDA GPU here; use --device cpu or auto"
    if args.resume and not (args.out / "last.pt").is_file():
        return f"no checkpoint at {args.out / 'last.pt'}; start without --resume"
    if args.out.exists() and not args.out.is_dir():
        return f"--out {args.out} is a file; give a folder"
    return None


def _readable(ev: dict) -> str:
    kind = ev["event"]
    if kind == "step":
        return (f"epoch {ev['epoch']} step {ev['step']}/{ev['steps']} loss {ev['loss']:.3f} "
                f"long side {ev['long_side']} lr {ev['lr']:.2e}")
    if kind == "epoch":
        v = ev["val"]
        figures = " ".join(f"{k} {v[k]:.3f}" for k in ("sky_iou", "sky_median", "sky_large", "rings", "vertices")
                           if k in v)
        return f"epoch {ev['epoch']} done: {figures}{' (best)' if ev['best'] else ''}"
    if kind == "checkpoint":
        return f"saved {ev['path']}"
    if kind == "done":
        return f"done after {ev['elapsed_s']:.0f} s"
    if kind == "start":
        return f"training the sky network on {ev['frames']} frames, {ev['steps_per_epoch']} steps per epoch"
    return json.dumps(ev)


def run(args: argparse.Namespace) -> int:
    from app.cli.train import _Events, _load_data

    class Events(_Events):
        def __call__(self, ev: dict) -> None:
            if self.quiet:
                return
            if self.file is not None:
                self.file.write(json.dumps(ev) + "\n")
                self.file.flush()
            if ev["event"] != "step" or ev["step"] % 10 == 0 or ev["step"] == ev["steps"]:
                print(_readable(ev), file=sys.stderr, flush=True)

    from app.cli import launch_args
    from model.ranks import RankEnvError, from_environ

    try:
        here = from_environ()
    except RankEnvError as exc:
        print(f"error: cannot tell this process's rank: {exc}", file=sys.stderr)
        return EXIT_USAGE
    problem = _problem(args) or launch_args.problem(args, args.batch)
    if (code := launch_args.start(args, problem, args.out)) is not None:  # this command starts the ranks
        return code
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    import torch

    from core.errors import SirstError
    from model import distributed, run_folder
    from model.device import DeviceChoice, pick_device
    from model.sky_train import SkyAugment, SkyTrainOptions, sky_loop
    from model.validate import validate_sky

    torch.set_num_threads(args.threads)
    stop = {"flag": False}

    def on_signal(signum, frame) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    events = Events(False, args.out if here.chief else None, quiet=not here.chief)
    try:
        train, val = _load_data(args)
        # a rank of a distributed run joins its group; all ranks must share the run folder (ADR 0020)
        run_folder.join_run(here, args.out, args.resume, [*train, *val],
                            lambda: distributed.init_process_group(pick_device(DeviceChoice(args.device))))
        opts = SkyTrainOptions(out=args.out, weights=args.weights, long_side=args.long_side, batch=args.batch,
                               lr=args.lr, epochs=args.epochs, time_budget_min=args.time_budget_min,
                               seed=args.seed, resume=args.resume, sky_from=args.sky_from, ema=args.ema,
                               sky_average=tuple(args.sky_average), keep_epochs=args.keep_epochs,
                               device=DeviceChoice(args.device), min_scale=args.min_scale,
                               augment=SkyAugment(vflip=args.vflip, blur=args.blur, noise=args.noise),
                               boundary_weight=args.boundary_weight, distill_mirror=args.distill_mirror)
        overrides = {k: CLEANUP_FIELDS[k](json.loads(v)) for k, _, v in (item.partition("=") for item in args.set)}
        loop = sky_loop(opts, train, val, events, lambda: stop["flag"], overrides, validate=validate_sky)
        result = loop.run()
        best = result.val
        distributed.shutdown(wait_for_peers=True)
    except (SirstError, ValueError) as exc:
        events({"event": "error", "message": str(exc)})
        if here.local_rank == 0 or not getattr(exc, "agreed", False):  # one line per machine
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        if not (here.distributed and launch_args.lost_peer(exc)):
            raise
        code, message = launch_args.lost_peer_exit(args.out)  # another machine's ranks are gone
        print(message, file=sys.stderr)
        return code
    finally:
        events.close()
        distributed.shutdown()
    if result.interrupted:
        if here.local_rank == 0:  # one line per machine, as one process says it
            print(f"interrupted: state saved in {args.out / 'last.pt'}; continue with --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not here.chief:
        return EXIT_OK
    print(json.dumps({"best": best}), file=sys.stderr)
    if args.export_weights is not None:
        from core.fileio import atomic_write_bytes

        best_path = args.out / "best.safetensors"
        if not best_path.is_file():
            loop.task.export(loop.kept(), best, result.epochs_done)
        atomic_write_bytes(args.export_weights, best_path.read_bytes())
        print(f"weights written to {args.export_weights}", file=sys.stderr)
    return EXIT_OK
