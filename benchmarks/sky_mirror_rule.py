"""When does the sky network's mirrored look change the sky? The data behind ``MirrorRule`` (ADR 0036).

For every frame of a split: the plain look and the mirrored look of the sky network (the default
backend's sky graph, split by model.sky_look), the cleaned sky mask at the model's sky threshold
from the plain look alone and from their mean (what ``predict`` wrote before ADR 0036), and the
share of logit cells within each margin of logit(threshold). Per candidate rule (margin, share):
the frames whose mirrored look is skipped, the sky-network CPU saved, how far their masks move
(pixels that differ, mean and max over the skipped frames; frames with any difference) and the
pooled sky IoU against the labels with the rule against always taking both looks.

    python benchmarks/sky_mirror_rule.py [--split val_v2] [--margins 0.5,1,2] [--shares 0,0.005,0.01,0.02,0.05]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def sky_edits(truth: np.ndarray, mask: np.ndarray) -> int:
    """Sky edits as ../shared/tools/effort.py counts them: regions of (proposal XOR truth) of at
    least 0.05 % of the frame (and 16 px)."""
    import cv2

    _, _, stats, _ = cv2.connectedComponentsWithStats((truth ^ mask).astype(np.uint8), connectivity=8)
    return int((stats[1:, cv2.CC_STAT_AREA] >= max(16, int(0.0005 * truth.size))).sum())


def main() -> int:
    from bench_predict_vs_resnet import ROOT, load_avg

    from model.inference import WHOLE_SKY, Predictor
    from model.int8_gate import load_split
    from model.sky_look import uncertain_share, valid_cells
    from model.skynet import SKY_NET_STRIDE

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT)
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--margins", default="0.5,1,1.5,2,3")
    ap.add_argument("--shares", default="0,0.002,0.005,0.01,0.02,0.05")
    ap.add_argument("--csv", type=Path, default=None, help="also write the per-frame figures here")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    margins = [float(m) for m in args.margins.split(",")]
    shares = [float(s) for s in args.shares.split(",")]
    before = load_avg()
    p = Predictor(threads=1)
    looks = p._sky_runner.looks
    if looks is None:
        raise SystemExit("the sky graph has no mirrored look to skip")
    rows = []  # per frame: shares per margin, diff pixels, plain / both masks' inter/union with the label, cpu
    from core.formats.densesirst import read_split

    ids = read_split(args.data, args.split)
    if args.limit is not None and args.limit < len(ids):  # as load_split picks them
        ids = [ids[round(i * (len(ids) - 1) / max(args.limit - 1, 1))] for i in range(args.limit)]
    for image_id, s in zip(ids, load_split(args.data, args.split, args.limit), strict=True):
        prepared = p.prepare(s.image)
        if prepared.sky_x is None:
            continue
        t = time.thread_time()
        plain = looks.look(prepared.sky_x)
        t_one = time.thread_time() - t
        mirrored = looks.look(np.ascontiguousarray(prepared.sky_x[..., ::-1]))
        both = looks.mean(plain, mirrored)
        valid = valid_cells(prepared.sky_size, SKY_NET_STRIDE)
        masks = {}
        for name, logit in (("plain", plain), ("both", both)):
            import torch

            masks[name] = p.finish(prepared, {WHOLE_SKY: [torch.from_numpy(logit)]}).sky_mask()
        diff = float(np.mean(masks["plain"] != masks["both"]))
        truth = s.sky if s.sky is not None else np.zeros(prepared.size, bool)
        edits = {k: sky_edits(truth, m) for k, m in masks.items()}
        iu = {}
        if s.sky is not None:
            for name, m in masks.items():
                iu[name] = (int(np.count_nonzero(m & s.sky)), int(np.count_nonzero(m | s.sky)))
        rows.append(({m: uncertain_share(plain, valid, p.sky_threshold, m) for m in margins}, diff, iu, t_one,
                     image_id, prepared.size, edits))
    n = len(rows)
    if args.csv is not None:
        lines = ["image_id,h,w,cpu_one_look_s,diff," + ",".join(f"share_{m}" for m in margins)
                 + ",plain_inter,plain_union,both_inter,both_union,plain_edits,both_edits"]
        for r in rows:
            iu = r[2].get("plain", (0, 0)) + r[2].get("both", (0, 0))
            lines.append(f"{r[4]},{r[5][0]},{r[5][1]},{r[3]:.5f},{r[1]:.6f},"
                         + ",".join(f"{r[0][m]:.5f}" for m in margins) + "," + ",".join(map(str, iu))
                         + f",{r[6]['plain']},{r[6]['both']}")
        args.csv.write_text("\n".join(lines) + "\n")
    cpu = sum(r[3] for r in rows)
    print(f"{args.split}: {n} frames, sky threshold {p.sky_threshold}, backend {p._sky_runner.backend.value}; "
          f"load before {before}, after {load_avg()}")
    print("margin share  skipped  sky CPU saved  skipped frames: mean diff  max diff  any diff | sky IoU rule / always"
          " | sky edits per image rule / always")

    def pooled(use_plain) -> float:
        inter = union = 0
        for r, skip in zip(rows, use_plain, strict=True):
            if r[2]:
                a, b = r[2]["plain" if skip else "both"]
                inter, union = inter + a, union + b
        return inter / union if union else 1.0

    always = pooled([False] * n)

    def edits(use_plain) -> float:
        return sum(r[6]["plain" if skip else "both"] for r, skip in zip(rows, use_plain, strict=True)) / n

    for m in margins:
        for sh in shares:
            skip = [r[0][m] <= sh for r in rows]
            k = sum(skip)
            diffs = [r[1] for r, s_ in zip(rows, skip, strict=True) if s_]
            saved = sum(r[3] for r, s_ in zip(rows, skip, strict=True) if s_) / (2 * cpu)
            print(f"{m:>6} {sh:>5}  {k:>3}/{n}  {100 * saved:>11.0f} %  "
                  f"{100 * (np.mean(diffs) if diffs else 0):>20.4f} % {100 * (max(diffs) if diffs else 0):>8.3f} % "
                  f"{sum(d > 0 for d in diffs):>8} | {pooled(skip):.4f} / {always:.4f} | "
                  f"{edits(skip):.3f} / {edits([False] * n):.3f}")
    print(f"plain look on every frame: sky IoU {pooled([True] * n):.4f}, sky edits {edits([True] * n):.3f}; "
          f"frames whose mask moves at all: {sum(r[1] > 0 for r in rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
