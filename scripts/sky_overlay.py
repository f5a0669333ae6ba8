"""Render the sky proposal of a large val_v2 frame before / after the issue-12 sky pass and clean-up
(rings as the sky editor traces them) to docs/screenshots/sky_proposal_large_frame.png.

    python scripts/sky_overlay.py [IMAGE_ID]
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.formats.densesirst import read_sample  # noqa: E402
from core.geometry import mask_to_rings, ring_stats  # noqa: E402
from core.imageio import read_image, to_gray  # noqa: E402
from model.inference import Predictor  # noqa: E402

DATA = REPO.parent / "shared/datasets/DenseSIRST/SIRSTdevkit"


def panel(gray: np.ndarray, mask: np.ndarray, gt: np.ndarray, title: str) -> np.ndarray:
    rgb = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    rgb[mask] = (0.5 * rgb[mask] + 0.5 * np.array([255, 160, 0])).astype(np.uint8)
    for ring in mask_to_rings(mask):
        pts = np.round(ring.points - 0.5).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(rgb, [pts], True, (0, 0, 255) if ring.is_hole else (0, 255, 255), 2)
    rings, verts = ring_stats(mask)
    iou = (mask & gt).sum() / max((mask | gt).sum(), 1)
    text = f"{title}: IoU {iou:.3f}, {rings} rings, {verts} vertices"
    cv2.putText(rgb, text, (20, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (255, 255, 255), 3)
    return cv2.resize(rgb, (800, 640), interpolation=cv2.INTER_AREA)


def main() -> int:
    image_id = sys.argv[1] if len(sys.argv) > 1 else "iraytek-218"
    sample = read_sample(DATA, image_id)
    img = read_image(sample.image_path)
    pred = Predictor(REPO / "resources/models/bafenet_default.safetensors", threads=1)
    _, new = pred.predict_targets(img, pred.operating_threshold)
    pred.cfg = dataclasses.replace(pred.cfg, sky_pass_long_side=0, sky_smooth=0.0, sky_min_area=0.0)
    _, old = pred.predict_targets(img, pred.operating_threshold)
    gt = sample.annotation.sky.astype(bool)
    gray = to_gray(img).astype(np.uint8)
    out = np.concatenate([panel(gray, old, gt, "shipped before (full-res map)"),
                          panel(gray, new, gt, "now (whole-frame pass 320 + clean-up)")], axis=1)
    dest = REPO / "docs/screenshots/sky_proposal_large_frame.png"
    out = cv2.resize(out, (1280, 512), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(dest), out, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
