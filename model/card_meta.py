"""The model card inside a weights file: its safetensors metadata, kept consistent and current.

- **One operating threshold.** The metadata key ``operating_threshold`` is the value the Predictor
  uses; ``config.operating_threshold`` mirrors it (``save_weights`` and ``refreshed`` write both
  from the same number), so no reader sees two.
- **One set of validation figures.** ``val`` holds the figures of the weights as shipped, measured
  on the validation split through ``main.py predict`` and ``main.py evaluate`` (``val_source``
  says how and when); Pd / FA there follow the field's centre-distance definition and
  ``pd_iou`` / ``fa_per_image_iou`` are the IoU >= 0.5 variant. ``train-sky`` merges its sky
  figures into ``val`` (``merged_sky``) instead of keeping a second, partly contradicting set.
- **Rewriting the card leaves the tensors alone.** ``rewrite_metadata`` replaces only the JSON
  header of the safetensors file and copies the tensor bytes verbatim, atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

# Keys of ``val`` that describe the sky proposal (replaced as a group when the sky network changes).
SKY_KEYS = ("sky_iou", "sky_iou_raw", "sky_threshold", "sky_median", "sky_large", "sky_large_mean",
            "sky_clean_iou", "rings", "vertices")
_MAX_HEADER = 100 * 2**20  # safetensors' own limit on the JSON header


def merged_sky(val_json: str | None, sky: dict[str, float]) -> dict[str, float]:
    """The detector's ``val`` figures with every sky figure replaced by those of ``sky``."""
    try:
        val = json.loads(val_json) if val_json else {}
    except ValueError:
        val = {}
    if not isinstance(val, dict):
        val = {}
    out = {k: v for k, v in val.items() if k not in SKY_KEYS}
    out.update(sky)
    return out


def synced_config(config_json: str, operating_threshold: float) -> str:
    """The config JSON with ``operating_threshold`` set to the metadata's value (sorted keys, as saved)."""
    cfg = json.loads(config_json)
    cfg["operating_threshold"] = float(operating_threshold)
    return json.dumps(cfg, sort_keys=True)


def refreshed(meta: dict[str, str], figures: dict[str, float], source: str) -> dict[str, str]:
    """New metadata: ``val`` = figures (the operating threshold and the sky threshold included),
    ``val_source``, the config synced to the operating threshold, ``sky_val`` folded away."""
    out = {k: v for k, v in meta.items() if k != "sky_val"}
    thr = float(meta["operating_threshold"])
    val = dict(figures)
    val["threshold"] = thr
    val["sky_threshold"] = float(meta.get("sky_threshold", 0.5))
    out["val"] = json.dumps(val, sort_keys=True)
    out["val_source"] = source
    out["config"] = synced_config(meta["config"], thr)
    return out


def _split(raw: bytes, path: Path) -> tuple[dict, bytes]:
    if len(raw) < 8:
        raise ValueError(f"{path} is not a safetensors file (shorter than its header length)")
    n = int.from_bytes(raw[:8], "little")
    if n > min(_MAX_HEADER, len(raw) - 8):
        raise ValueError(f"{path} is not a safetensors file (header length {n})")
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def rewrite_metadata(path: Path, metadata: dict[str, str]) -> None:
    """Replace the safetensors metadata of ``path`` in place (atomic); the tensors' bytes and their
    offsets stay exactly as they were."""
    from core.fileio import atomic_write_bytes

    path = Path(path)
    raw = path.read_bytes()
    header, data = _split(raw, path)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError("safetensors metadata values must be strings")
    header["__metadata__"] = dict(metadata)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned, as safetensors writes it
    atomic_write_bytes(path, len(text).to_bytes(8, "little") + text + data)


def tensor_bytes(path: Path) -> bytes:
    """The data section of a safetensors file (all tensors, as stored): for bit-identity checks."""
    return _split(Path(path).read_bytes(), Path(path))[1]


def header_metadata(path: Path) -> dict[str, str]:
    """The metadata of a safetensors file from its header alone (no torch, no tensor bytes read)."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else 0
        header, _ = _split(head + f.read(min(n, _MAX_HEADER)), path)
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return dict(meta) if isinstance(meta, dict) else {}


def rescorer_note(meta: dict[str, str]) -> str:
    """One sentence on a weights file's rescorer (ADR 0041 / 0042) for the person who trained it:
    what the fine-tune did with its parent's, or whether the file has one; "" for a file that
    cannot be read that way."""
    try:
        config = json.loads(meta.get("config", "{}"))
        carry = json.loads(meta["rescore_carry"]) if "rescore_carry" in meta else None
    except (ValueError, TypeError):
        return ""
    has = bool(config.get("rescore")) if isinstance(config, dict) else False
    if not isinstance(carry, dict):
        return "Second look at scores (rescorer): on." if has else ""
    folds = carry.get("two_fold") or {}
    figures = ", ".join(f"{k} {v:.2f}" for k, v in sorted(folds.items()) if isinstance(v, int | float))
    said = {"parent": "the parent's, kept", "refit": "refitted on the validation images",
            "none": "off (the network's own scores did better on the validation images)"}.get(carry.get("carry"))
    if said is None:
        return ""
    return f"Second look at scores (rescorer): {said}" + (f"; target corrections per image, out of fold: {figures}." if figures and any(folds.values()) else ".")
