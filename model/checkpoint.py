"""Checkpoints, all written atomically (temp file in the same folder + os.replace).

- ``last.pt``: everything needed to resume (weights, optimizer, epoch/step, history), written with
  torch.save and read with ``torch.load(weights_only=True)``.
- ``*.safetensors``: weights only, with string metadata: ``preset``, ``config`` (JSON), ``val``
  (JSON metrics), ``operating_threshold``, ``epoch``. This is what ships and what Predictor loads.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from core.errors import CheckpointError
from core.fileio import atomic_write_via
from model.config import BafeConfig


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


def save_weights(path: Path, model: torch.nn.Module, cfg: BafeConfig, preset: str, **meta: object) -> None:
    """Weights as safetensors with metadata (config JSON, preset and any extra JSON-able values)."""
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


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], BafeConfig, dict[str, str]]:
    """(state_dict, config, metadata) from a safetensors weights file."""
    meta = read_metadata(path)
    try:
        tensors = load_file(str(path))
        cfg = BafeConfig.from_json(meta["config"])
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"cannot load weights {path}: {exc}") from exc
    return tensors, cfg, meta


def build_from_weights(path: Path) -> tuple[torch.nn.Module, BafeConfig, dict[str, str]]:
    """A BafeNet in eval mode with the weights of path."""
    from model.net import BafeNet

    tensors, cfg, meta = load_weights(path)
    net = BafeNet(cfg)
    try:
        net.load_state_dict(tensors)
    except RuntimeError as exc:
        raise CheckpointError(f"weights {path} do not fit the network in their config: {exc}") from exc
    return net.eval(), cfg, meta
