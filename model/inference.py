"""Inference: one image of any size / depth / channels -> boxes, scores, points and sky.

The Predictor runs in three stages so callers can overlap them (model.pipeline):

1. ``prepare``: gray, isolated hot / dead pixels repaired (core.badpixels, on by default), float32
   in [0, 1], zero-padded to a multiple of 32; with a whole-frame sky pass in the config
   (model.sky, ADR 0006) also the frame shrunk to ``sky_pass_long_side``, padded (thread-safe, no lock);
2. ``run_network``: the backend (ONNX Runtime by default, int8 or fp32; eager torch as the reference) on the
   padded image, then on the shrunk frame (the graph has dynamic H / W); at most ``lanes`` calls run
   at once (one by default: one image at a time owns the cores; ADR 0033);
3. ``finish``: scores, box decoding, NMS, and the sky logits kept small (thread-safe).

The sky map is only brought to full resolution when asked for (``Prediction.sky_mask()`` /
``sky_prob``): bilinear upsampling of the stride-4 logit (and of the whole-frame pass's logit,
blended with weight ``sky_pass_weight``); the mask compares the logit with logit(threshold), the
same test as sigmoid >= threshold without a full-size sigmoid, then applies the config's clean-up
(``sky_smooth``, ``sky_min_area``). The cleaned mask at the model's threshold is cached.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.domain import Source, Target, TargetState
from model.backends import DEFAULT_BACKEND, Backend, HeadMaps, make_runner, make_sky_runner
from model.box_fit import fit_boxes, suppress_close, widen_thin
from model.config import BafeConfig, sky_pass_enabled
from model.frames import Prepared, _no_pixels, prepare_image  # noqa: F401 (re-exported)
from model.postprocess import detect, upsample_logit
from model.rescore import rescored
from model.sky import clean_proposal
from model.sky_look import DEFAULT_RULE, valid_cells
from model.skynet import SKY_NET_STRIDE

# Extra key of run_network's maps: the finest sky logit of the whole-frame pass on the shrunk frame.
WHOLE_SKY = "sky_whole"


def default_weights_path() -> Path:
    """resources/models/bafenet_default.safetensors of this checkout."""
    return Path(__file__).resolve().parent.parent / "resources" / "models" / "bafenet_default.safetensors"


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
    sky_whole_logit: np.ndarray | None = None  # float32 [h, w]: whole-frame pass logit at the shrunk size
    sky_pass_weight: float = 1.0  # weight of sky_whole_logit against the full-resolution logit
    sky_smooth: float = 0.0  # clean-up of the mask (model.sky.clean_proposal); 0 / 0: a plain threshold
    sky_min_area: float = 0.0
    sky_hole_area: float = 0.0  # refinement after the clean-up (model.sky_post, ADR 0035)
    sky_erode: float = 0.0
    bad_pixels: np.ndarray = field(default_factory=_no_pixels)  # int32 [K, 2] (x, y) repaired before the network
    _sky_prob: np.ndarray | None = field(default=None, repr=False)
    _sky_mask: np.ndarray | None = field(default=None, repr=False)  # cleaned, at sky_threshold

    def _logit(self) -> np.ndarray:
        """float32 [H, W] sky logit: the full-resolution map, the whole-frame pass, or their blend."""
        import cv2

        h, w = self.image_size
        whole = self.sky_whole_logit
        if whole is not None and whole.shape != (h, w):
            whole = cv2.resize(whole, (w, h), interpolation=cv2.INTER_LINEAR)  # = F.interpolate, half-pixel
        if whole is not None and self.sky_pass_weight >= 1.0:
            return whole
        full = upsample_logit(self.sky_logit, self.sky_stride, self.image_size)
        if whole is None:
            return full
        wgt = np.float32(self.sky_pass_weight)
        return wgt * whole + (np.float32(1.0) - wgt) * full

    def sky_logit_map(self) -> np.ndarray | None:
        """float32 [H, W]: the sky logit ``sky_mask`` compares with logit(threshold) (None without
        a sky head). It may share memory with this Prediction: read it, do not change it."""
        if self.sky_logit is None and self.sky_whole_logit is None:
            return None
        return self._logit()

    @property
    def sky_prob(self) -> np.ndarray:
        """float32 [H, W] in [0, 1] before the clean-up (zeros when the model has no sky head);
        computed on first use."""
        if self._sky_prob is None:
            if self.sky_logit is None and self.sky_whole_logit is None:
                self._sky_prob = np.zeros(self.image_size, np.float32)
            else:
                neg = np.negative(self._logit())  # a new array: _logit may return sky_whole_logit itself
                self._sky_prob = 1.0 / (1.0 + np.exp(neg, out=neg))
        return self._sky_prob

    def sky_mask(self, threshold: float | None = None, clean: bool = True) -> np.ndarray:
        """bool [H, W] sky proposal: sky probability >= threshold (default: the model's sky
        threshold), then (``clean``) the config's clean-up. The default mask is computed once and
        shared: copy it before changing it."""
        default = threshold is None or float(threshold) == self.sky_threshold
        if default and clean and self._sky_mask is not None:
            return self._sky_mask
        t = self.sky_threshold if threshold is None else float(threshold)
        if self.sky_logit is None and self.sky_whole_logit is None:
            return np.zeros(self.image_size, bool) if t > 0 else np.ones(self.image_size, bool)
        if self._sky_prob is not None or not 0.0 < t < 1.0:
            raw = self.sky_prob >= t
        else:
            raw = self._logit() >= np.float32(math.log(t / (1.0 - t)))
        if not clean:
            return raw
        mask = clean_proposal(raw, self.sky_smooth, self.sky_min_area, self.sky_hole_area, self.sky_erode)
        if default:
            self._sky_mask = mask
        return mask


def fitted_boxes(prepared: Prepared, boxes: np.ndarray, scores: np.ndarray,
                 cfg: BafeConfig) -> tuple[np.ndarray, np.ndarray]:
    """The config's box fit to the target pixels, one box per target (model.box_fit) and thin sides
    widened (box_min_side), best first."""
    if cfg.box_fit > 0 and len(boxes):
        h, w = prepared.size
        boxes = fit_boxes(prepared.x[0, 0, :h, :w], boxes, cfg.box_fit)
    if cfg.centre_nms_px > 0 and len(boxes) > 1:
        keep = suppress_close(boxes, scores, cfg.centre_nms_px)
        boxes, scores = boxes[keep], scores[keep]
    if cfg.box_min_side > 0 and len(boxes):
        boxes = widen_thin(boxes, cfg.box_min_side, prepared.size)
    return boxes, scores


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch on one intra-op thread in this block, the caller's count restored after. The finish
    stage's torch ops (sigmoid, top-k, NMS on a few thousand scores) gain nothing from threads, and
    on the pipeline's writer thread a second OpenMP thread fights ONNX Runtime's threads for the
    cores: finish cost about twice the CPU time with two threads (ADR 0033). The results do not
    depend on the thread count (element-wise ops, a sort)."""
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def box_points(boxes: np.ndarray) -> np.ndarray:
    """Pixel index (x, y) of each box centre: centre - 0.5, since pixel i covers [i, i + 1)."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) / 2 - 0.5, (b[:, 1] + b[:, 3]) / 2 - 0.5], axis=1)


class Predictor:
    """A loaded BAFE-Net. ``threads`` limits the backend's intra-op threads (None: all cores);
    ``backend`` picks ONNX Runtime (DEFAULT_BACKEND; int8 when its gated file ships beside the
    weights, model.backends) or eager torch (the reference); ``bad_pixel_filter``
    repairs isolated hot / dead pixels before the network (core.badpixels); ``fit_to_pixels`` False
    keeps the network's boxes when the config fits them to the target pixels (model.box_fit);
    ``lanes``: how many frames' networks may run at once on the ONNX backends (model.pipeline runs
    that many; each session then gets ``threads // lanes`` intra-op threads, ADR 0033), 1 on torch."""

    def __init__(
        self,
        weights: Path | None = None,
        device: str = "cpu",
        threads: int | None = None,
        backend: Backend | str = DEFAULT_BACKEND,
        bad_pixel_filter: bool = True,
        fit_to_pixels: bool = True,
        lanes: int = 1,
    ) -> None:
        from model.net import build_from_weights

        self.weights: Path | None = Path(weights) if weights is not None else default_weights_path()
        net, cfg, metadata = build_from_weights(self.weights)
        self._setup(net, cfg, metadata, torch.device(device), threads, Backend(backend), bad_pixel_filter, lanes)
        self.fit_to_pixels = fit_to_pixels  # False: the network's boxes even when the config fits them

    @classmethod
    def for_network(cls, net: torch.nn.Module, cfg: BafeConfig, threads: int | None = None,
                    bad_pixel_filter: bool = True, metadata: dict[str, str] | None = None) -> Predictor:
        """The Predictor of a network held in memory (validation during training, docs/adr/0021):
        eager torch on ``net`` itself (no copy: its weights as they are now, on its device; a
        DistributedDataParallel or AveragedModel wrapper is looked through), with
        ``cfg`` (it may override the network's own, e.g. the sky pass) and the thresholds of
        ``metadata`` (default: the config's operating threshold, sky threshold 0.5). Everything else
        (bad-pixel filter, padding, sky pass and fusion, clean-up) is ``predict``'s."""
        from torch.nn.parallel import DistributedDataParallel
        from torch.optim.swa_utils import AveragedModel

        while isinstance(net, (DistributedDataParallel, AveragedModel)):  # the network inside a wrapper
            net = net.module
        self = cls.__new__(cls)
        self.weights = None
        param = next(net.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        self._setup(net, cfg, dict(metadata or {}), device, threads, Backend.TORCH, bad_pixel_filter)
        return self

    def _setup(self, net: torch.nn.Module, cfg: BafeConfig, metadata: dict[str, str], device: torch.device,
               threads: int | None, backend: Backend, bad_pixel_filter: bool, lanes: int = 1) -> None:
        self.net, self.cfg, self.metadata = net, cfg, metadata
        self.device = device
        self.backend = backend
        if self.device.type != "cpu":
            self.backend = Backend.TORCH  # ONNX Runtime runs here on the CPU only
        self.net.to(self.device)
        self.threads = threads
        thr = self.metadata.get("operating_threshold")
        self.operating_threshold = float(thr) if thr is not None else self.cfg.operating_threshold
        self.sky_threshold = float(self.metadata.get("sky_threshold", 0.5))
        self.bad_pixel_filter = bad_pixel_filter
        self.fit_to_pixels = True
        self.sky_mirror = DEFAULT_RULE  # when the sky network's mirrored look runs (ALWAYS: every frame)
        # Lanes: ONNX Runtime runs one session from several threads at once; eager torch's thread
        # count is process-wide, so the torch backend keeps one frame at a time.
        self.lanes = max(1, int(lanes)) if self.backend is not Backend.TORCH else 1
        per_lane = max(1, threads // self.lanes) if threads and self.lanes > 1 else threads
        self._runner = make_runner(self.backend, self.net, self.cfg, self.metadata, self.weights, per_lane)
        self._sky_runner = make_sky_runner(self.backend, self.net, self.cfg, self.metadata, self.weights, per_lane)
        self.backend = self._runner.backend  # ONNX_INT8 falls back to ONNX when its file is unusable
        # at most ``lanes`` frames in the network at once (one: a plain lock's behaviour)
        self._lock = threading.BoundedSemaphore(self.lanes)

    def prepare(self, image: np.ndarray) -> Prepared:
        """Stage 1 (any thread): decode-side work, no model state touched."""
        long_side = self.cfg.sky_pass_long_side if sky_pass_enabled(self.cfg) else 0
        return prepare_image(image, bad_pixel_filter=self.bad_pixel_filter, sky_long_side=long_side,
                             sky_always=self._sky_runner is not None, sky_min_scale=self.cfg.sky_pass_min_scale)

    def _run(self, x: np.ndarray) -> HeadMaps:
        if self.backend is Backend.TORCH and self.device.type != "cpu":
            with torch.inference_mode():
                out = self._runner.net(torch.from_numpy(x).to(self.device))
            return {k: [t.cpu() for t in v] for k, v in out.items()}
        return self._runner(x)

    def run_network(self, prepared: Prepared) -> HeadMaps:
        """Stage 2: the backend; ``lanes`` images at a time (one by default). With a whole-frame
        sky pass the maps also hold ``WHOLE_SKY``: [the finest sky logit of the shrunk frame]."""
        with self._lock:
            maps = self._run(prepared.x)
            if prepared.sky_x is not None and self._sky_runner is not None:
                maps = {**maps, WHOLE_SKY: [self.sky_logit(prepared)[0]]}
            elif prepared.sky_x is not None and maps.get("sky"):
                maps = {**maps, WHOLE_SKY: self._run(prepared.sky_x)["sky"][:1]}
            return maps

    def sky_logit(self, prepared: Prepared) -> tuple[torch.Tensor, bool]:
        """The sky network's logit of the shrunk frame (the caller holds a lane) and whether its
        mirrored look ran: only on frames where ``sky_mirror`` says it may change the sky (ADR 0036)."""
        valid = valid_cells(prepared.sky_size or prepared.size, SKY_NET_STRIDE)
        return self._sky_runner.sky(prepared.sky_x, valid, self.sky_threshold, self.sky_mirror)

    def finish(self, prepared: Prepared, maps: HeadMaps, score_thr: float | None = None) -> Prediction:
        """Stage 3 (any thread): detections with score >= score_thr (default the config's 0.05)."""
        cfg = self.cfg
        thr = cfg.score_thr if score_thr is None else score_thr
        rescoring = bool(cfg.rescore) and self.fit_to_pixels  # it was fitted on fitted, suppressed boxes
        if maps.get("cls"):
            floor = min(thr, cfg.score_thr) if rescoring else thr  # the rescorer reads every candidate
            with torch.inference_mode(), one_torch_thread():
                boxes, scores = detect(maps, cfg.strides, prepared.size, floor, cfg.nms_iou,
                                       cfg.max_per_image, cfg.pre_nms_top_k)
        else:  # predict_sky: the detector did not run
            boxes, scores = torch.zeros(0, 4), torch.zeros(0)
        b, s = boxes.numpy().astype(np.float32), scores.numpy().astype(np.float32)
        if self.fit_to_pixels:
            b, s = fitted_boxes(prepared, b, s, cfg)
        sky = maps["sky"][0][0, 0].numpy().astype(np.float32) if maps.get("sky") else None
        whole = None
        if (sky is not None or cfg.sky_net) and maps.get(WHOLE_SKY) and prepared.sky_size is not None:
            small = maps[WHOLE_SKY][0][0, 0].numpy().astype(np.float32)
            stride = SKY_NET_STRIDE if cfg.sky_net else cfg.strides[0]
            whole = upsample_logit(small, stride, prepared.sky_size)
        pred = self._prediction(prepared, b, s, sky, whole)
        if rescoring and len(s):
            h, w = prepared.size
            b, s = rescored(b, s, prepared.x[0, 0, :h, :w], pred.sky_logit_map(), cfg.rescore)
            b, s = b[s >= thr], s[s >= thr]
            pred = dataclasses.replace(pred, boxes=b, scores=s, points=box_points(b))
        return pred

    def _prediction(self, prepared: Prepared, b: np.ndarray, s: np.ndarray, sky: np.ndarray | None,
                    whole: np.ndarray | None) -> Prediction:
        cfg = self.cfg
        return Prediction(b, s, box_points(b), sky, prepared.size,
                          self.operating_threshold, self.sky_threshold, cfg.strides[0],
                          sky_whole_logit=whole, sky_pass_weight=1.0 if cfg.sky_net else cfg.sky_pass_weight,
                          sky_smooth=cfg.sky_smooth, sky_min_area=cfg.sky_min_area,
                          sky_hole_area=cfg.sky_hole_area, sky_erode=cfg.sky_erode,
                          bad_pixels=prepared.bad_pixels)

    def predict(self, image: np.ndarray, score_thr: float | None = None) -> Prediction:
        """Detections (score >= score_thr, default the config's 0.05), the sky and the repaired pixels."""
        prepared = self.prepare(image)
        return self.finish(prepared, self.run_network(prepared), score_thr)

    def predict_sky(self, image: np.ndarray) -> Prediction:
        """The sky alone (no detections) of a model with a whole-frame sky network (model.skynet):
        only that network runs, and its sky is exactly ``predict``'s (the sky network's pass
        replaces the detector's sky head there). Other models run ``predict``."""
        if self._sky_runner is None or not self.cfg.sky_net:  # (sky_net implies a sky pass: BafeConfig)
            return self.predict(image)
        prepared = self.prepare(image)
        with self._lock:
            maps = {WHOLE_SKY: [self.sky_logit(prepared)[0]]}
        return self.finish(prepared, maps)

    def targets(self, p: Prediction, score_thr: float) -> tuple[list[Target], np.ndarray]:
        """Proposals (source MODEL, state PROPOSAL) with score >= score_thr, and the cleaned sky mask."""
        targets = [
            Target(point=tuple(pt), box=tuple(b), source=Source.MODEL, score=float(s), state=TargetState.PROPOSAL)
            for b, s, pt in zip(p.boxes.tolist(), p.scores.tolist(), p.points.tolist(), strict=True)
            if s >= score_thr
        ]
        return targets, p.sky_mask()

    def predict_targets(self, image: np.ndarray, score_thr: float) -> tuple[list[Target], np.ndarray]:
        """Proposals (source MODEL, state PROPOSAL) with score >= score_thr, and the cleaned sky mask."""
        return self.targets(self.predict(image, score_thr=min(score_thr, self.cfg.score_thr)), score_thr)
