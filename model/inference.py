"""Inference: one image of any size / depth / channels -> boxes, scores, points and sky probability.

The GUI calls ``Predictor.predict`` on a worker thread: weights are loaded once in the constructor
and calls are serialised by a lock. Images run at full resolution, padded to a multiple of 32.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.types import Source, Target, TargetState
from model.config import BafeConfig
from model.data import pad_image
from model.postprocess import detect
from model.sky import sky_prob_for_image, sky_proposal


def default_weights_path() -> Path:
    """resources/models/bafenet_default.safetensors of this checkout."""
    return Path(__file__).resolve().parent.parent / "resources" / "models" / "bafenet_default.safetensors"


@dataclass
class Prediction:
    boxes: np.ndarray  # float32 [N, 4] (x1, y1, x2, y2), DenseSIRST convention
    scores: np.ndarray  # float32 [N], best first
    points: np.ndarray  # float32 [N, 2] (x, y) pixel index of the box centre (as DenseSIRST points)
    sky_prob: np.ndarray  # float32 [H, W] in [0, 1] (zeros when the model has no sky head)
    operating_threshold: float
    sky_threshold: float = 0.5  # sky = sky_prob >= this (chosen on validation)
    sky_mask: np.ndarray | None = None  # bool [H, W]: the sky proposal after the config's clean-up
    bad_pixels: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int32))  # (x, y) repaired


@torch.inference_mode()
def infer_image(
    net: torch.nn.Module, cfg: BafeConfig, image: np.ndarray, score_thr: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 [H, W] in [0, 1] -> (boxes [N, 4], scores [N], sky_prob [H, W])."""
    h, w = image.shape
    x, padded = pad_image(image)
    out = net(x)
    thr = cfg.score_thr if score_thr is None else score_thr
    boxes, scores = detect(out, cfg.strides, (h, w), thr, cfg.nms_iou, cfg.max_per_image, cfg.pre_nms_top_k)
    sky_np = sky_prob_for_image(net, cfg, image, out, padded)
    return boxes.numpy().astype(np.float32), scores.numpy().astype(np.float32), sky_np


def box_points(boxes: np.ndarray) -> np.ndarray:
    """Pixel index (x, y) of each box centre: centre - 0.5, since pixel i covers [i, i + 1)."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) / 2 - 0.5, (b[:, 1] + b[:, 3]) / 2 - 0.5], axis=1)


class Predictor:
    """A loaded BAFE-Net. ``threads`` limits torch's intra-op threads during predict (None: leave)."""

    def __init__(self, weights: Path | None = None, device: str = "cpu", threads: int | None = None,
                 bad_pixel_filter: bool = True) -> None:
        from model.checkpoint import build_from_weights

        self.weights = Path(weights) if weights is not None else default_weights_path()
        self.net, self.cfg, self.metadata = build_from_weights(self.weights)
        self.device = torch.device(device)
        self.net.to(self.device)
        self.threads = threads
        thr = self.metadata.get("operating_threshold")
        self.operating_threshold = float(thr) if thr is not None else self.cfg.operating_threshold
        self.sky_threshold = float(self.metadata.get("sky_threshold", 0.5))
        self.bad_pixel_filter = bad_pixel_filter  # core.badpixels: repair isolated hot/dead pixels first
        self._lock = threading.Lock()

    def predict(self, image: np.ndarray, score_thr: float | None = None) -> Prediction:
        """Detections (score >= score_thr, default the config's 0.05) and the sky probability."""
        from core.badpixels import clean_frame
        from core.imageio import to_model_input

        gray, bad = clean_frame(image, self.bad_pixel_filter)
        img = to_model_input(gray).astype(np.float32, copy=False)
        with self._lock:
            if self.threads:
                torch.set_num_threads(self.threads)
            boxes, scores, sky = infer_image(self.net, self.cfg, img, score_thr)
        return Prediction(boxes, scores, box_points(boxes), sky, self.operating_threshold, self.sky_threshold,
                          sky_proposal(sky, self.sky_threshold, self.cfg), bad)

    def predict_targets(self, image: np.ndarray, score_thr: float) -> tuple[list[Target], np.ndarray]:
        """Proposals (source MODEL, state PROPOSAL) with score >= score_thr, and the sky bool mask."""
        p = self.predict(image, score_thr=min(score_thr, self.cfg.score_thr))
        targets = [
            Target(point=tuple(pt), box=tuple(b), source=Source.MODEL, score=float(s), state=TargetState.PROPOSAL)
            for b, s, pt in zip(p.boxes.tolist(), p.scores.tolist(), p.points.tolist(), strict=True)
            if s >= score_thr
        ]
        return targets, p.sky_mask
