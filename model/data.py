"""Training data: preloaded samples, crop sampling with flips and BAG-CP, and batching.

Images live in RAM as float32 [H, W] in [0, 1] (core.imageio.to_model_input) at full resolution:
nothing is resized, since a 3 px target would vanish. Training draws crops (biased to contain
targets); validation and inference run on whole images padded to a multiple of 32.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from core.domain import ImageAnnotation, PasteMode, Target
from core.errors import FormatError
from model.frames import downscale

log = logging.getLogger(__name__)
SKY_IGNORE = 255


@dataclass
class Sample:
    """One labelled image ready for training."""

    name: str
    image: np.ndarray  # float32 [H, W] in [0, 1]
    boxes: np.ndarray  # float32 [N, 4] (x1, y1, x2, y2)
    sky: np.ndarray  # uint8 [H, W]: 1 sky, 0 non-sky, SKY_IGNORE unlabelled
    raw_max: int = 255  # 255 for 8-bit sources, 65535 for 16-bit (BAG-CP works in that range)


def make_sample(name: str, raw: np.ndarray, annotation: ImageAnnotation) -> Sample:
    """Sample from raw pixels (any depth / channels) and their annotation."""
    from core.imageio import to_model_input

    image = to_model_input(raw).astype(np.float32, copy=False)
    h, w = image.shape
    boxes = [t.box for t in annotation.targets if t.box is not None]
    arr = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if annotation.sky is None:
        sky = np.full((h, w), SKY_IGNORE, dtype=np.uint8)
    else:
        if annotation.sky.shape != (h, w):
            raise FormatError(name, f"sky mask is {annotation.sky.shape}, image is {(h, w)}; relabel the sky")
        sky = annotation.sky.astype(np.uint8)
    return Sample(name, image, arr, sky, 65535 if raw.dtype == np.uint16 else 255)


def load_densesirst(root: Path, split: str, every: int = 1) -> list[Sample]:
    """Every image (or every ``every``-th, in split order) of a DenseSIRST split, decoded into RAM."""
    from core.formats.densesirst import read_sample, read_split
    from core.imageio import read_image

    out = []
    for image_id in read_split(root, split)[::every]:
        s = read_sample(root, image_id)
        out.append(make_sample(image_id, read_image(s.image_path), s.annotation))
    return out


def load_project(root: Path, split: str, reviewed_only: bool = False) -> list[Sample]:
    """Images of a project split (accepted labels), decoded into RAM."""
    from core.services.training_data import labelled_images

    _count, images = labelled_images(root, split, reviewed_only)
    return [make_sample(im.name, im.pixels, im.annotation) for im in images]


class BagcpAugment:
    """BAG-CP (or plain) copy-paste on training crops, when core.bagcp is available."""

    def __init__(self, samples: Iterable[Sample], prob: float, seed: int = 0,
                 mode: PasteMode = PasteMode.BAGCP) -> None:
        from core.bagcp import BagcpConfig
        from core.target_library import TargetLibrary

        if mode is PasteMode.OFF:
            raise ValueError("PasteMode.OFF pastes nothing: use no augmenter (try_bagcp returns None)")
        pairs = []
        for s in samples:
            raw = np.round(s.image * s.raw_max).astype(np.uint16 if s.raw_max > 255 else np.uint8)
            sky = s.sky == 1 if (s.sky != SKY_IGNORE).any() else None
            pairs.append((raw, ImageAnnotation(targets=[Target(box=tuple(b)) for b in s.boxes], sky=sky)))
        self.library = TargetLibrary.from_annotations(pairs)
        self.mode = mode
        self.cfg = BagcpConfig() if mode is PasteMode.BAGCP else BagcpConfig.strategy("b")
        self.prob = prob

    def __call__(
        self, image: np.ndarray, sky: np.ndarray, boxes: np.ndarray, raw_max: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        from core.bagcp import synthesize

        if rng.random() >= self.prob or len(self.library) == 0:
            return image, boxes
        if self.cfg.background_aware and not (sky == 1).any():  # BAG-CP pastes into sky only
            return image, boxes
        raw = np.round(image * raw_max).astype(np.uint16 if raw_max > 255 else np.uint8)
        existing = [Target(box=tuple(float(v) for v in b)) for b in boxes]
        res = synthesize(raw, sky == 1, existing, self.library, self.cfg, rng)
        new = np.asarray([t.box for t in res.targets if t.box is not None], dtype=np.float32).reshape(-1, 4)
        return res.image.astype(np.float32) / raw_max, np.concatenate([boxes, new])


def try_bagcp(samples: list[Sample], prob: float, mode: PasteMode = PasteMode.BAGCP) -> BagcpAugment | None:
    """A copy-paste augmenter, or None (with a log line) when the module is absent, prob is 0 or
    the mode is OFF."""
    if prob <= 0 or mode is PasteMode.OFF:
        return None
    try:
        aug = BagcpAugment(samples, prob, mode=mode)
    except ImportError as exc:
        log.warning("BAG-CP unavailable (%s); training without it", exc)
        return None
    log.info("%s copy-paste on (p=%.2f) with a library of %d targets", mode.value, prob, len(aug.library))
    return aug


class CropSampler:
    """Random training crops: biased to contain a target, horizontal flip, optional BAG-CP."""

    def __init__(
        self,
        samples: list[Sample],
        crop: int = 256,
        target_bias: float = 0.8,
        bagcp: BagcpAugment | None = None,
    ) -> None:
        self.samples, self.crop, self.target_bias, self.bagcp = samples, crop, target_bias, bagcp

    def _origin(self, s: Sample, rng: np.random.Generator) -> tuple[int, int]:
        h, w = s.image.shape
        c = self.crop
        if len(s.boxes) and rng.random() < self.target_bias:
            b = s.boxes[rng.integers(len(s.boxes))]
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            x0 = int(cx - rng.uniform(8, c - 8))
            y0 = int(cy - rng.uniform(8, c - 8))
        else:
            x0, y0 = int(rng.integers(0, max(w - c, 0) + 1)), int(rng.integers(0, max(h - c, 0) + 1))
        return min(max(x0, 0), max(w - c, 0)), min(max(y0, 0), max(h - c, 0))

    def crop_sample(self, s: Sample, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image [c, c] float32, boxes [N, 4], sky [c, c] uint8) with padding where the image is small."""
        c = self.crop
        x0, y0 = self._origin(s, rng)
        img = np.zeros((c, c), np.float32)
        sky = np.full((c, c), SKY_IGNORE, np.uint8)
        part = s.image[y0 : y0 + c, x0 : x0 + c]
        ph, pw = part.shape
        img[:ph, :pw] = part
        sky[:ph, :pw] = s.sky[y0 : y0 + c, x0 : x0 + c]
        boxes = s.boxes - np.array([x0, y0, x0, y0], np.float32)
        boxes = clip_boxes(boxes, pw, ph)
        if self.bagcp is not None:
            img_v, boxes = self.bagcp(img[:ph, :pw].copy(), sky[:ph, :pw], boxes, s.raw_max, rng)
            img[:ph, :pw] = img_v
        if rng.random() < 0.5:  # horizontal flip only: sky is above the ground
            img, sky = img[:, ::-1].copy(), sky[:, ::-1].copy()
            boxes = np.stack([c - boxes[:, 2], boxes[:, 1], c - boxes[:, 0], boxes[:, 3]], axis=1)
        return img, boxes.astype(np.float32), sky

    def batch(self, indices: Iterable[int], rng: np.random.Generator) -> tuple[Tensor, list[Tensor], Tensor]:
        """Images [B, 1, c, c] (raw [0, 1]), boxes per image, sky [B, c, c]."""
        imgs, boxes, skies = [], [], []
        for i in indices:
            img, b, sky = self.crop_sample(self.samples[i], rng)
            imgs.append(torch.from_numpy(img)[None])
            boxes.append(torch.from_numpy(b))
            skies.append(torch.from_numpy(sky))
        return torch.stack(imgs), boxes, torch.stack(skies)


def clip_boxes(boxes: np.ndarray, w: int, h: int) -> np.ndarray:
    """Boxes whose centre lies in [0, w) x [0, h), clipped to it; the rest dropped."""
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    keep = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
    b = boxes[keep].copy()
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    return b[ok].reshape(-1, 4)


def whole_frame_batch(samples: list[Sample], long_side: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """Whole frames shrunk to long_side (area average), h-flipped at random, padded to a common
    multiple of 32: images [B, 1, H, W] and sky [B, H, W] (nearest-resized; padding SKY_IGNORE)."""
    return shrunk_sky_batch([(s.image, s.sky) for s in samples], long_side, rng)


def shrunk_sky_batch(frames: list[tuple[np.ndarray, np.ndarray]], long_side: int,
                     rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """(image, sky) pairs shrunk to long_side (area average; sky nearest), each h-flipped with
    probability 1/2, zero / SKY_IGNORE padded to a common multiple of 32."""
    import cv2

    imgs, skies = [], []
    for image, sky in frames:
        img = downscale(image, long_side)
        h, w = img.shape
        sky = cv2.resize(sky, (w, h), interpolation=cv2.INTER_NEAREST) if (h, w) != sky.shape else sky
        if rng.random() < 0.5:
            img, sky = img[:, ::-1], sky[:, ::-1]
        imgs.append(img)
        skies.append(sky)
    ph = -(-max(i.shape[0] for i in imgs) // 32) * 32
    pw = -(-max(i.shape[1] for i in imgs) // 32) * 32
    x = torch.zeros(len(imgs), 1, ph, pw)
    t = torch.full((len(imgs), ph, pw), SKY_IGNORE, dtype=torch.uint8)
    for k, (img, sky) in enumerate(zip(imgs, skies, strict=True)):
        x[k, 0, : img.shape[0], : img.shape[1]] = torch.from_numpy(np.ascontiguousarray(img))
        t[k, : sky.shape[0], : sky.shape[1]] = torch.from_numpy(np.ascontiguousarray(sky))
    return x, t
