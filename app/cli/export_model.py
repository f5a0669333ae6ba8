"""`main.py export-model --onnx FILE [--weights W]`: the model as a standalone ONNX file.

The graph has dynamic batch / height / width axes; its metadata (``onnx.ModelProto.metadata_props``,
readable with ``onnxruntime.InferenceSession(...).get_modelmeta().custom_metadata_map``) holds the
operating, sky, score and NMS thresholds, the strides, the full config and the weights' SHA-256,
and describes the input and outputs (see model/onnx_export.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli import EXIT_OK, EXIT_USAGE


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export-model", help="write the model as an ONNX file (thresholds in its metadata)",
        description="Export BAFE-Net weights (default: the shipped model) to ONNX for use outside this app.")
    p.add_argument("--onnx", type=Path, required=True, metavar="FILE", help="output .onnx file")
    p.add_argument("--weights", type=Path, help="safetensors weights (default: the shipped model)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from model.inference import default_weights_path
    from model.onnx_export import export_file

    out: Path = args.onnx
    if out.is_dir():
        print(f"error: {out} is a folder; give a file name such as {out / 'bafenet.onnx'}", file=sys.stderr)
        return EXIT_USAGE
    if not out.parent.is_dir():
        print(f"error: folder {out.parent} does not exist; create it first", file=sys.stderr)
        return EXIT_USAGE
    weights = args.weights if args.weights is not None else default_weights_path()
    try:
        meta = export_file(weights, out)  # CheckpointError (bad weights) -> exit 2 via main
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MB) from {weights.name}: operating threshold "
          f"{float(meta['operating_threshold']):.3f}, sky threshold {float(meta['sky_threshold']):.2f}, "
          f"strides {meta['strides']}", file=sys.stderr)
    return EXIT_OK
