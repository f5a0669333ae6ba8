"""How a fine-tune should carry its parent's rescorer (ADR 0042): on a few validation frames, is
the parent's rescorer kept as it is, refitted towards it (and how strongly), or dropped?

    python benchmarks/rescore_prior_study.py --data ../shared/datasets/DenseSIRST/SIRSTdevkit [--cache /tmp/rs.pkl]

Simulation on val_v2 with the shipped network, no rescorer: the frames split in halves by the
SHA-1 of their id. The "parent's rescorer" is fitted on one half; on the other half, R random
draws of K frames play a project's validation frames and the rest of that half is counted
(target corrections per image: deletes + adds + box fixes, as ../shared/tools/effort.py counts
them). Each variant chooses its threshold (and refit) on the K frames only. Also counted: the
rule ``model.rescore_choice.choose`` applies (two-fold on the K frames).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.effort import least_corrections_threshold  # noqa: E402
from model import rescore  # noqa: E402
from model.rescore_choice import choose, corrections, half_of  # noqa: E402
from model.rescore_fit import collect  # noqa: E402

RIDGES = (0.003, 0.01, 0.03, 0.1, 0.3)


def threshold(frames, scores) -> float:
    return least_corrections_threshold([f.gt for f in frames], [(f.boxes, s) for f, s in zip(frames, scores, strict=True)])


def count(frames, scores, thr) -> float:
    return corrections(frames, scores, thr)["targets"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--weights", type=Path, default=Path("resources/models/bafenet_default.safetensors"))
    ap.add_argument("--cache", type=Path, default=Path("/tmp/rescore_prior_frames.pkl"))
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--sizes", default="8,16,32,64")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.cache.exists():
        frames = pickle.loads(args.cache.read_bytes())
    else:
        frames = collect(args.weights, args.data, "val_v2", args.threads)
        args.cache.write_bytes(pickle.dumps(frames))
    rng = np.random.default_rng(0)
    rows: dict[tuple[int, str], list[float]] = {}
    kinds: dict[int, list[str]] = {}
    for h in (0, 1):
        other = [f for f in frames if half_of(f.image_id) != h]
        mine = [f for f in frames if half_of(f.image_id) == h]
        prior = rescore.fit(np.concatenate([f.feats for f in other]), np.concatenate([f.labels for f in other]))
        for k in (int(v) for v in args.sizes.split(",")):
            for _ in range(args.draws):
                pick = set(rng.choice(len(mine), size=min(k, len(mine) - 10), replace=False).tolist())
                val = [f for i, f in enumerate(mine) if i in pick]
                test = [f for i, f in enumerate(mine) if i not in pick]
                feats = np.concatenate([f.feats for f in val])
                labels = np.concatenate([f.labels for f in val])
                variants: dict[str, tuple[float, ...]] = {"none": (), "parent as is": prior}
                if labels.any() and not labels.all():
                    variants["refit, no prior"] = rescore.fit(feats, labels)
                    for r in RIDGES:
                        variants[f"refit to parent, ridge {r}"] = rescore.fit(feats, labels, ridge=r, prior=prior)
                for name, coef in variants.items():
                    val_s = [rescore.apply(coef, f.feats) if coef else f.scores for f in val]
                    test_s = [rescore.apply(coef, f.feats) if coef else f.scores for f in test]
                    rows.setdefault((k, name), []).append(count(test, test_s, threshold(val, val_s)))
                chosen = choose(val, prior)
                test_s = [rescore.apply(chosen.rescore, f.feats) if chosen.rescore else f.scores for f in test]
                kinds.setdefault(k, []).append(chosen.kind.value)
                rows.setdefault((k, "the rule (choose)"), []).append(count(test, test_s, chosen.threshold))
    print(f"{len(frames)} val_v2 frames; {args.draws} draws per half and size; target corrections per held-out image")
    print(f"{'K':>4}  {'variant':<32} {'mean':>7} {'draws':>6}")
    for (k, name), vals in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if vals:
            print(f"{k:>4}  {name:<32} {np.mean(vals):7.3f} {len(vals):6d}")
    for k, chosen in sorted(kinds.items()):
        print(f"K {k}: the rule chose " + ", ".join(f"{c} {chosen.count(c)}" for c in sorted(set(chosen))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
