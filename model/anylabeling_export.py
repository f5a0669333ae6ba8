"""BAFE-Net as a custom YOLO-style model for X-AnyLabeling: one static ONNX graph plus its YAML.

X-AnyLabeling's ``yolov8`` model type (docs/adr/0018-pd-fa-and-x-anylabeling.md) feeds the graph an
RGB frame letterboxed to the graph's fixed input size (aspect kept, the rest filled with grey 114),
as float32 [1, 3, H, W] in [0, 1], and reads one output [1, 4 + classes, N]: per candidate the box
centre x, centre y, width, height in input pixels, then one score per class. It keeps the
candidates whose best class score reaches ``confidence_threshold``, runs NMS at
``nms_threshold`` and maps the boxes back through the letterbox.

So the graph here is the detector with its decoding inside: gray = BT.601 luminance of the RGB
input (exact for gray frames, whose three channels are equal), the network, then for every
location of every FPN level score = sqrt(sigmoid(cls) * sigmoid(ctr)) and the decoded box clipped
to the input, as ``main.py predict`` computes them (model.postprocess). The output has one class
(``target``), so N = sum over levels of (H / stride) * (W / stride). Not in the graph: the
bad-pixel repair (``predict`` repairs isolated hot / dead pixels first) and the sky (a second
network; X-AnyLabeling's detector models draw boxes only). Thresholds go into the YAML: the
model's operating threshold as ``confidence_threshold`` and the config's NMS IoU.

Export at the size of the frames to label (default 640x512): a frame of that size passes the
letterbox unchanged and gets exactly ``predict``'s boxes. Other frames are scaled and padded with
grey bands, and the network's dynamic channel selection pools over the whole input, bands
included, so their scores shift (ADR 0018 has the figures).
"""

from __future__ import annotations

import io
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from model.assign import all_locations
from model.boxes import decode
from model.config import BafeConfig

MODEL_TYPE = "yolov8"  # X-AnyLabeling's model type whose output layout the graph follows
CLASSES = ("target",)  # the class list of this app's YOLO export (core.formats.yolo)
INPUT_NAME, OUTPUT_NAME = "images", "output0"
DEFAULT_SIZE = (512, 640)  # (height, width): the commonest infrared frame, 640x512, runs unletterboxed
ANYLABELING_FORMAT = "bafenet-x-anylabeling-v1"
_BT601 = (0.299, 0.587, 0.114)


class DecodedDetector(nn.Module):
    """[1, 3, H, W] RGB in [0, 1] -> [1, 4 + 1, N]: (cx, cy, w, h) in input pixels and the score."""

    def __init__(self, net: nn.Module, cfg: BafeConfig, size: tuple[int, int]) -> None:
        super().__init__()
        self.net = net.eval()
        h, w = size
        with torch.no_grad():
            shapes = [tuple(m.shape[-2:]) for m in net(torch.zeros(1, 1, h, w))["cls"]]
        locs, strs, _ = all_locations(shapes, cfg.strides)
        self.register_buffer("locs", locs)
        self.register_buffer("strs", strs)
        self.register_buffer("rgb_weights", torch.tensor(_BT601).view(1, 3, 1, 1))
        self.register_buffer("limit", torch.tensor([w, h, w, h], dtype=torch.float32))

    def forward(self, images: Tensor) -> Tensor:
        gray = (images * self.rgb_weights).sum(dim=1, keepdim=True)
        out = self.net(gray)
        cls = torch.cat([m.flatten(2) for m in out["cls"]], dim=2)[:, 0]  # [1, N]
        ctr = torch.cat([m.flatten(2) for m in out["ctr"]], dim=2)[:, 0]
        deltas = torch.cat([m.flatten(2) for m in out["box"]], dim=2).transpose(1, 2)  # [1, N, 4]
        scores = torch.sqrt(torch.sigmoid(cls) * torch.sigmoid(ctr))
        boxes = decode(deltas, self.locs, self.strs)
        boxes = torch.minimum(boxes.clamp(min=0.0), self.limit)  # clipped to the input, as predict clips
        xy = (boxes[..., :2] + boxes[..., 2:]) / 2
        wh = boxes[..., 2:] - boxes[..., :2]
        return torch.cat([xy, wh, scores[..., None]], dim=2).transpose(1, 2)


@dataclass
class AnyLabelingExport:
    onnx_path: Path
    yaml_path: Path
    size: tuple[int, int]  # (height, width)
    candidates: int  # N of the output
    confidence_threshold: float
    nms_threshold: float


def check_size(size: tuple[int, int], multiple: int = 32) -> str | None:
    """Why (height, width) cannot be the graph's input, or None."""
    h, w = size
    if h < multiple or w < multiple or h % multiple or w % multiple:
        return f"input size {w}x{h}: width and height must be multiples of {multiple} (e.g. 640x512)"
    if h * w > 4096 * 4096:
        return f"input size {w}x{h} is larger than 4096x4096"
    return None


def parse_size(text: str) -> tuple[int, int]:
    """'640' -> (640, 640); '1280x1024' (width x height) -> (1024, 1280); ValueError otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text)
    if not m:
        raise ValueError(f"{text!r} is not a size; give N or WIDTHxHEIGHT, e.g. 640 or 1280x1024")
    w = int(m.group(1))
    h = int(m.group(2)) if m.group(2) else w
    problem = check_size((h, w))
    if problem:
        raise ValueError(problem)
    return h, w


def graph_bytes(net: nn.Module, cfg: BafeConfig, size: tuple[int, int], metadata: dict[str, str]) -> bytes:
    """The serialised static-size ONNX model with ``metadata`` as metadata_props."""
    import onnx

    from model.onnx_export import OPSET

    was_training = net.training
    wrapper = DecodedDetector(net, cfg, size).eval()
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(wrapper, (torch.zeros(1, 3, *size),), buf, dynamo=False, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], opset_version=OPSET)
    finally:
        net.train(was_training)
    model = onnx.load_from_string(buf.getvalue())
    for key, value in metadata.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    model.doc_string = "BAFE-Net infrared small-target detector, YOLO-style decoded output (SIRST Studio)"
    return model.SerializeToString()


def yaml_text(fields: dict[str, object]) -> str:
    """A YAML mapping whose every value is written as JSON (a subset of YAML), one key per line."""
    return "".join(f"{k}: {json.dumps(v)}\n" for k, v in fields.items())


def yaml_fields(onnx_name: str, name: str, size: tuple[int, int], confidence: float, nms_iou: float) -> dict:
    h, w = size
    return {
        "type": MODEL_TYPE,
        "name": name,
        "display_name": f"BAFE-Net small targets ({name}, {w}x{h})",
        "model_path": onnx_name,
        "input_width": w,
        "input_height": h,
        "confidence_threshold": round(confidence, 4),
        "nms_threshold": nms_iou,
        "classes": list(CLASSES),
    }


def export_x_anylabeling(weights: Path, out: Path, size: tuple[int, int] = DEFAULT_SIZE) -> AnyLabelingExport:
    """Write ``out`` (the ONNX graph) and ``out`` with suffix .yaml (X-AnyLabeling's model config,
    ``model_path`` relative to it), both atomically; CheckpointError for bad weights."""
    from core.formats._io import atomic_write_bytes, atomic_write_text
    from model.net import build_from_weights
    from model.onnx_export import file_sha256

    problem = check_size(size)
    if problem:
        raise ValueError(problem)
    net, cfg, meta = build_from_weights(weights)
    operating = float(meta.get("operating_threshold", cfg.operating_threshold))
    h, w = size
    candidates = sum((h // s) * (w // s) for s in cfg.strides)
    metadata = {
        "format": ANYLABELING_FORMAT,
        "weights_sha256": file_sha256(weights),
        "operating_threshold": str(operating),
        "nms_iou": str(cfg.nms_iou),
        "classes": json.dumps(list(CLASSES)),
        "input": f"{INPUT_NAME} float32 [1,3,{h},{w}]: RGB in [0,1], letterboxed (grey 114 padding)",
        "output": f"{OUTPUT_NAME} float32 [1,{4 + len(CLASSES)},{candidates}]: cx, cy, w, h in input pixels, "
                  "then the target score sqrt(sigmoid(cls) * sigmoid(ctr)); no NMS applied",
    }
    yaml_path = out.with_suffix(".yaml")
    atomic_write_bytes(out, graph_bytes(net, cfg, size, metadata))
    fields = yaml_fields(out.name, Path(weights).stem, size, operating, cfg.nms_iou)
    atomic_write_text(yaml_path, yaml_text(fields))
    return AnyLabelingExport(out, yaml_path, size, candidates, operating, cfg.nms_iou)
