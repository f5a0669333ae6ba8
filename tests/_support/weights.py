"""Small random-init BAFE-Net checkpoints for tests: seeded, so that a test's weights are the same
from run to run, and saved like a trained model (safetensors with metadata)."""

from __future__ import annotations

from pathlib import Path

# Narrow heads and one tower conv: a network that trains a step in seconds on a CPU.
TINY = {"fpn_channels": 16, "gn_groups": 4, "tower_convs": 1, "adapter_hidden": 8}


def random_weights(path: Path, cfg: dict, seed: int = 0, **metadata) -> Path:
    """Save a BafeNet built from ``preset("default", **cfg)`` after ``torch.manual_seed(seed)``;
    ``metadata`` (operating_threshold, sky_threshold, ...) goes into the file as ``save_weights``
    writes it."""
    import torch

    from model.checkpoint import save_weights
    from model.config import preset
    from model.net import BafeNet

    torch.manual_seed(seed)
    config = preset("default", **cfg)
    save_weights(path, BafeNet(config).eval(), config, "default", **metadata)
    return path
