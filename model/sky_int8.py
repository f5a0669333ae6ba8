"""The whole-frame sky network in int8: quantised like the detector, gated on its own (ADR 0026).

The sky network (model/skynet.py, ADR 0010) runs on the frame shrunk to 448 px and on its mirror
(a batch of two inside its graph); in fp32 it was the most expensive part of ``predict``. Its
int8 graph is the sky companion of the detector's int8 file, ``<stem>.int8.sky.onnx`` beside the
weights (as ``export-model --onnx FILE`` writes ``FILE.sky.onnx``), with the same provenance keys
(model/quantize.py: format, ``weights_sha256``, recipe with the calibration frame ids, gate) plus
``graph: sky``. The ``onnx-int8`` backend runs it when it was made from exactly these weights and
falls back to the fp32 sky graph otherwise (model/backends.py).

Calibration: the sky inputs of train_v2 frames prepared as the Predictor prepares them (the frame
shrunk to ``sky_pass_long_side``, or the frame itself when no larger). Gate: on val_v2, through the
Predictor's own stages (prepare, the detector, finish, the cleaned sky mask at the model's sky
threshold) with only the sky graph swapped, the pooled sky IoU of int8 may lose at most
``SKY_GATE`` (0.002, the noise between two evaluations of the shipped model) against ORT fp32;
the per-frame disagreement of the two masks is recorded beside it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from model.quantize import (  # noqa: F401 (sky_int8_path re-exported)
    Recipe,
    calibration_inputs,
    gate_head,
    int8_metadata,
    quantize_onnx,
    sky_int8_path,
    with_metadata,
)

SKY_GATE = 0.002
SKY_GRAPH = "sky"  # the ``graph`` metadata key of the sky network's files


def sky_recipe(recipe: Recipe) -> Recipe:
    """The detector's recipe for the sky graph: its node groups name detector nodes, so every node
    of the sky network is quantised (gate: MODEL.md "int8")."""
    return dataclasses.replace(recipe, keep_fp32=())


@dataclasses.dataclass
class SkyFigures:
    sky_iou: float  # pooled over the frames with a sky label, the cleaned mask
    images: int
    disagree_mean: float = 0.0  # share of pixels where the int8 mask differs from the fp32 one
    disagree_max: float = 0.0


def gate_sky(predictor, int8_runner, samples) -> dict:
    """The sky gate's record: fp32 (the predictor's own sky runner) against ``int8_runner`` on the
    samples (model.int8_gate.GateSample), each frame prepared once and its detector run once."""
    from model.inference import WHOLE_SKY

    inter = {"fp32": 0, "int8": 0}
    union = {"fp32": 0, "int8": 0}
    disagree = []
    for s in samples:
        prepared = predictor.prepare(s.image)
        maps = predictor.run_network(prepared)
        masks = {"fp32": predictor.finish(prepared, maps).sky_mask()}
        if prepared.sky_x is not None:
            maps = {**maps, WHOLE_SKY: [int8_runner(prepared.sky_x)]}
        masks["int8"] = predictor.finish(prepared, maps).sky_mask()
        disagree.append(float(np.mean(masks["fp32"] != masks["int8"])))
        if s.sky is not None:
            for k, m in masks.items():
                inter[k] += int(np.count_nonzero(m & s.sky))
                union[k] += int(np.count_nonzero(m | s.sky))
    iou = {k: inter[k] / union[k] if union[k] else 1.0 for k in inter}
    fig = {k: SkyFigures(iou[k], len(samples)) for k in iou}
    fig["int8"].disagree_mean = float(np.mean(disagree)) if disagree else 0.0
    fig["int8"].disagree_max = float(np.max(disagree)) if disagree else 0.0
    d_sky = iou["int8"] - iou["fp32"]
    return {"run": True, "passed": bool(d_sky >= -SKY_GATE), "tolerance": SKY_GATE, "graph": SKY_GRAPH,
            "fp32": dataclasses.asdict(fig["fp32"]), "int8": dataclasses.asdict(fig["int8"]),
            "d_map07": 0.0, "d_sky_iou": round(d_sky, 5), "d_fa_per_image": 0.0}


class _SessionSky:
    """A sky runner on an ONNX graph in memory (for the gate)."""

    def __init__(self, data: bytes, threads: int | None) -> None:
        from model.backends import OnnxSkyRunner, make_session

        self.session = make_session(data, threads)
        self._run = OnnxSkyRunner.run_session

    def __call__(self, x: np.ndarray):
        return self._run(self.session, x)


def build_sky_int8(weights: Path, calib_root: Path, recipe: Recipe, samples: list | None = None,
                   threads: int | None = 1, progress=None, split: str = "val_v2",
                   whole_split: bool = True) -> tuple[bytes, dict]:
    """The int8 sky graph of a weights file with a sky network, calibrated on ``recipe.frames``
    train_v2 frames of ``calib_root`` and, given ``samples`` (model.int8_gate.load_split of
    ``split``; ``whole_split`` False when they are a subset), gated against ORT fp32;
    (bytes, gate dict). ValueError for weights without a sky network."""
    from model.inference import Predictor
    from model.onnx_export import GraphPart, cached_onnx
    from model.sky_look import ALWAYS, tail_nodes

    say = progress or (lambda _msg: None)
    fp32 = Predictor(weights, threads=threads, backend="onnx")
    fp32.sky_mirror = ALWAYS  # both looks on every frame, as the int8 graph runs them (ADR 0036)
    if fp32._sky_runner is None:
        raise ValueError(f"{Path(weights).name} has no whole-frame sky network: no sky graph to quantise")
    recipe = sky_recipe(recipe)
    calib = calibration_inputs(fp32.cfg, calib_root, recipe.frames, full=False, sky_always=True)
    say(f"sky network: calibrating on {len(calib.ids)} train_v2 frames ({len(calib.inputs)} inputs), {recipe.label()}")
    fp32_graph = cached_onnx(fp32.net, fp32.cfg, fp32.metadata, fp32.weights, GraphPart.SKY)
    data = quantize_onnx(fp32_graph, calib.inputs, recipe, exclude=tail_nodes(fp32_graph))
    gate = None
    if samples is not None:
        say(f"sky gate: ORT fp32 and int8 on {len(samples)} {split} frames")
        gate = gate_sky(fp32, _SessionSky(data, threads), samples)
        gate["split"], gate["whole_split"] = split, bool(whole_split)
    data = with_metadata(data, {**int8_metadata(recipe, calib.ids, gate), "graph": SKY_GRAPH})
    return data, gate or {"run": False}


def sky_gate_line(gate: dict) -> str:
    if (head := gate_head(gate, "sky gate")) is None:
        return "sky accuracy gate not run"
    a, b = gate["fp32"], gate["int8"]
    return (f"{head}sky IoU {b['sky_iou']:.4f} vs fp32 {a['sky_iou']:.4f} "
            f"({gate['d_sky_iou']:+.4f}), masks differ on {100 * b['disagree_mean']:.2f} % of the pixels "
            f"(at most {100 * b['disagree_max']:.1f} % of a frame); tolerance {gate['tolerance']}")
