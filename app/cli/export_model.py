"""`main.py export-model --onnx FILE | --int8 FILE --calib-data ROOT [--weights W]`: the model as ONNX.

``--onnx``: the fp32 graph, dynamic batch / height / width axes; its metadata
(``onnx.ModelProto.metadata_props``, readable with
``onnxruntime.InferenceSession(...).get_modelmeta().custom_metadata_map``) holds the operating,
sky, score and NMS thresholds, the strides, the full config and the weights' SHA-256, and
describes the input and outputs (see model/onnx_export.py).

``--int8``: the same graph statically quantised to int8 (model/quantize.py), calibrated on
train_v2 frames of ``--calib-data`` and gated on its val_v2 against ORT fp32 (model/int8_gate.py,
unless ``--no-gate``); the metadata adds the recipe, the calibration frame ids and the gate figures.
The Predictor's ``onnx-int8`` backend uses such a file when it lies beside the weights as
``<stem>.int8.onnx`` and was made from exactly those weights. Exit 1 when the gate fails (the file
is written with the failure recorded, and the Predictor will not use it). Weights with a
whole-frame sky network also get the sky network's int8 graph, ``FILE`` with ``.sky.onnx``
(``<stem>.int8.sky.onnx``), gated on its own (model/sky_int8.py); ``--only detector|sky`` makes
one of the two.

``--onnx FILE --for x-anylabeling [--size WIDTHxHEIGHT | N]`` (default 640x512): one static-size
graph with the box decoding inside, in the layout X-AnyLabeling's YOLOv8-style custom models read
(RGB [1, 3, H, W] in [0, 1], letterboxed; output [1, 4 + 1, N] = cx, cy, w, h in input pixels and
the target score, ready for its score filter and NMS), and FILE with suffix .yaml, the model
config X-AnyLabeling loads (model/anylabeling_export.py).
"""

from __future__ import annotations

import argparse
import enum
import sys
from pathlib import Path

from app.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE


class Consumer(enum.Enum):
    """Who reads the --onnx file: this app's graph (raw head maps) or X-AnyLabeling's YOLO layout."""

    STUDIO = "sirst-studio"
    X_ANYLABELING = "x-anylabeling"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from model.quantize import DEFAULT_RECIPE, KEEP_GROUPS, Calibration, QTypes

    p = subparsers.add_parser(
        "export-model", help="write the model as an ONNX file, fp32 or int8 (thresholds in its metadata)",
        description="Export BAFE-Net weights (default: the shipped model) to ONNX for use outside this app, "
                    "or as the int8 model the onnx-int8 backend loads.")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--onnx", type=Path, metavar="FILE", help="output fp32 .onnx file")
    out.add_argument("--int8", type=Path, metavar="FILE",
                     help="output int8 .onnx file (beside the weights as <stem>.int8.onnx for the Predictor)")
    p.add_argument("--weights", type=Path, help="safetensors weights (default: the shipped model)")
    p.add_argument("--for", dest="consumer", choices=[c.value for c in Consumer], default=Consumer.STUDIO.value,
                   help="--onnx: sirst-studio (raw head maps, dynamic size, sky graph beside it; default) or "
                        "x-anylabeling (one static-size graph with decoded boxes and scores, YOLOv8 layout, "
                        "plus FILE.yaml, the model config X-AnyLabeling loads)")
    p.add_argument("--size", default=None, metavar="N|WxH",
                   help="--for x-anylabeling: the graph's fixed input, N for NxN or WIDTHxHEIGHT, multiples of 32 "
                        "(default 640x512). Give your frames' size: other frames are letterboxed to it (scaled, "
                        "grey bands), which shifts the scores")
    p.add_argument("--calib-data", type=Path, metavar="DENSESIRST_ROOT",
                   help="--int8: DenseSIRST root; train_v2 calibrates, val_v2 gates")
    p.add_argument("--calib-frames", type=int, default=DEFAULT_RECIPE.frames,
                   help=f"--int8: train_v2 frames, evenly spaced (default {DEFAULT_RECIPE.frames})")
    p.add_argument("--calib-method", choices=[c.value for c in Calibration], default=DEFAULT_RECIPE.method.value)
    p.add_argument("--keep-fp32", default="+".join(DEFAULT_RECIPE.keep_fp32), metavar="GROUPS",
                   help=f"--int8: node groups kept in fp32, joined by + ({', '.join(KEEP_GROUPS)}; "
                        f"'' for none; default {'+'.join(DEFAULT_RECIPE.keep_fp32) or 'none'})")
    p.add_argument("--types", choices=[t.value for t in QTypes], default=DEFAULT_RECIPE.types.value,
                   help="--int8: activation / weight integer types")
    p.add_argument("--per-tensor", action="store_true", help="--int8: one weight scale per tensor, not per channel")
    p.add_argument("--full-range-weights", action="store_true",
                   help="--int8: 8-bit weights instead of 7-bit; exact only on CPUs with VNNI (AVX512-VNNI, "
                        "AVX-VNNI, AMX), which is where the Predictor will use the file (ADR 0040)")
    p.add_argument("--no-gate", action="store_true", help="--int8: skip the val_v2 accuracy gate (recorded as not run)")
    p.add_argument("--gate-frames", type=int, metavar="N",
                   help="--int8: gate on N evenly spaced val_v2 frames only (a quick check, recorded as partial)")
    p.add_argument("--threads", type=int, default=1, help="--int8: threads for calibration and the gate")
    p.add_argument("--only", choices=["detector", "sky"], default=None,
                   help="--int8: make only the detector's graph (FILE) or only the sky network's (FILE with "
                        ".sky.onnx); default: both, when the weights have a sky network")
    p.set_defaults(func=run)


def _check_out(out: Path) -> str | None:
    if out.is_dir():
        return f"{out} is a folder; give a file name such as {out / 'bafenet.onnx'}"
    if not out.parent.is_dir():
        return f"folder {out.parent} does not exist; create it first"
    return None


def same_file(a: Path, b: Path) -> bool:
    """Do ``a`` and ``b`` name one file (symlinks, hard links, ``..`` and relative paths)?"""
    import os

    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:  # a symlink loop: resolve() cannot say; the write itself will fail clearly
        return False


def _overwrites_input(outputs: list[Path], inputs: list[Path]) -> str | None:
    """Refuse an output that is one of the files the export reads (before anything is written)."""
    for out in outputs:
        for src in inputs:
            if same_file(out, src):
                return f"{out} is the input file {src}; writing it would destroy what is exported, choose another name"
    return None


def _recipe(args: argparse.Namespace):
    from model.quantize import Calibration, QTypes, Recipe

    groups = tuple(g for g in args.keep_fp32.split("+") if g)
    try:
        return Recipe(method=Calibration(args.calib_method), frames=args.calib_frames,
                      per_channel=not args.per_tensor, reduce_range=not args.full_range_weights,
                      types=QTypes(args.types), keep_fp32=groups), None
    except ValueError as exc:
        return None, str(exc)


def run_int8(args: argparse.Namespace, weights: Path) -> int:
    from model.int8_gate import build_int8, gate_line

    out: Path = args.int8
    root = args.calib_data
    problem = None
    recipe, why = _recipe(args)
    if root is None:
        problem = "--int8 needs --calib-data DENSESIRST_ROOT (train_v2 frames calibrate, val_v2 gates)"
    elif not (root / "Splits" / "train_v2.txt").is_file():
        problem = f"{root} is not a DenseSIRST root: no Splits/train_v2.txt"
    elif not args.no_gate and not (root / "Splits" / "val_v2.txt").is_file():
        problem = f"{root} has no Splits/val_v2.txt for the accuracy gate; add it or pass --no-gate"
    elif recipe is None:
        problem = why
    elif args.threads < 1:
        problem = f"--threads {args.threads}: use 1 or more"
    elif args.gate_frames is not None and args.gate_frames < 1:
        problem = f"--gate-frames {args.gate_frames}: use 1 or more"
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    code = EXIT_OK
    if args.only != "sky":
        data, gate = build_int8(weights, root, recipe, None if args.no_gate else "val_v2", args.threads,
                                progress=say, gate_frames=args.gate_frames)
        if not _write(out, data):
            return EXIT_USAGE
        say(f"wrote {out} ({len(data) / 2**20:.1f} MB int8, {recipe.label()}) from {weights.name}; {gate_line(gate)}")
        code = EXIT_PARTIAL if gate.get("run") and not gate.get("passed") else EXIT_OK
    if args.only != "detector" and _has_sky_net(weights):
        from model.int8_gate import load_split, load_split_ids
        from model.onnx_export import sky_companion
        from model.sky_int8 import build_sky_int8, sky_gate_line, sky_recipe

        samples = None if args.no_gate else load_split(root, "val_v2", args.gate_frames)
        whole = samples is None or len(samples) == len(load_split_ids(root, "val_v2"))
        data, gate = build_sky_int8(weights, root, recipe, samples, args.threads, progress=say, whole_split=whole)
        sky_out = sky_companion(out)
        if not _write(sky_out, data):
            return EXIT_USAGE
        say(f"wrote {sky_out} ({len(data) / 2**20:.1f} MB int8, {sky_recipe(recipe).label()}) from "
            f"{weights.name}; {sky_gate_line(gate)}")
        if gate.get("run") and not gate.get("passed"):
            code = EXIT_PARTIAL
    elif args.only == "sky":
        say(f"error: {weights.name} has no whole-frame sky network: no sky graph to quantise")
        return EXIT_USAGE
    return code


def _write(out: Path, data: bytes) -> bool:
    from core.formats._io import atomic_write_bytes

    try:
        atomic_write_bytes(out, data)
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return False
    return True


def _has_sky_net(weights: Path) -> bool:
    from model.net import build_from_weights

    return bool(build_from_weights(weights)[1].sky_net)


def run_anylabeling(args: argparse.Namespace, weights: Path) -> int:
    from model.anylabeling_export import DEFAULT_SIZE, export_x_anylabeling, parse_size

    out: Path = args.onnx
    if out.suffix.lower() != ".onnx":
        print(f"error: {out.name}: give the graph a .onnx name (its YAML is written beside it as "
              f"{out.with_suffix('.yaml').name})", file=sys.stderr)
        return EXIT_USAGE
    try:
        size = DEFAULT_SIZE if args.size is None else parse_size(args.size)
    except ValueError as exc:
        print(f"error: --size {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        res = export_x_anylabeling(weights, out, size)  # CheckpointError (bad weights) -> exit 2 via main
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    h, w = res.size
    print(f"wrote {res.onnx_path} ({res.onnx_path.stat().st_size / 2**20:.1f} MB, input 1x3x{h}x{w}, output "
          f"1x5x{res.candidates}) and {res.yaml_path.name} (confidence {res.confidence_threshold:.3f}, NMS IoU "
          f"{res.nms_threshold:g}) from {weights.name}; in X-AnyLabeling: Auto Labeling > Load Custom Model > "
          f"{res.yaml_path.name}", file=sys.stderr)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    from model.export import export_file
    from model.inference import default_weights_path
    from model.onnx_export import sky_companion

    out: Path = args.onnx if args.onnx is not None else args.int8
    problem = _check_out(out)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    weights = args.weights if args.weights is not None else default_weights_path()
    consumer = Consumer(args.consumer)
    if consumer is Consumer.X_ANYLABELING and args.int8 is not None:
        print("error: --for x-anylabeling writes an fp32 graph: use --onnx FILE", file=sys.stderr)
        return EXIT_USAGE
    if args.size is not None and consumer is not Consumer.X_ANYLABELING:
        print("error: --size is for --for x-anylabeling (the app's own graph takes any size)", file=sys.stderr)
        return EXIT_USAGE
    # what is written (the graph and its sky companion, or the graph and its YAML) against what is read
    inputs = [weights] + ([args.calib_data / "Splits" / f"{s}.txt" for s in ("train_v2", "val_v2")]
                          if args.int8 is not None and args.calib_data is not None else [])  # fmt: skip
    if consumer is Consumer.X_ANYLABELING:
        outputs = [out, out.with_suffix(".yaml")]
    else:
        outputs = [out, sky_companion(out)] if args.onnx is not None or args.only != "detector" else [out]
    problem = _overwrites_input(outputs, inputs)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if consumer is Consumer.X_ANYLABELING:
        return run_anylabeling(args, weights)
    if args.int8 is not None:
        return run_int8(args, weights)  # CheckpointError / FormatError (bad weights, data) -> exit 2 via main
    try:
        meta = export_file(weights, out)  # CheckpointError (bad weights) -> exit 2 via main
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MB) from {weights.name}: operating threshold "
          f"{float(meta['operating_threshold']):.3f}, sky threshold {float(meta['sky_threshold']):.2f}, "
          f"strides {meta['strides']}", file=sys.stderr)
    return EXIT_OK
