"""Re-save a training run's best weights as a standalone file (shared by `main.py train --export`
and the model-card script, so that the model layer never imports the app's CLI)."""

from __future__ import annotations

import dataclasses
from pathlib import Path


def export_weights(run_dir: Path, dest: Path, overrides: dict | None = None,
                   sky_threshold: float | None = None) -> Path:
    """Re-save RUN_DIR/best.safetensors (or a weights file given directly) atomically at ``dest``
    with its metadata; returns the source file. ``overrides`` change config fields that change no
    tensor (the inference-side ones: sky pass, sky clean-up, thresholds) and ``sky_threshold`` the
    stored sky threshold; ValueError names what does not fit."""
    from model.checkpoint import read_metadata, save_weights
    from model.config import BafeConfig
    from model.net import build_from_weights

    src = Path(run_dir) / "best.safetensors" if Path(run_dir).is_dir() else Path(run_dir)
    net, cfg, _meta = build_from_weights(src)
    if overrides:
        known = {f.name for f in dataclasses.fields(BafeConfig)} - {"extra"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"--set {', '.join(unknown)}: no such config field; use one of {', '.join(sorted(known))}")
        try:
            cfg = dataclasses.replace(cfg, **overrides)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"--set: {exc}") from None
        shapes = {k: v.shape for k, v in type(net)(cfg).state_dict().items()}
        if shapes != {k: v.shape for k, v in net.state_dict().items()}:
            raise ValueError(f"--set {sorted(overrides)} changes the network's tensors; retrain instead of exporting")
    if sky_threshold is not None and not 0.0 <= sky_threshold <= 1.0:  # also false for NaN
        raise ValueError(f"--sky-threshold {sky_threshold} is not in [0, 1]")
    meta = dict(read_metadata(src))
    if sky_threshold is not None:
        meta["sky_threshold"] = str(sky_threshold)
    preset = meta.pop("preset", "default")
    for key in ("config", "format"):
        meta.pop(key, None)
    save_weights(dest, net, cfg, preset, **meta)
    return src


def export_file(weights: Path, out: Path) -> dict[str, str]:
    """``main.py export-model``: the weights as an ONNX file at ``out`` (atomic); its metadata."""
    from core.errors import CheckpointError
    from core.formats._io import atomic_write_bytes
    from model.net import build_from_weights
    from model.onnx_export import GraphPart, export_bytes, file_sha256, onnx_metadata, sky_companion

    net, cfg, meta = build_from_weights(weights)
    md = onnx_metadata(cfg, meta, file_sha256(weights))
    if out.parent and not out.parent.is_dir():
        raise CheckpointError(f"folder {out.parent} does not exist; create it or choose another path")
    if cfg.sky_net:
        md["sky_file"] = sky_companion(out).name
        sky_md = {**md, "graph": GraphPart.SKY.value, "detector_file": out.name}
        atomic_write_bytes(sky_companion(out), export_bytes(net, cfg, sky_md, GraphPart.SKY))
    atomic_write_bytes(out, export_bytes(net, cfg, md))
    return md
