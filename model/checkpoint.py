"""Checkpoints, all written atomically (temp file in the same folder + os.replace).

- ``last.pt``: everything needed to resume (weights, optimizer, epoch/step, history), written with
  torch.save and read with ``torch.load(weights_only=True)``.
- ``*.safetensors``: weights only, with string metadata: ``preset``, ``config`` (JSON), ``val``
  (JSON metrics), ``operating_threshold``, ``epoch``. This is what ships and what Predictor loads.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from core.errors import CheckpointError
from core.fileio import atomic_write_via
from model.config import RESCORE_LENGTH, BafeConfig


def _atomic(path: Path, write) -> None:
    # mode from the umask (0644 under 022): weights are meant to be shared
    atomic_write_via(path, lambda tmp: write(str(tmp)))


def save_state(path: Path, state: dict) -> None:
    """Resume state (tensors, numbers, strings, nested dicts/lists) to path atomically."""
    _atomic(Path(path), lambda tmp: torch.save(state, tmp))


def load_state(path: Path) -> dict:
    """Resume state; CheckpointError when missing, truncated or not a checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; start without --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged zip/pickle
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(exc).__name__}: {exc}); "
            "delete it to start over or restore it from a backup"
        ) from exc
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not a BAFE-Net training checkpoint (missing model/config)")
    return state


def save_weights(path: Path, model: torch.nn.Module, cfg: BafeConfig, preset: str, *,
                 rescore: tuple[float, ...] | list[float] | None = None, **meta: object) -> None:
    """Weights as safetensors with metadata (config JSON, preset and any extra JSON-able values).
    An ``operating_threshold`` given here is also written into the config, so the file carries one
    value (model.card_meta). The config's rescorer is dropped (it was fitted to one network's
    scores, model.rescore_fit) unless ``rescore`` says which one goes with these weights (ADR 0042)."""
    try:
        thr = float(meta["operating_threshold"]) if "operating_threshold" in meta else None
    except (TypeError, ValueError):
        thr = None  # not a number: written as given, and refused by load_weights (check_thresholds)
    if thr is not None:
        cfg = dataclasses.replace(cfg, operating_threshold=thr)
    cfg = dataclasses.replace(cfg, rescore=tuple(rescore or ()))
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    info = {"preset": preset, "config": cfg.to_json(), "format": "bafenet-v1"}
    info.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    _atomic(Path(path), lambda tmp: save_file(tensors, tmp, metadata=info))


def read_metadata(path: Path) -> dict[str, str]:
    """The safetensors metadata of a weights file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weights file at {path}; train a model or pass --weights FILE")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"weights file {path} is truncated or corrupt ({exc}); re-export it") from exc
    if "config" not in meta:
        raise CheckpointError(f"{path} has no BAFE-Net config metadata; export it with `main.py train --export`")
    return meta


# Bounds for the integer config fields: past them a network either cannot be built or would
# allocate absurd memory before its weights are even checked (fpn_channels 200000: 1.4 TB).
_INT_RANGES = {
    "fpn_channels": (1, 2048), "tower_convs": (0, 16), "gn_groups": (1, 2048), "adapter_hidden": (1, 4096),
    "max_per_image": (1, 100_000), "pre_nms_top_k": (1, 1_000_000), "sky_pass_long_side": (0, 16384),
}
_UNIT_FLOATS = ("score_thr", "nms_iou", "operating_threshold", "p", "sky_pass_weight", "sky_min_area",
                "sky_pass_min_scale", "box_fit", "sky_hole_area")
_BOOLS = ("seg_head", "adapter", "trainable_selection", "sky_net")


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def config_problems(data: object) -> list[str]:
    """What is wrong with a config's JSON value (empty list: it can build a network)."""
    if not isinstance(data, dict):
        return [f"config is a JSON {type(data).__name__}, not an object of fields"]
    bad = []
    for name, (lo, hi) in _INT_RANGES.items():
        v = data.get(name)
        if name in data and (not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi):
            bad.append(f"{name} = {v!r} (an integer in {lo}..{hi})")
    for name in _UNIT_FLOATS:
        if name in data and not (_is_number(data[name]) and 0.0 <= data[name] <= 1.0):
            bad.append(f"{name} = {data[name]!r} (a number in [0, 1])")
    for name in ("mean", "std", "center_radius", "sky_smooth", "centre_nms_px", "sky_erode", "box_min_side"):
        if name in data and not _is_number(data[name]):
            bad.append(f"{name} = {data[name]!r} (a number)")
    if "std" in data and _is_number(data["std"]) and data["std"] <= 0:
        bad.append(f"std = {data['std']!r} (must be > 0)")
    for name in _BOOLS:
        if name in data and not isinstance(data[name], bool):
            bad.append(f"{name} = {data[name]!r} (true or false)")
    for name in ("backbone", "exchange"):
        if name in data and not isinstance(data[name], str):
            bad.append(f"{name} = {data[name]!r} (a name)")
    stages = data.get("stages", [2, 3, 4])
    if not isinstance(stages, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in stages):
        bad.append(f"stages = {stages!r} (a list of ResNet stage numbers)")
    ranges = data.get("size_ranges", [[0, 1], [0, 1], [0, 1]])
    if not isinstance(ranges, list) or not all(
        isinstance(r, list) and len(r) == 2 and all(_is_number(x) for x in r) for r in ranges
    ):
        bad.append(f"size_ranges = {ranges!r} (a list of [low, high] pairs)")
    coef = data.get("rescore", [])
    if not isinstance(coef, list) or not all(_is_number(v) for v in coef) or len(coef) not in (0, RESCORE_LENGTH):
        bad.append(f"rescore = {str(coef)[:60]} (empty, or {RESCORE_LENGTH} numbers)")
    if "extra" in data and not isinstance(data["extra"], dict):
        bad.append(f"extra = {data['extra']!r} (an object)")
    ch, groups = data.get("fpn_channels", 32), data.get("gn_groups", 8)
    if not bad and ch % groups:
        bad.append(f"fpn_channels {ch} is not a multiple of gn_groups {groups}")
    return bad


def parse_config(path: Path, text: str) -> BafeConfig:
    """The config of a weights file, validated field by field (CheckpointError names the fields)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CheckpointError(f"weights {path}: config metadata is not JSON ({exc})") from exc
    bad = config_problems(data)
    if bad:
        raise CheckpointError(f"weights {path}: invalid config: {'; '.join(bad)}; re-export the weights")
    try:
        return BafeConfig.from_json(text)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"weights {path}: invalid config: {exc}; re-export the weights") from exc


def check_thresholds(path: Path, meta: dict[str, str]) -> None:
    """operating_threshold / sky_threshold metadata, when present, are numbers in [0, 1]."""
    for key in ("operating_threshold", "sky_threshold"):
        if key not in meta:
            continue
        try:
            value = float(meta[key])
        except ValueError:
            value = math.nan
        if not 0.0 <= value <= 1.0:  # also false for NaN
            raise CheckpointError(f"weights {path}: metadata {key} = {meta[key]!r} is not a number in [0, 1]")


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], BafeConfig, dict[str, str]]:
    """(state_dict, config, metadata) from a safetensors weights file."""
    meta = read_metadata(path)
    cfg = parse_config(Path(path), meta["config"])
    check_thresholds(Path(path), meta)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"cannot load weights {path}: {exc}") from exc
    return tensors, cfg, meta
