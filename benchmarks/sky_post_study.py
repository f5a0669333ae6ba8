"""Sky post-processing variants scored in seconds on a cache of ``predict``'s sky path (ADR 0035).

The first run caches, per frame of the split, the sky network's whole-frame logit as ``predict``
computes it (``Predictor.predict_sky``, default backend, one thread) and the shipped mask, in
--cache (npz). Every run then rebuilds the full-resolution logit (the Predictor's own resize),
applies the threshold, the clean-up and each (hole_area, erode) variant (model.sky.clean_proposal)
and counts sky edits with ``../shared/tools/effort.py``'s own ``regions`` (8-connected XOR
regions of at least 0.05 % of the frame and 16 px). Frames are split in two halves by the sha1 of
their id (A: even, B: odd): choose on A, confirm on B.

    nice -n 10 python benchmarks/sky_post_study.py --variants 0,0 0.01,2 0.005,2
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.imageio import read_image  # noqa: E402
from model.sky import clean_proposal  # noqa: E402

HERE = Path(__file__).resolve().parent.parent
# ../shared beside the main checkout (a worktree under /work/wt sees it one level further up)
SHARED = next((p / "shared" for p in (HERE.parent, HERE.parent.parent) if (p / "shared").is_dir()), HERE.parent / "shared")
DATA = SHARED / "datasets/DenseSIRST/SIRSTdevkit"
TOOL = SHARED / "tools/effort.py"


def load_tool(path: Path):
    spec = importlib.util.spec_from_file_location("effort_tool", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_cache(ids: list[str], data: Path, cache: Path) -> None:
    from model.backends import DEFAULT_BACKEND
    from model.inference import Predictor

    cache.mkdir(parents=True, exist_ok=True)
    predictor = None
    for i in ids:
        dst = cache / f"{i}.npz"
        if dst.exists():
            continue
        predictor = predictor or Predictor(None, threads=1, backend=DEFAULT_BACKEND)
        pred = predictor.predict_sky(read_image(next((data / "PNGImages").glob(f"{i}.*"))))
        np.savez_compressed(dst, whole=pred.sky_whole_logit, size=np.array(pred.image_size),
                            thr=pred.sky_threshold, smooth=pred.sky_smooth, min_area=pred.sky_min_area)


def half(image_id: str) -> str:
    return "A" if int(hashlib.sha1(image_id.encode()).hexdigest(), 16) % 2 == 0 else "B"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--tool", type=Path, default=TOOL)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/skypost_cache"))
    ap.add_argument("--variants", nargs="+", default=["0,0", "0.01,2"], help="hole_area,erode pairs")
    args = ap.parse_args()
    tool = load_tool(args.tool)
    ids = tool.read_ids(args.data, args.split)
    build_cache(ids, args.data, args.cache)
    frames = []
    for i in ids:
        z = np.load(args.cache / f"{i}.npz")
        h, w = (int(v) for v in z["size"])
        whole = z["whole"]
        logit = cv2.resize(whole, (w, h), interpolation=cv2.INTER_LINEAR) if whole.shape != (h, w) else whole
        t = float(z["thr"])
        raw = logit >= np.float32(math.log(t / (1.0 - t)))
        gt = cv2.imread(str(args.data / "SkySeg" / "BinaryMask" / f"{i}_pixels0.png"), cv2.IMREAD_GRAYSCALE) > 127
        frames.append((i, raw, gt, float(z["smooth"]), float(z["min_area"])))
    for variant in args.variants:
        hole, erode = (float(v) for v in variant.split(","))
        acc = {k: [0, 0, 0, 0] for k in ("all", "A", "B", "1280x1024")}  # inter, union, edits, frames
        for i, raw, gt, smooth, min_area in frames:
            m = clean_proposal(raw, smooth, min_area, hole, erode)
            e = tool.regions(gt ^ m, max(16, int(0.0005 * gt.size)))
            for key in ("all", half(i)) + (("1280x1024",) if gt.shape == (1024, 1280) else ()):
                a = acc[key]
                a[0] += int((m & gt).sum())
                a[1] += int((m | gt).sum())
                a[2] += e
                a[3] += 1
        row = {"hole_area": hole, "erode": erode}
        for key, (inter, union, edits, n) in acc.items():
            row[key] = {"images": n, "sky_edits": round(edits / max(n, 1), 3), "sky_iou": round(inter / max(union, 1), 4)}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
