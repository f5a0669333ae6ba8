"""Detection on a defect-laden copy of a DenseSIRST split, with and without the bad-pixel filter.

Each image becomes linear 16-bit (``v * 50 + 2000``); the defect copy then gets 0.02 % isolated hot
(16383) and dead (0) pixels (core.badpixels.inject_bad_pixels, seeded per image). Every variant runs
through the public Predictor (filter on or off) and is scored with core.metrics: mAP07, mAP12,
recall, and Pd / false alarms per image at the weights' operating threshold; for the defect copy
also how many injected defects the filter found and how many other pixels it touched.

    python benchmarks/eval_badpixels.py --weights resources/models/bafenet_default.safetensors \\
        --variants clean16:off defect16:off defect16:on clean16:on
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import metrics  # noqa: E402
from core.badpixels import inject_bad_pixels  # noqa: E402
from core.formats.densesirst import read_sample, read_split  # noqa: E402
from core.imageio import read_image, to_gray  # noqa: E402
from model.inference import Predictor  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared/datasets/DenseSIRST/SIRSTdevkit"


def frames(root: Path, split: str, kind: str, fraction: float, seed: int):
    """(image id, 16-bit frame, gt boxes [N, 4], injected defect coords) per image."""
    for i, image_id in enumerate(read_split(root, split)):
        s = read_sample(root, image_id)
        gray = to_gray(read_image(s.image_path)).astype(np.float64)
        img16 = np.clip(gray * 50 + 2000, 0, 65535).astype(np.uint16)
        coords = np.zeros((0, 2), np.int32)
        if kind == "defect16":
            img16, coords = inject_bad_pixels(img16, fraction, np.random.default_rng([seed, i]), 16383, 0)
        boxes = np.asarray([t.box for t in s.annotation.targets if t.box is not None], np.float32).reshape(-1, 4)
        yield image_id, img16, boxes, coords


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=Path("resources/models/bafenet_default.safetensors"))
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--variants", nargs="+", default=["clean16:off", "defect16:off", "defect16:on", "clean16:on"])
    ap.add_argument("--fraction", type=float, default=2e-4, help="share of pixels made hot or dead")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = []
    print(f"{args.weights} on {args.split}; defects: {args.fraction:.4%} isolated hot 16383 / dead 0, seed {args.seed}")
    print("| frames | filter | mAP07 | mAP12 | recall | Pd | FA/img | defects found | other pixels repaired/img |")
    print("|---|---|---|---|---|---|---|---|---|")
    for variant in args.variants:
        kind, switch = variant.split(":")
        pred = Predictor(args.weights, threads=args.threads, bad_pixel_filter=switch == "on")
        gts, dets, found, injected, other = [], [], 0, 0, 0
        for _, img, boxes, coords in frames(args.data, args.split, kind, args.fraction, args.seed):
            p = pred.predict(img)
            gts.append(boxes)
            dets.append((p.boxes, p.scores))
            inj = {tuple(c) for c in coords.tolist()}
            rep = {tuple(c) for c in p.bad_pixels.tolist()}
            found += len(inj & rep)
            injected += len(inj)
            other += len(rep - inj)
        det = metrics.evaluate_detections(gts, dets)
        thr = pred.operating_threshold
        pd, fa = metrics.pd_fa(gts, [b[s >= thr] for b, s in dets])
        r = {"frames": kind, "filter": switch, "mAP07": det.mAP07, "mAP12": det.mAP12, "recall": det.recall,
             "pd": pd, "fa_per_image": fa, "defects_found": found, "defects": injected,
             "other_repaired_per_image": other / max(len(gts), 1)}
        rows.append(r)
        share = f"{found}/{injected} ({found / injected:.1%})" if injected else "-"
        print(f"| {kind} | {switch} | {det.mAP07:.3f} | {det.mAP12:.3f} | {det.recall:.3f} | {pd:.3f} | {fa:.2f} | "
              f"{share} | {r['other_repaired_per_image']:.1f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
