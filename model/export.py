"""Re-save a training run's best weights as a standalone file (shared by `main.py train --export`
and the model-card script, so that the model layer never imports the app's CLI)."""

from __future__ import annotations

from pathlib import Path


def export_weights(run_dir: Path, dest: Path) -> Path:
    """Re-save RUN_DIR/best.safetensors (or a weights file given directly) atomically at ``dest``
    with its metadata; returns the source file."""
    from model.checkpoint import build_from_weights, read_metadata, save_weights

    src = Path(run_dir) / "best.safetensors" if Path(run_dir).is_dir() else Path(run_dir)
    net, cfg, _meta = build_from_weights(src)
    meta = dict(read_metadata(src))
    preset = meta.pop("preset", "default")
    for key in ("config", "format"):
        meta.pop(key, None)
    save_weights(dest, net, cfg, preset, **meta)
    return src
