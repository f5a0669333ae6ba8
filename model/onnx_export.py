"""BAFE-Net as an ONNX graph: export (dynamic batch / height / width), metadata, and a cache.

The graph takes ``image`` float32 [N, 1, H, W] in [0, 1] (H and W multiples of 32; the input
normalisation is inside the graph) and returns the raw head maps per FPN level, named
``cls_<l>``, ``ctr_<l>``, ``box_<l>``, ``sky_<l>`` (sky only with a segmentation head). Decoding,
NMS and the sky threshold stay outside the graph; the values they need (strides, score / NMS /
operating / sky thresholds, the config) travel in the model's metadata, so the file is usable
without this app (``docs/adr/0007``).

The Predictor's ONNX backend exports once per weights file and caches the bytes under
``$SIRST_STUDIO_CACHE`` (default ``$XDG_CACHE_HOME/sirst-studio`` or ``~/.cache/sirst-studio``),
keyed by the weights' SHA-256 and ``EXPORT_VERSION``.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import io
import json
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from core.userdirs import XdgKind, user_dir
from model.config import BafeConfig

log = logging.getLogger(__name__)

EXPORT_VERSION = 3  # bump when the graph's inputs / outputs or the export recipe change
OPSET = 17
ONNX_FORMAT = "bafenet-onnx-v1"
MAP_KINDS = ("cls", "ctr", "box", "sky")


class _FlatOutputs(nn.Module):
    """The net with its dict-of-lists output flattened to a tuple, in ``output_names`` order."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        out = self.net(x)
        return tuple(t for kind in MAP_KINDS for t in out[kind])


class GraphPart(enum.Enum):
    """The graphs of one weights file: the detector, and the whole-frame sky network when it has one."""

    DETECTOR = "detector"
    SKY = "sky"


SKY_OUTPUT = "sky_whole"


def sky_companion(path: Path) -> Path:
    """Where ``export-model`` writes the sky network's graph next to the detector's FILE."""
    return path.with_name(path.stem + ".sky.onnx")


def output_names(cfg: BafeConfig) -> list[str]:
    kinds = MAP_KINDS if cfg.seg_head else MAP_KINDS[:3]
    return [f"{kind}_{level}" for kind in kinds for level in range(len(cfg.stages))]


def onnx_metadata(cfg: BafeConfig, meta: dict[str, str], weights_sha256: str) -> dict[str, str]:
    """Everything a consumer needs besides the graph: thresholds, strides, config, provenance."""
    operating = meta.get("operating_threshold")
    return {
        "format": ONNX_FORMAT,
        "config": cfg.to_json(),
        "preset": meta.get("preset", ""),
        "val": meta.get("val", ""),
        "weights_sha256": weights_sha256,
        "operating_threshold": str(float(operating) if operating is not None else cfg.operating_threshold),
        "sky_threshold": str(float(meta.get("sky_threshold", 0.5))),
        "score_thr": str(cfg.score_thr),
        "nms_iou": str(cfg.nms_iou),
        "max_per_image": str(cfg.max_per_image),
        "pre_nms_top_k": str(cfg.pre_nms_top_k),
        "strides": json.dumps(list(cfg.strides)),
        "input": "image float32 [N,1,H,W] in [0,1] (gray/255 for 8-bit; 16-bit min-max stretched), "
        "H and W zero-padded to multiples of 32",
        "outputs": "per level l (stride strides[l]): cls_l, ctr_l logits [N,1,h,w]; box_l [N,4,h,w] = "
        "(dx, dy, log w, log h) in stride units around the cell centre; sky_l logit [N,1,h,w]; "
        "score = sqrt(sigmoid(cls) * sigmoid(ctr)); sky = sigmoid(upsampled sky_0) >= sky_threshold",
        "sky_net": "when config.sky_net is true, the sky comes from the companion graph FILE.sky.onnx "
        "(input image = the frame shrunk by area average to config.sky_pass_long_side, or as it is when "
        "no larger, zero-padded to multiples of 32; output sky_whole logit [N,1,h/4,w/4]); upsample it "
        "bilinearly to the shrunk frame, then to the full frame, before the threshold and the clean-up "
        "(with config.sky_flip the graph itself averages the frame's logit with the mirrored frame's)",
        "sky_pass": "when config.sky_pass_long_side > 0 and the frame is larger: run the graph again on the "
        "frame shrunk (area average) to that long side; its sky_0, upsampled to the shrunk frame and then "
        "bilinearly to the full frame, replaces (config.sky_pass_weight 1) or blends with the full-frame "
        "sky_0 logit before the threshold; then config.sky_smooth (Gaussian sigma per 1000 px of long "
        "side on the mask, re-thresholded at 0.5) and config.sky_min_area (islands / holes below that "
        "fraction of the image removed / filled) clean the mask",
    }


def export_bytes(net: nn.Module, cfg: BafeConfig, metadata: dict[str, str],
                 part: GraphPart = GraphPart.DETECTOR) -> bytes:
    """The serialised ONNX model of ``net`` (in eval mode) with ``metadata`` as metadata_props;
    ``part`` SKY exports ``net.sky_net`` alone (input ``image``, output ``sky_whole`` at stride 4)."""
    import onnx

    was_training = net.training
    if part is GraphPart.SKY:
        flat, names = net.sky_net.eval(), [SKY_OUTPUT]
    else:
        flat, names = _FlatOutputs(net).eval(), output_names(cfg)
    axes = {"image": {0: "batch", 2: "height", 3: "width"}}
    axes.update({n: {0: "batch", 2: f"{n}_h", 3: f"{n}_w"} for n in names})
    buf = io.BytesIO()
    example = torch.zeros(1, 1, 64, 64)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript exporter is deprecated upstream, but it needs no extra packages
            # and handles the data-dependent top-k of the exchange as a TopK node.
            warnings.simplefilter("ignore")
            torch.onnx.export(flat, (example,), buf, dynamo=False, input_names=["image"],
                              output_names=names, dynamic_axes=axes, opset_version=OPSET)
    finally:
        net.train(was_training)  # export restores the wrapper's mode, which would be "train"
    model = onnx.load_from_string(buf.getvalue())
    for key, value in metadata.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    model.doc_string = ("BAFE-Net whole-frame sky network (SIRST Studio)" if part is GraphPart.SKY else
                        "BAFE-Net infrared small-target detector with sky segmentation (SIRST Studio)")
    return model.SerializeToString()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def cache_dir() -> Path:
    return user_dir(XdgKind.CACHE, "SIRST_STUDIO_CACHE")


def cached_onnx(net: nn.Module, cfg: BafeConfig, meta: dict[str, str], weights: Path,
                part: GraphPart = GraphPart.DETECTOR) -> bytes:
    """The ONNX bytes for these weights: from the cache, else exported now and cached.

    A cache that cannot be written (read-only home) only costs the export on every load; a
    damaged cache file is replaced (the Predictor re-exports when ORT refuses it).
    """
    sha = file_sha256(weights)
    tag = "" if part is GraphPart.DETECTOR else f"-{part.value}"
    path = cache_dir() / "onnx" / f"{sha}-v{EXPORT_VERSION}-torch{torch.__version__}{tag}.onnx"
    with _export_lock(path):  # a second process loading the same weights waits for this export
        if path.is_file():
            try:
                return path.read_bytes()
            except OSError as exc:
                log.warning("cannot read the ONNX cache %s (%s); exporting again", path, exc)
        data = export_bytes(net, cfg, onnx_metadata(cfg, meta, sha), part)
        try:
            from core.formats._io import atomic_write_bytes

            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data)
        except OSError as exc:
            log.warning("cannot cache the ONNX model at %s (%s); it is exported at every load", path, exc)
        return data


@contextlib.contextmanager
def _export_lock(path: Path):
    """An advisory lock (flock on ``PATH.lock``) held while one process exports ``path``: the
    file itself is written atomically either way, the lock only spares the others the same export.
    Without a writable cache folder there is nothing to share and no lock."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def drop_cached(weights: Path) -> None:
    """Remove the cached export of these weights (used when ORT rejects a damaged file)."""
    sha = file_sha256(weights)
    for p in (cache_dir() / "onnx").glob(f"{sha}-*.onnx"):
        try:
            p.unlink()
        except OSError:
            pass
