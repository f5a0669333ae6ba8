"""Sky quality of a weights file on a DenseSIRST split, per sky source and clean-up setting.

Sources: ``full`` (the stride-4 map of the full-resolution pass, what the model shipped with),
``whole:L`` (the same network on the frame shrunk to long side L, model.sky), ``fuse:L:W``
(logit blend, weight W on the whole-frame pass); each is the Predictor's own sky logit
(``Predictor.for_network`` with the config's sky pass set to that source, docs/adr/0021). Each source gets its best pooled-IoU threshold;
then every clean-up ``S/A`` (smoothing sigma per 1000 px of long side / smallest island or hole as a
fraction of the image area, core.geometry.clean_sky_mask) is scored at that threshold.
Prints global IoU, per-image median, the 1280x1024 frames (pooled and mean), rings and vertices
per image as the sky editor traces them.

    python benchmarks/eval_sky.py --weights resources/models/bafenet_default.safetensors \\
        --sources full whole:384 whole:512 fuse:512:0.5 --cleans 0/0 2/0.002 4/0.005 --cache /tmp/skycache
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.geometry import ring_stats  # noqa: E402
from model.config import BafeConfig  # noqa: E402
from model.data import SKY_IGNORE, load_densesirst  # noqa: E402
from model.inference import Predictor  # noqa: E402
from model.net import build_from_weights  # noqa: E402
from model.sky import sky_proposal  # noqa: E402
from model.validate import (  # noqa: E402
    SKY_THRESHOLDS,
    SkyScores,
    best_sky_threshold,
    sample_pixels,
    sky_iou_counts,
)

DATA = Path(__file__).resolve().parent.parent.parent / "shared/datasets/DenseSIRST/SIRSTdevkit"


def source_config(cfg: BafeConfig, src: str) -> BafeConfig:
    """The config whose sky pass is ``src``: full (no pass), whole:L (weight 1), fuse:L:W."""
    if src == "full":
        return dataclasses.replace(cfg, sky_pass_long_side=0)
    parts = src.split(":")
    return dataclasses.replace(cfg, sky_pass_long_side=int(parts[1]),
                               sky_pass_weight=float(parts[2]) if len(parts) > 2 else 1.0)


def logits_for(predictors: dict, sample, cache: Path | None) -> dict[str, np.ndarray]:
    """float16 sky logit maps per source (the Predictor's), cached as .npy when a cache folder is given."""
    out = {}
    for src, predictor in predictors.items():
        path = cache / f"{sample.name}.{src.replace(':', '_')}.npy" if cache else None
        if path is not None and path.exists():
            out[src] = np.load(path)
            continue
        out[src] = predictor.predict(sample_pixels(sample)).sky_logit_map().astype(np.float16)
        if path is not None:
            np.save(path, out[src])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=Path("resources/models/bafenet_default.safetensors"))
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--sources", nargs="+", default=["full", "whole:384", "whole:512", "fuse:512:0.5"])
    ap.add_argument("--cleans", nargs="+", default=["0/0", "2/0.002", "4/0.005"])
    ap.add_argument("--cache", type=Path, help="folder for logit maps (re-runs skip the network)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the table as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net, cfg, _ = build_from_weights(args.weights)
    net.sky_net = None  # the sources are the detector's own sky head (a sky network would replace them)
    cfg = dataclasses.replace(cfg, sky_net=False)
    predictors = {src: Predictor.for_network(net, source_config(cfg, src)) for src in args.sources}
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    samples = [s for s in load_densesirst(args.data, args.split) if (s.sky != SKY_IGNORE).all()]
    probs: dict[str, list[np.ndarray]] = {s: [] for s in args.sources}
    counts = {s: np.zeros((len(SKY_THRESHOLDS), 2), np.int64) for s in args.sources}
    for i, s in enumerate(samples):
        base = logits_for(predictors, s, args.cache)
        for src in args.sources:
            p = 1.0 / (1.0 + np.exp(-base[src].astype(np.float32)))
            counts[src] += sky_iou_counts(p, s.sky == 1)
            probs[src].append(np.round(p * 255).astype(np.uint8))
        if (i + 1) % 32 == 0:
            print(f"  {i + 1}/{len(samples)} images", file=sys.stderr, flush=True)
    rows = []
    print(f"{args.weights} on {args.split} ({len(samples)} images with sky labels)")
    print("| source | threshold | clean S/A | sky IoU | median | 1280x1024 pooled | 1280x1024 mean | rings/img | vertices/img |")
    print("|---|---|---|---|---|---|---|---|---|")
    for src in args.sources:
        thr = best_sky_threshold(counts[src])["sky_threshold"]
        for clean in args.cleans:
            smooth, area = (float(v) for v in clean.split("/"))
            c = BafeConfig(sky_smooth=smooth, sky_min_area=area)
            scores = SkyScores()
            for s, p8 in zip(samples, probs[src], strict=True):
                mask = sky_proposal(p8.astype(np.float32) / 255.0, thr, c)
                scores.add(mask, s.sky == 1, *ring_stats(mask))
            r = scores.summary() | {"source": src, "threshold": thr, "clean": clean}
            rows.append(r)
            print(f"| {src} | {thr:.2f} | {clean} | {r['sky_iou']:.3f} | {r['sky_median']:.3f} | "
                  f"{r.get('sky_large', 0):.3f} | {r.get('sky_large_mean', 0):.3f} | {r['rings']:.1f} | "
                  f"{r['vertices']:.0f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
