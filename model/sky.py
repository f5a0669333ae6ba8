"""Whole-frame sky: the sky head (or the sky network) run on the downscaled full frame, fused with
the full-resolution map; and the clean-up of the thresholded sky proposal.

The sky/ground boundary is a whole-frame decision, but the network is trained on 256 px crops and
its receptive field at stride 4 covers a few hundred pixels: on a 1280x1024 frame the full-resolution
sky map breaks into islands. Running the same network on the frame shrunk to a long side of
``cfg.sky_pass_long_side`` pixels lets every location see most of the frame; the result is
upsampled back. ``cfg.sky_pass_weight`` blends its logit with the full-resolution logit
(1.0: whole-frame pass only). A long side of 0 (the default) keeps the full-resolution map alone.

The pass and the fusion run in one place only, the Predictor (model/inference.py: ``prepare``
shrinks the frame, ``run_network`` runs the pass, ``Prediction`` blends the logits); validation
during training, the int8 gate and ``evaluate`` all get their sky from it (docs/adr/0021).
"""

from __future__ import annotations

import numpy as np

from model.config import BafeConfig


def clean_proposal(mask: np.ndarray, smooth: float, min_area: float, hole_area: float = 0.0,
                   erode: float = 0.0) -> np.ndarray:
    """The sky clean-up of a thresholded mask (core.geometry.clean_sky_mask) with the smoothing
    scaled to the image (``smooth`` sigma per 1000 px of long side) and the smallest kept island /
    hole as a fraction ``min_area`` of its area, then the refinement of model.sky_post (holes
    under ``hole_area`` filled, sky pulled back ``erode`` px per 1000 from the ground); the mask
    itself when ``smooth`` and ``min_area`` are 0 (no clean-up, no refinement)."""
    from core.geometry import clean_sky_mask
    from model.sky_post import refine_sky

    if smooth <= 0 and min_area <= 0:
        return mask
    h, w = mask.shape
    cleaned = clean_sky_mask(mask, smooth * max(h, w) / 1000.0, int(round(min_area * h * w)))
    return refine_sky(cleaned, hole_area, erode)


def sky_proposal(prob: np.ndarray, threshold: float, cfg: BafeConfig) -> np.ndarray:
    """Bool [H, W] sky mask: prob >= threshold, then the config's clean-up (clean_proposal), as
    model.inference.Prediction.sky_mask() gives it."""
    return clean_proposal(prob >= threshold, cfg.sky_smooth, cfg.sky_min_area, cfg.sky_hole_area, cfg.sky_erode)
