"""What the sky path costs even when the network is perfect: the labels themselves through it.

Issue 21 counts sky edits with ``../shared/tools/effort.py`` (8-connected regions of proposal XOR
label of at least 0.05 % of the frame and 16 px). This benchmark feeds the **true mask** of each
frame through the parts of ``predict``'s sky path that are not the network, and counts the edits
the truth would then cost:

- ``coarse``: the truth area-averaged down to the sky network's output grid (stride 4 of the frame
  shrunk as the Predictor shrinks it: long side ``sky_pass_long_side``, at least
  ``sky_pass_min_scale`` of the frame's), bilinearly back up and cut at 0.5, as a perfectly
  calibrated network's probability would be: what the output resolution alone costs;
- ``clean-up``: the truth through the clean-up and refinement (``model.sky.clean_proposal`` with the
  shipped config: smoothing, smallest island / hole, holes filled, pull-back), and each step alone;
- ``coarse + clean-up``: both.

    python benchmarks/sky_edit_floor.py [--data ROOT] [--split val_v2] [--weights FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.sky import clean_proposal  # noqa: E402

HERE = Path(__file__).resolve().parent.parent
SHARED = next((p / "shared" for p in (HERE.parent, HERE.parent.parent) if (p / "shared").is_dir()), HERE.parent / "shared")


def load_tool(path: Path):
    spec = importlib.util.spec_from_file_location("effort_tool", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def coarse(mask: np.ndarray, long_side: int, min_scale: float, stride: int = 4) -> np.ndarray:
    """The mask as a perfect network at the sky pass's output grid would give it back."""
    h, w = mask.shape
    side = max(long_side, round(min_scale * max(h, w))) if min_scale > 0 else long_side
    f = min(1.0, side / max(h, w)) / stride
    small = cv2.resize(mask.astype(np.float32), (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5


def main() -> int:
    from model.checkpoint import read_metadata
    from model.config import BafeConfig
    from model.inference import default_weights_path

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=SHARED / "datasets/DenseSIRST/SIRSTdevkit")
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--tool", type=Path, default=SHARED / "tools/effort.py")
    ap.add_argument("--weights", type=Path, default=None, help="whose config (default: the shipped file)")
    args = ap.parse_args()
    tool = load_tool(args.tool)
    cfg = BafeConfig.from_json(read_metadata(args.weights or default_weights_path())["config"])
    steps = {  # name: clean_proposal(smooth, min_area, hole_area, erode)
        "clean-up (shipped)": (cfg.sky_smooth, cfg.sky_min_area, cfg.sky_hole_area, cfg.sky_erode),
        "smoothing alone": (cfg.sky_smooth, 1e-9, 0.0, 0.0),
        "smallest island / hole alone": (1e-9, cfg.sky_min_area, 0.0, 0.0),
        "holes filled alone": (1e-9, 1e-9, cfg.sky_hole_area, 0.0),
        "pull-back alone": (1e-9, 1e-9, 0.0, cfg.sky_erode),
    }
    rows = {k: [] for k in ("coarse", *steps, "coarse + clean-up")}
    large = []
    for image_id in tool.read_ids(args.data, args.split):
        gt = cv2.imread(str(args.data / "SkySeg" / "BinaryMask" / f"{image_id}_pixels0.png"), cv2.IMREAD_GRAYSCALE) > 127
        area = max(16, int(0.0005 * gt.size))
        large.append(max(gt.shape) > 1000)
        c = coarse(gt, cfg.sky_pass_long_side, cfg.sky_pass_min_scale)
        rows["coarse"].append(tool.regions(gt ^ c, area))
        for name, p in steps.items():
            rows[name].append(tool.regions(gt ^ clean_proposal(gt, *p), area))
        rows["coarse + clean-up"].append(tool.regions(gt ^ clean_proposal(c, *steps["clean-up (shipped)"]), area))
    large = np.array(large)
    for name, edits in rows.items():
        e = np.array(edits, float)
        print(json.dumps({"truth through": name, "sky_edits": round(e.mean(), 3),
                          "large_frames": round(e[large].mean(), 2) if large.any() else None,
                          "other_frames": round(e[~large].mean(), 2), "images": len(e)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
