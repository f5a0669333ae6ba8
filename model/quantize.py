"""Static int8 quantisation of an fp32 ONNX graph (ONNX Runtime ``quantize_static``, QDQ format).

``quantize_onnx(fp32_bytes, calibration_inputs, recipe)`` works on any graph with one float input
(the detector today; a dedicated sky sub-network later): it reads the input name from the graph,
and the outputs are whatever the graph declares. Calibration inputs are prepared exactly as the
Predictor prepares its frames (``calibration_inputs``): the full-resolution frames AND the frames
shrunk for the whole-frame sky pass, since both go through the network, taken from ``train_v2``
only (val_v2 is the gate, docs/adr/0007).

The int8 file carries, in its ONNX metadata, everything the fp32 export has (thresholds, config,
``weights_sha256`` of the weights it came from) plus ``int8_recipe`` (JSON of the Recipe and the
calibration frame ids) and ``int8_gate`` (JSON: the val_v2 figures against ORT fp32 and whether the
gate passed). ``load_int8`` checks those before the Predictor uses the file.
"""

from __future__ import annotations

import enum
import json
import logging
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from model.config import BafeConfig

if TYPE_CHECKING:  # numpy is imported where used: the CLI builds its parser from this module
    import numpy as np

INT8_FORMAT = "bafenet-onnx-int8-v1"
INT8_SUFFIX = ".int8.onnx"


class Calibration(enum.Enum):
    """How activation ranges are chosen from the calibration frames."""

    MINMAX = "minmax"  # the observed range: every calibration value representable
    ENTROPY = "entropy"  # KL-divergence optimal clipping of the histogram
    PERCENTILE = "percentile"  # clip at a percentile of |x| (symmetric)


class QTypes(enum.Enum):
    """Activation and weight integer types (ORT's names: U8S8 = uint8 activations, int8 weights)."""

    U8S8 = "u8s8"  # the x86 VNNI fast path
    U8U8 = "u8u8"
    S8S8 = "s8s8"  # symmetric activations (zero point 0)


# Node groups that can stay fp32, by what they are in BAFE-Net's export (names from
# torch.onnx: "/net/head/cls_logits_1/Conv" is cls_logits on level 1). Patterns, not a node list,
# so the same recipe applies to weights of any depth and to a graph that lacks a group.
KEEP_GROUPS: dict[str, str] = {
    "heads": r"/head/(cls_logits|centerness|bbox|sky_logits)(_\d+)?/",  # the last conv of each head
    "exchange": r"/head/exchange(_\d+)?/",  # channel selection (scores feed a top-k) and adapters
    "stem": r"/backbone/stem/",  # the first conv sees the raw normalised image
    "towers": r"/head/(cls|reg|seg)_tower/",
}


@dataclass(frozen=True)
class Recipe:
    """One way of quantising: calibration, frames, granularity, types, nodes kept in fp32."""

    method: Calibration = Calibration.MINMAX
    frames: int = 16  # train_v2 frames, evenly spaced over the sorted split (plus their sky-pass frames)
    per_channel: bool = True
    # 7-bit weights: exact on every x86 CPU. Without VNNI (AVX2 only), ORT's u8s8 kernels sum pairs of
    # u8 x s8 products in saturating int16 (vpmaddubsw), which 8-bit weights overflow (ADR 0040).
    reduce_range: bool = True
    types: QTypes = QTypes.U8S8
    keep_fp32: tuple[str, ...] = ()  # names of KEEP_GROUPS
    percentile: float = 99.999

    def __post_init__(self) -> None:
        unknown = [g for g in self.keep_fp32 if g not in KEEP_GROUPS]
        if unknown:
            raise ValueError(f"unknown fp32 group(s) {unknown}; use {sorted(KEEP_GROUPS)}")
        if self.frames < 1:
            raise ValueError("a recipe needs at least one calibration frame")

    def label(self) -> str:
        parts = [self.method.value, f"{self.frames}f", "pc" if self.per_channel else "pt",
                 self.types.value]
        if self.reduce_range:
            parts.append("rr")
        if self.method is Calibration.PERCENTILE:
            parts.append(f"p{self.percentile:g}")
        if self.keep_fp32:
            parts.append("fp32:" + "+".join(self.keep_fp32))
        return " ".join(parts)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["method"], d["types"], d["keep_fp32"] = self.method.value, self.types.value, list(self.keep_fp32)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        return cls(method=Calibration(d["method"]), frames=int(d["frames"]), per_channel=bool(d["per_channel"]),
                   reduce_range=bool(d["reduce_range"]), types=QTypes(d["types"]),
                   keep_fp32=tuple(d["keep_fp32"]), percentile=float(d.get("percentile", 99.999)))


# The recipe export-model --int8 uses unless told otherwise: the gate's best candidate (ADR 0007);
# the cls / reg / seg towers in int8 since ADR 0033 (gate on the 256 val_v2 frames: mAP07 +0.0012
# against ORT fp32; the last conv of each head and the channel exchange stay fp32).
DEFAULT_RECIPE = Recipe(keep_fp32=("heads", "exchange"))


@dataclass
class Calib:
    """Calibration inputs ([1, 1, H, W] float32 arrays, as the Predictor feeds the network) and
    the ids of the frames they came from."""

    inputs: list[np.ndarray] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def calibration_ids(root: Path, n: int, split: str = "train_v2") -> list[str]:
    """n image ids evenly spaced over the sorted split (deterministic, all sizes represented)."""
    import numpy as np

    from core.errors import FormatError

    path = Path(root) / "Splits" / f"{split}.txt"
    try:
        ids = sorted(path.read_text().split())
    except OSError as exc:
        raise FormatError(f"{path}: cannot read the split ({exc.strerror or exc}); "
                          "--calib-data must be a DenseSIRST root (SIRSTdevkit)") from exc
    if not ids:
        raise FormatError(f"{path}: the split lists no images")
    n = min(n, len(ids))
    return [ids[int(i)] for i in np.linspace(0, len(ids) - 1, n).round().astype(int)]


def calibration_inputs(cfg: BafeConfig, root: Path, n: int, split: str = "train_v2",
                       bad_pixel_filter: bool = True, sky_pass: bool = True, full: bool = True,
                       sky_always: bool = False) -> Calib:
    """The network inputs of n split frames, prepared by model.inference.prepare_image as the
    Predictor does: the padded full frame (``full``) and, when the config has a whole-frame sky
    pass and the frame is larger, the shrunk frame (``sky_pass``; ``sky_always``: the frame itself
    when it is no larger, as a dedicated sky network sees it)."""
    from core.errors import FormatError
    from core.imageio import read_image
    from model.config import sky_pass_enabled
    from model.frames import prepare_image

    long_side = cfg.sky_pass_long_side if sky_pass and sky_pass_enabled(cfg) else 0
    out = Calib()
    for image_id in calibration_ids(root, n, split):
        path = Path(root) / "PNGImages" / f"{image_id}.png"
        if not path.is_file():
            raise FormatError(f"{path}: listed in {split} but missing")
        p = prepare_image(read_image(path), bad_pixel_filter=bad_pixel_filter, sky_long_side=long_side,
                          sky_always=sky_always)
        if full:
            out.inputs.append(p.x)
        if p.sky_x is not None:
            out.inputs.append(p.sky_x)
        out.ids.append(image_id)
    return out


def nodes_matching(model, groups: tuple[str, ...]) -> list[str]:
    """Names of the graph's nodes that belong to the given KEEP_GROUPS."""
    if not groups:
        return []
    pattern = re.compile("|".join(f"(?:{KEEP_GROUPS[g]})" for g in groups))
    return [n.name for n in model.graph.node if pattern.search(n.name)]


class _Reader:
    """CalibrationDataReader over arrays; ``set_range`` lets ORT feed one input at a time
    (CalibStridedMinMax = 1), so a histogram calibrator never holds every intermediate tensor of
    every frame at once (1280x1024 frames would need gigabytes)."""

    def __init__(self, name: str, inputs: list[np.ndarray]) -> None:
        self.name, self.inputs = name, inputs
        self.set_range(0, len(inputs))

    def __len__(self) -> int:
        return len(self.inputs)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._it = iter(self.inputs[start_index:end_index])

    def get_next(self):
        x = next(self._it, None)
        return None if x is None else {self.name: x}

    def rewind(self) -> None:
        self.set_range(0, len(self.inputs))


def quantize_onnx(fp32_bytes: bytes, calibration_inputs: list[np.ndarray], recipe: Recipe,
                  calibration_cache: Path | None = None, exclude: tuple[str, ...] = ()) -> bytes:
    """The int8 QDQ model of an fp32 ONNX graph; its metadata_props are kept.

    ``exclude``: names of nodes kept in float besides the recipe's groups (the sky graph's mirror
    tail: model.sky_look.tail_nodes).

    ``calibration_cache``: a file where the activation ranges are stored / reused (ranges depend
    only on the method and the frames, so exploring exclusions or types reuses them).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantType
    from onnxruntime.quantization.calibrate import CalibrationDataReader

    if not calibration_inputs:
        raise ValueError("quantize_onnx needs calibration inputs")
    model = onnx.load_from_string(fp32_bytes)
    name = model.graph.input[0].name
    methods = {Calibration.MINMAX: CalibrationMethod.MinMax, Calibration.ENTROPY: CalibrationMethod.Entropy,
               Calibration.PERCENTILE: CalibrationMethod.Percentile}
    act = QuantType.QInt8 if recipe.types is QTypes.S8S8 else QuantType.QUInt8
    wt = QuantType.QUInt8 if recipe.types is QTypes.U8U8 else QuantType.QInt8

    class Reader(_Reader, CalibrationDataReader):
        pass

    extra = {"CalibStridedMinMax": 1, "CalibPercentile": recipe.percentile}
    if recipe.types is QTypes.S8S8:
        extra["ActivationSymmetric"] = True  # S8S8 kernels want a zero point of 0
    root_log = logging.getLogger()
    level = root_log.level
    root_log.setLevel(logging.ERROR)  # ORT's quantizer warns on the root logger about every GroupNorm bias
    try:
        out = _quantize_static(fp32_bytes, Reader(name, calibration_inputs), model, recipe, extra, act, wt,
                               methods, calibration_cache, exclude)
    finally:
        root_log.setLevel(level)
    # quantize_static keeps the graph's metadata_props; doc_string says what the file is.
    out.doc_string = (model.doc_string + " (int8 QDQ)").strip()
    return out.SerializeToString()


def _quantize_static(fp32_bytes, reader, model, recipe, extra, act, wt, methods, calibration_cache, exclude):
    import onnx
    from onnxruntime.quantization import QuantFormat, quantize_static

    with tempfile.TemporaryDirectory(prefix="sirst-int8-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(fp32_bytes)
        quantize_static(str(src), str(dst), reader, quant_format=QuantFormat.QDQ,
                        per_channel=recipe.per_channel, reduce_range=recipe.reduce_range,
                        activation_type=act, weight_type=wt,
                        nodes_to_exclude=nodes_matching(model, recipe.keep_fp32) + list(exclude),
                        calibrate_method=methods[recipe.method], extra_options=extra,
                        calibration_cache_path=str(calibration_cache) if calibration_cache else None)
        return onnx.load(str(dst))


def with_metadata(data: bytes, extra: dict[str, str]) -> bytes:
    """The model with its metadata_props updated by ``extra``."""
    import onnx

    model = onnx.load_from_string(data)
    props = {p.key: p.value for p in model.metadata_props}
    props.update(extra)
    del model.metadata_props[:]
    for key, value in props.items():
        p = model.metadata_props.add()
        p.key, p.value = key, value
    return model.SerializeToString()


def int8_metadata(recipe: Recipe, ids: list[str], gate: dict | None) -> dict[str, str]:
    """The int8 provenance keys: the format, the recipe with its calibration frames, the gate."""
    return {"format": INT8_FORMAT, "int8_recipe": json.dumps({**recipe.to_dict(), "calibration_ids": ids}),
            "int8_gate": json.dumps(gate if gate is not None else {"run": False})}


def int8_path(weights: Path) -> Path:
    """Where the Predictor looks for the int8 model of a weights file: beside it,
    ``<stem>.int8.onnx`` (resources/models/bafenet_default.int8.onnx for the shipped model)."""
    return Path(weights).with_name(Path(weights).stem + INT8_SUFFIX)


def sky_int8_path(weights: Path) -> Path:
    """Where the Predictor looks for the sky network's int8 graph: the int8 file's sky companion,
    ``<stem>.int8.sky.onnx`` (as ``export-model --onnx FILE`` writes ``FILE.sky.onnx``; model/sky_int8.py)."""
    path = int8_path(weights)
    return path.with_name(path.stem + ".sky.onnx")  # model.onnx_export.sky_companion's rule (not imported:
    # onnx_export sits above this module in the import graph)


def read_gate(meta: dict[str, str]) -> dict:
    """The file's recorded gate (``int8_gate``), checked field by field; Int8Unusable when it is
    not the JSON object ``build_int8`` writes (a file whose provenance cannot be read is not used)."""
    raw = meta.get("int8_gate", "{}")
    try:
        gate = json.loads(raw)
    except ValueError:
        gate = None
    numbers = ("tolerance", "d_map07", "d_sky_iou", "d_fa_per_image")
    ok = (
        isinstance(gate, dict)
        and all(isinstance(gate.get(k, False), bool) for k in ("run", "passed", "whole_split"))
        and all(isinstance(gate.get(k, 0), int | float) and not isinstance(gate.get(k, 0), bool) for k in numbers)
        and all(isinstance(gate.get(k, {}), dict) for k in ("fp32", "int8"))
    )
    if not ok:
        shown = raw if len(raw) <= 40 else raw[:37] + "..."
        raise Int8Unusable(f"the int8 model's gate record (int8_gate) is broken: {shown!r}")
    return gate


def gate_problem(meta: dict[str, str]) -> str | None:
    """Why the file's recorded gate does not vouch for it (None: passed on the whole split);
    Int8Unusable when the record is broken (see ``read_gate``)."""
    gate = read_gate(meta)
    if not gate.get("run"):
        return "its accuracy gate was not run"
    if not gate.get("passed"):
        return (f"it failed its accuracy gate (d mAP07 {gate.get('d_map07', 0):+.4f}, "
                f"d sky IoU {gate.get('d_sky_iou', 0):+.4f} on {gate.get('int8', {}).get('images', '?')} frames)")
    if not gate.get("whole_split", True):
        return f"its gate ran on {gate.get('int8', {}).get('images', '?')} frames only"
    return None


class Int8Unusable(Exception):
    """Why an int8 file cannot serve these weights (the Predictor falls back to ORT fp32)."""


def read_int8(path: Path, weights_sha256: str) -> tuple[bytes, dict[str, str]]:
    """The int8 model bytes and metadata, if the file is intact, is an int8 BAFE-Net model and was
    made from exactly these weights; else Int8Unusable(reason). The gate's verdict is the caller's
    to report (``gate_problem``)."""
    import onnx

    if not path.is_file():
        raise Int8Unusable(f"no int8 model at {path} (make it with: main.py export-model --int8 {path} "
                           "--calib-data DENSESIRST_ROOT)")
    try:
        data = path.read_bytes()
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf's DecodeError, checker's ValidationError, OSError
        raise Int8Unusable(f"int8 model {path} is damaged or truncated ({type(exc).__name__})") from exc
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get("format") != INT8_FORMAT:
        raise Int8Unusable(f"{path} is not an int8 BAFE-Net model (format {meta.get('format')!r})")
    if meta.get("weights_sha256") != weights_sha256:
        raise Int8Unusable(f"int8 model {path} is stale: made from other weights "
                           f"(sha256 {meta.get('weights_sha256', '?')[:12]}, these {weights_sha256[:12]})")
    read_gate(meta)  # a broken gate record: unusable, like a damaged file
    return data, meta


def refuse_saturating(path: Path, meta: dict[str, str]) -> None:
    """Int8Unusable when this CPU would compute the file's int8 kernels wrongly (``saturation_problem``);
    the runners call it once the graph is known to fit, so a file of another network says that first."""
    problem = saturation_problem(meta)
    if problem:
        raise Int8Unusable(f"int8 model {path} {problem}")


def saturation_problem(meta: dict[str, str]) -> str | None:
    """Why this CPU would compute the file's int8 kernels wrongly (None: it computes them exactly):
    8-bit u8s8 / s8s8 weights on an x86 CPU without VNNI (model/cpu_int8.py, ADR 0040). A file
    whose recipe cannot be read is treated as full-range."""
    from model.cpu_int8 import full_range_int8_exact

    try:
        recipe = json.loads(meta.get("int8_recipe", "{}"))
        reduced = bool(recipe.get("reduce_range")) if isinstance(recipe, dict) else False
        types = recipe.get("types") if isinstance(recipe, dict) else None
    except ValueError:
        reduced, types = False, None
    if reduced or types == QTypes.U8U8.value or full_range_int8_exact():
        return None
    return ("has 8-bit weights, which this CPU (x86 without VNNI) sums with saturation and gets wrong; "
            "make it again with 7-bit weights: main.py export-model --int8 FILE --calib-data DENSESIRST_ROOT")


def gate_head(gate: dict, name: str) -> str | None:
    """The start of a gate's one-line verdict ("<name> passed on val_v2 (256 images): "), shared by
    the detector's and the sky network's gates; None when the gate did not run."""
    if not gate.get("run"):
        return None
    part = "" if gate.get("whole_split", True) else ", a subset: not the full gate"
    return (f"{name} {'passed' if gate['passed'] else 'FAILED'} on {gate.get('split', '?')} "
            f"({gate['fp32']['images']} images{part}): ")
