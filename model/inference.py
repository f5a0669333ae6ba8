"""Inference: one image of any size / depth / channels -> boxes, scores, points and sky.

The Predictor runs in three stages so callers can overlap them (model.pipeline) and later work
can hook into each one:

1. ``prepare``: gray float32 in [0, 1], zero-padded to a multiple of 32 (thread-safe, no lock);
2. ``run_network``: the backend (ONNX Runtime by default, eager torch as the reference) on the
   padded image; calls are serialised by a lock, so one image at a time owns the cores;
3. ``finish``: scores, box decoding, NMS, and the sky logit kept at stride 4 (thread-safe).

The sky map is only brought to full resolution when asked for (``Prediction.sky_mask`` /
``sky_prob``), by a bilinear upsampling of the stride-4 logit; the mask compares the logit with
logit(threshold), which is the same test as sigmoid >= threshold without a full-size sigmoid.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.types import Source, Target, TargetState
from model.backends import DEFAULT_BACKEND, Backend, HeadMaps, make_runner
from model.config import BafeConfig
from model.data import pad_image
from model.postprocess import detect, sky_probability, upsample_logit


def default_weights_path() -> Path:
    """resources/models/bafenet_default.safetensors of this checkout."""
    return Path(__file__).resolve().parent.parent / "resources" / "models" / "bafenet_default.safetensors"


@dataclass
class Prepared:
    """An image ready for the network: x float32 [1, 1, H', W'] (padded), size (H, W)."""

    x: np.ndarray
    size: tuple[int, int]


@dataclass
class Prediction:
    boxes: np.ndarray  # float32 [N, 4] (x1, y1, x2, y2), DenseSIRST convention
    scores: np.ndarray  # float32 [N], best first
    points: np.ndarray  # float32 [N, 2] (x, y) pixel index of the box centre (as DenseSIRST points)
    sky_logit: np.ndarray | None  # float32 [H'/s, W'/s] sky logit on the finest level (None: no sky head)
    image_size: tuple[int, int]  # (H, W)
    operating_threshold: float
    sky_threshold: float = 0.5  # sky = sky probability >= this (chosen on validation)
    sky_stride: int = 4  # pixels per sky_logit cell
    _sky_prob: np.ndarray | None = field(default=None, repr=False)

    def _upsampled(self) -> np.ndarray:
        return upsample_logit(self.sky_logit, self.sky_stride, self.image_size)

    @property
    def sky_prob(self) -> np.ndarray:
        """float32 [H, W] in [0, 1] (zeros when the model has no sky head); computed on first use."""
        if self._sky_prob is None:
            if self.sky_logit is None:
                self._sky_prob = np.zeros(self.image_size, np.float32)
            else:
                up = self._upsampled()
                self._sky_prob = 1.0 / (1.0 + np.exp(-up, out=up))
        return self._sky_prob

    def sky_mask(self, threshold: float | None = None) -> np.ndarray:
        """bool [H, W]: sky probability >= threshold (default: the model's sky threshold)."""
        t = self.sky_threshold if threshold is None else float(threshold)
        if self.sky_logit is None:
            return np.zeros(self.image_size, bool) if t > 0 else np.ones(self.image_size, bool)
        if self._sky_prob is not None or not 0.0 < t < 1.0:
            return self.sky_prob >= t
        return self._upsampled() >= np.float32(math.log(t / (1.0 - t)))


@torch.inference_mode()
def infer_image(
    net: torch.nn.Module, cfg: BafeConfig, image: np.ndarray, score_thr: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference path (eager torch, full-size sky): float32 [H, W] in [0, 1] -> (boxes [N, 4],
    scores [N], sky_prob [H, W]). Validation during training uses it."""
    h, w = image.shape
    x, padded = pad_image(image)
    out = net(x)
    thr = cfg.score_thr if score_thr is None else score_thr
    boxes, scores = detect(out, cfg.strides, (h, w), thr, cfg.nms_iou, cfg.max_per_image, cfg.pre_nms_top_k)
    sky = sky_probability(out, padded, (h, w))
    sky_np = sky.numpy().astype(np.float32) if sky is not None else np.zeros((h, w), np.float32)
    return boxes.numpy().astype(np.float32), scores.numpy().astype(np.float32), sky_np


def box_points(boxes: np.ndarray) -> np.ndarray:
    """Pixel index (x, y) of each box centre: centre - 0.5, since pixel i covers [i, i + 1)."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) / 2 - 0.5, (b[:, 1] + b[:, 3]) / 2 - 0.5], axis=1)


def prepare_image(image: np.ndarray, multiple: int = 32) -> Prepared:
    """Any image -> gray float32 in [0, 1] written straight into the zero-padded network input."""
    from core.imageio import to_model_input

    gray = to_model_input(np.asarray(image))
    h, w = gray.shape
    x = np.zeros((1, 1, -(-h // multiple) * multiple, -(-w // multiple) * multiple), np.float32)
    x[0, 0, :h, :w] = gray
    return Prepared(x, (h, w))


class Predictor:
    """A loaded BAFE-Net. ``threads`` limits the backend's intra-op threads (None: all cores);
    ``backend`` picks ONNX Runtime (default) or eager torch (the reference)."""

    def __init__(
        self,
        weights: Path | None = None,
        device: str = "cpu",
        threads: int | None = None,
        backend: Backend | str = DEFAULT_BACKEND,
    ) -> None:
        from model.checkpoint import build_from_weights

        self.weights = Path(weights) if weights is not None else default_weights_path()
        self.net, self.cfg, self.metadata = build_from_weights(self.weights)
        self.device = torch.device(device)
        self.backend = Backend(backend)
        if self.device.type != "cpu":
            self.backend = Backend.TORCH  # ONNX Runtime runs here on the CPU only
        self.net.to(self.device)
        self.threads = threads
        thr = self.metadata.get("operating_threshold")
        self.operating_threshold = float(thr) if thr is not None else self.cfg.operating_threshold
        self.sky_threshold = float(self.metadata.get("sky_threshold", 0.5))
        self._runner = make_runner(self.backend, self.net, self.cfg, self.metadata, self.weights, threads)
        self._lock = threading.Lock()

    def prepare(self, image: np.ndarray) -> Prepared:
        """Stage 1 (any thread): decode-side work, no model state touched."""
        return prepare_image(image)

    def run_network(self, prepared: Prepared) -> HeadMaps:
        """Stage 2: the backend; one image at a time."""
        with self._lock:
            if self.backend is Backend.TORCH and self.device.type != "cpu":
                out = self._runner.net(torch.from_numpy(prepared.x).to(self.device))
                return {k: [t.cpu() for t in v] for k, v in out.items()}
            return self._runner(prepared.x)

    def finish(self, prepared: Prepared, maps: HeadMaps, score_thr: float | None = None) -> Prediction:
        """Stage 3 (any thread): detections with score >= score_thr (default the config's 0.05)."""
        cfg = self.cfg
        thr = cfg.score_thr if score_thr is None else score_thr
        with torch.inference_mode():
            boxes, scores = detect(maps, cfg.strides, prepared.size, thr, cfg.nms_iou,
                                   cfg.max_per_image, cfg.pre_nms_top_k)
        b = boxes.numpy().astype(np.float32)
        sky = maps["sky"][0][0, 0].numpy().astype(np.float32) if maps.get("sky") else None
        return Prediction(b, scores.numpy().astype(np.float32), box_points(b), sky, prepared.size,
                          self.operating_threshold, self.sky_threshold, cfg.strides[0])

    def predict(self, image: np.ndarray, score_thr: float | None = None) -> Prediction:
        """Detections (score >= score_thr, default the config's 0.05) and the sky."""
        prepared = self.prepare(image)
        return self.finish(prepared, self.run_network(prepared), score_thr)

    def targets(self, p: Prediction, score_thr: float) -> tuple[list[Target], np.ndarray]:
        """Proposals (source MODEL, state PROPOSAL) with score >= score_thr, and the sky bool mask."""
        targets = [
            Target(point=tuple(pt), box=tuple(b), source=Source.MODEL, score=float(s), state=TargetState.PROPOSAL)
            for b, s, pt in zip(p.boxes.tolist(), p.scores.tolist(), p.points.tolist(), strict=True)
            if s >= score_thr
        ]
        return targets, p.sky_mask()

    def predict_targets(self, image: np.ndarray, score_thr: float) -> tuple[list[Target], np.ndarray]:
        """Proposals (source MODEL, state PROPOSAL) with score >= score_thr, and the sky bool mask."""
        return self.targets(self.predict(image, score_thr=min(score_thr, self.cfg.score_thr)), score_thr)
