"""The int8 accuracy gate: a quantised graph against ORT fp32 on val_v2, through the Predictor.

Figures are those a user gets: the Predictor's own stages (prepare with the bad-pixel filter and
the whole-frame sky pass, finish with decoding / NMS, the cleaned sky mask at the model's sky
threshold) with only the network swapped, scored as ``main.py evaluate`` scores the files
``predict`` writes (core.evaluation.score, docs/adr/0021): mAP07 (legacy widths), sky IoU pooled
over the images with a sky label, false alarms per image at the model's operating threshold. The gate passes when int8 loses at most GATE (0.005) mAP07 and sky IoU.

``build_int8`` is what ``main.py export-model --int8`` runs: calibrate, quantise, gate, and the
metadata the file carries (docs/adr/0007).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from model.quantize import (
    Recipe,
    calibration_inputs,
    gate_head,
    int8_metadata,
    quantize_onnx,
    with_metadata,
)

log = logging.getLogger(__name__)

GATE = 0.005


@dataclass
class Figures:
    map07: float
    sky_iou: float
    fa_per_image: float
    images: int


@dataclass
class GateSample:
    image: np.ndarray  # raw pixels as read from disk (the Predictor prepares them)
    boxes: np.ndarray  # float64 [N, 4]
    sky: np.ndarray | None  # bool [H, W] or None (no sky label)


def load_split(root: Path, split: str = "val_v2", limit: int | None = None) -> list[GateSample]:
    """The split's frames as raw pixels with their boxes and sky masks (as ``evaluate`` reads them);
    ``limit``: only that many, evenly spaced over the split (a quick look, not the gate)."""
    from core.formats.densesirst import read_sample, read_split
    from core.imageio import read_image

    ids = read_split(root, split)
    if limit is not None and limit < len(ids):
        ids = [ids[round(i * (len(ids) - 1) / max(limit - 1, 1))] for i in range(limit)]
    out = []
    for image_id in ids:
        s = read_sample(root, image_id)
        boxes = np.asarray([t.box for t in s.annotation.targets if t.box], np.float64).reshape(-1, 4)
        sky = None if s.annotation.sky is None else np.asarray(s.annotation.sky, bool)
        out.append(GateSample(read_image(s.image_path), boxes, sky))
    return out


def load_split_ids(root: Path, split: str) -> list[str]:
    from core.formats.densesirst import read_split

    return list(read_split(root, split))


def evaluate(predictor, samples: list[GateSample]) -> Figures:
    """The Predictor's figures on the samples (its backend as loaded), scored as ``main.py
    evaluate`` scores the files ``predict`` writes (core.evaluation: the written detections, the
    kept boxes at the model's operating threshold, the cleaned sky mask at its sky threshold)."""
    from core import evaluation

    gts, dets, kept, sky = [], [], [], []
    for s in samples:
        p = predictor.predict(s.image)
        gts.append(s.boxes)
        dets.append(evaluation.as_written(p.boxes, p.scores))
        kept.append(evaluation.kept_boxes(p.boxes, p.scores, predictor.operating_threshold))
        if s.sky is not None:
            sky.append(evaluation.sky_count(p.sky_mask(), s.sky))
    res = evaluation.score(gts, dets, kept, sky)
    return Figures(res["mAP07"], res["sky_iou"] if sky else 1.0, res["fa_per_image"], len(samples))


def gate_result(ref: Figures, cand: Figures) -> dict:
    """The gate's figures for the metadata: both sides, the differences, pass or fail."""
    d_map, d_sky = cand.map07 - ref.map07, cand.sky_iou - ref.sky_iou
    return {"run": True, "passed": bool(d_map >= -GATE and d_sky >= -GATE), "tolerance": GATE,
            "fp32": asdict(ref), "int8": asdict(cand), "d_map07": round(d_map, 5), "d_sky_iou": round(d_sky, 5),
            "d_fa_per_image": round(cand.fa_per_image - ref.fa_per_image, 4)}


def swap_network(predictor, data: bytes, threads: int | None):
    """A shallow copy of the Predictor whose network is the ONNX graph ``data`` (for the gate)."""
    import copy
    import threading

    from model.backends import Backend, OnnxRunner, make_session

    other = copy.copy(predictor)
    other._runner = OnnxRunner(make_session(data, threads), predictor.cfg, Backend.ONNX_INT8)
    other.backend = Backend.ONNX_INT8
    other._lock = threading.Lock()
    return other


def build_int8(weights: Path, calib_root: Path, recipe: Recipe, gate_split: str | None = "val_v2",
               threads: int | None = 1, progress=None, gate_frames: int | None = None) -> tuple[bytes, dict]:
    """The int8 model of a weights file, calibrated on ``recipe.frames`` train_v2 frames of
    ``calib_root`` and (``gate_split``) gated on that split against ORT fp32 (``gate_frames``:
    only that many frames, evenly spaced, recorded as a partial gate); (bytes, gate dict)."""
    from model.inference import Predictor
    from model.onnx_export import cached_onnx

    say = progress or (lambda _msg: None)
    fp32 = Predictor(weights, threads=threads, backend="onnx")
    calib = calibration_inputs(fp32.cfg, calib_root, recipe.frames)
    say(f"calibrating on {len(calib.ids)} train_v2 frames ({len(calib.inputs)} network inputs), {recipe.label()}")
    fp32_bytes = cached_onnx(fp32.net, fp32.cfg, fp32.metadata, fp32.weights)
    data = quantize_onnx(fp32_bytes, calib.inputs, recipe)
    gate = None
    if gate_split:
        samples = load_split(calib_root, gate_split, gate_frames)
        say(f"gate: ORT fp32 on {len(samples)} {gate_split} frames")
        ref = evaluate(fp32, samples)
        say(f"gate: int8 on {len(samples)} {gate_split} frames")
        cand = evaluate(swap_network(fp32, data, threads), samples)
        gate = gate_result(ref, cand)
        gate["split"] = gate_split
        gate["whole_split"] = gate_frames is None or len(samples) == len(load_split_ids(calib_root, gate_split))
    data = with_metadata(data, int8_metadata(recipe, calib.ids, gate))
    return data, gate or {"run": False}


def gate_line(gate: dict) -> str:
    if (head := gate_head(gate, "gate")) is None:
        return "accuracy gate not run"
    a, b = gate["fp32"], gate["int8"]
    return (f"{head}mAP07 {b['map07']:.4f} vs fp32 {a['map07']:.4f} ({gate['d_map07']:+.4f}), "
            f"sky IoU {b['sky_iou']:.4f} vs {a['sky_iou']:.4f} ({gate['d_sky_iou']:+.4f}), "
            f"FA/img {b['fa_per_image']:.2f} vs {a['fa_per_image']:.2f}; tolerance {gate['tolerance']}")


def dumps(gate: dict) -> str:
    return json.dumps(gate, sort_keys=True)
