"""How closely the shipped int8 model follows the eager torch reference, frame by frame.

The figures behind the tolerances of tests/unit/test_int8.py::test_shipped_int8_model_agrees_with_torch:
detections (score >= 0.05) matched one to one by IoU; for the matched pairs the score difference
(median, 95th percentile, max); the fraction of detections without a partner at the test's
tolerances; the fraction of sky-mask pixels that differ.

    nice -n 10 python benchmarks/int8_agreement.py --frames 4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=4, help="the first N val_v2 frames, plus two synthetic scenes")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import numpy as np
    import torch
    from torchvision.ops import box_iou

    import tests.unit.test_int8 as t
    from core.imageio import read_image
    from model.inference import Predictor, default_weights_path

    weights = default_weights_path()
    p8 = Predictor(weights, threads=args.threads, backend="onnx-int8")
    ref = Predictor(weights, threads=args.threads, backend="torch")
    if p8.backend.value != "onnx-int8":
        raise SystemExit("the shipped int8 model is missing or unusable")
    ids = (t.ROOT / "Splits" / "val_v2.txt").read_text().split()[: args.frames]
    images = [(i, read_image(t.ROOT / "PNGImages" / f"{i}.png")) for i in ids]
    images += [(f"scene{s}", t.scene(256, 320, seed=s)) for s in (1, 2)]
    diffs, total, unmatched = [], 0, 0
    for name, img in images:
        pa, pb = p8.predict(img), ref.predict(img)
        if len(pa.scores) and len(pb.scores):
            iou = box_iou(torch.from_numpy(pa.boxes), torch.from_numpy(pb.boxes)).numpy()
            j = iou.argmax(1)
            ok = iou.max(1) >= t.MATCH_IOU
            diffs.extend(np.abs(pa.scores[ok] - pb.scores[j[ok]]).tolist())
        u = t._unmatched(pa, pb) + t._unmatched(pb, pa)
        total += len(pa.scores) + len(pb.scores)
        unmatched += u
        sky = float(np.mean(pa.sky_mask() != pb.sky_mask()))
        print(f"{name:<10} {pa.image_size} int8 {len(pa.scores):3d} / torch {len(pb.scores):3d} detections, "
              f"{u} unmatched, sky pixels differing {sky:.4f}")
    d = np.asarray(diffs)
    print(f"matched pairs (IoU >= {t.MATCH_IOU}): {len(d)}; |d score| median {np.median(d):.4f}, "
          f"p95 {np.percentile(d, 95):.4f}, max {d.max():.4f}")
    print(f"unmatched at score tolerance {t.SCORE_TOL}: {unmatched}/{total} = {unmatched / max(total, 1):.3f} "
          f"(test bound {t.MAX_UNMATCHED})")


if __name__ == "__main__":
    main()
