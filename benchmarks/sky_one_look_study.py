"""Can the sky network's plain look alone give the sky of two looks? Clean-up variants scored on a cache.

The first run caches, per frame of the split, the whole-frame sky logit at the shrunk size as
``predict`` builds it from the plain look alone and from the mean of the plain and the mirrored look
(model.sky_look; int8 sky graph, one thread), in --cache (npz). Every run then rebuilds each
full-resolution mask (the Predictor's resize, threshold and clean-up: model.sky.clean_proposal)
for each variant "source:threshold:smooth:min_area:hole_area:erode" (source: plain, both or rule,
the shipped choice between them) and counts sky edits as ``../shared/tools/effort.py`` does.
Halves by the sha1 of the id (A: even, B: odd): choose on A, confirm on B.

    python benchmarks/sky_one_look_study.py --variants rule:0.3:4:0.005:0.03:2 plain:0.3:4:0.005:0.03:2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sky_post_study import DATA, TOOL, load_tool  # noqa: E402


def build_cache(ids: list[str], data: Path, cache: Path) -> None:
    import torch

    from core.imageio import read_image
    from model.inference import WHOLE_SKY, Predictor
    from model.sky_look import needs_mirror, valid_cells
    from model.skynet import SKY_NET_STRIDE

    cache.mkdir(parents=True, exist_ok=True)
    p = None
    for i in ids:
        dst = cache / f"{i}.npz"
        if dst.exists():
            continue
        p = p or Predictor(None, threads=1)
        looks = p._sky_runner.looks
        prepared = p.prepare(read_image(next((data / "PNGImages").glob(f"{i}.*"))))
        plain = looks.look(prepared.sky_x)
        both = looks.mean(plain, looks.look(np.ascontiguousarray(prepared.sky_x[..., ::-1])))
        valid = valid_cells(prepared.sky_size, SKY_NET_STRIDE)
        rule = bool(needs_mirror(plain, valid, p.sky_threshold, p.sky_mirror))
        out = {}
        for name, logit in (("plain", plain), ("both", both)):
            out[name] = p.finish(prepared, {WHOLE_SKY: [torch.from_numpy(logit)]}).sky_whole_logit
        np.savez_compressed(dst, size=np.array(prepared.size), rule=rule, **out)


def half(image_id: str) -> str:
    return "A" if int(hashlib.sha1(image_id.encode()).hexdigest(), 16) % 2 == 0 else "B"


def main() -> int:
    from model.sky import clean_proposal

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--tool", type=Path, default=TOOL)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/sky_one_look_cache"))
    ap.add_argument("--variants", nargs="+", default=["rule:0.3:4:0.005:0.03:2", "plain:0.3:4:0.005:0.03:2"])
    args = ap.parse_args()
    tool = load_tool(args.tool)
    ids = tool.read_ids(args.data, args.split)
    build_cache(ids, args.data, args.cache)
    frames = []
    for i in ids:
        z = np.load(args.cache / f"{i}.npz")
        h, w = (int(v) for v in z["size"])
        logits = {k: cv2.resize(z[k], (w, h), interpolation=cv2.INTER_LINEAR) for k in ("plain", "both")}
        logits["rule"] = logits["both"] if bool(z["rule"]) else logits["plain"]
        gt = cv2.imread(str(args.data / "SkySeg" / "BinaryMask" / f"{i}_pixels0.png"), cv2.IMREAD_GRAYSCALE) > 127
        frames.append((i, logits, gt))
    print(f"{len(frames)} frames; mirrored by the shipped rule: "
          f"{sum(f[1]['rule'] is f[1]['both'] for f in frames)}", flush=True)
    for variant in args.variants:
        src, *nums = variant.split(":")
        t, smooth, min_area, hole, erode = (float(v) for v in nums)
        acc = {k: [0, 0, 0, 0, 0] for k in ("all", "A", "B", "large")}  # inter, union, edits, frames, right
        for i, logits, gt in frames:
            m = clean_proposal(logits[src] >= np.float32(math.log(t / (1.0 - t))), smooth, min_area, hole, erode)
            e = tool.regions(gt ^ m, max(16, int(0.0005 * gt.size)))
            for key in ("all", half(i)) + (("large",) if gt.shape[0] > 700 else ()):
                a = acc[key]
                a[0] += int((m & gt).sum())
                a[1] += int((m | gt).sum())
                a[2] += e
                a[3] += 1
                a[4] += int(e == 0)
        row = {"variant": variant}
        for key, (inter, union, edits, n, right) in acc.items():
            row[key] = [round(edits / max(n, 1), 3), round(inter / max(union, 1), 4), right]
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
