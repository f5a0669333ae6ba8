"""Sky quality of a weights file on a DenseSIRST split, per sky source and clean-up setting.

Sources: ``full`` (the stride-4 map of the full-resolution pass, what the model shipped with),
``whole:L`` (the same network on the frame shrunk to long side L, model.sky), ``fuse:L:W``
(logit blend, weight W on the whole-frame pass). Each source gets its best pooled-IoU threshold;
then every clean-up ``S/A`` (smoothing sigma per 1000 px of long side / smallest island or hole as a
fraction of the image area, core.geometry.clean_sky_mask) is scored at that threshold.
Prints global IoU, per-image median, the 1280x1024 frames (pooled and mean), rings and vertices
per image as the sky editor traces them.

    python benchmarks/eval_sky.py --weights resources/models/bafenet_default.safetensors \\
        --sources full whole:384 whole:512 fuse:512:0.5 --cleans 0/0 2/0.002 4/0.005 --cache /tmp/skycache
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.geometry import ring_stats  # noqa: E402
from model.checkpoint import build_from_weights  # noqa: E402
from model.config import BafeConfig  # noqa: E402
from model.data import SKY_IGNORE, load_densesirst  # noqa: E402
from model.frames import pad_image  # noqa: E402
from model.sky import fuse_sky, sky_logit_map, sky_proposal, whole_frame_sky_logit  # noqa: E402
from model.validate import SKY_THRESHOLDS, SkyScores, best_sky_threshold, sky_iou_counts  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared/datasets/DenseSIRST/SIRSTdevkit"


def logits_for(net, image: np.ndarray, sources: list[str], cache: Path | None, name: str) -> dict[str, np.ndarray]:
    """float16 logit maps per base source (full, whole:L), cached as .npy when a cache folder is given."""
    need = {"full"} | {f"whole:{s.split(':')[1]}" for s in sources if s.startswith(("whole", "fuse"))}
    out = {}
    for src in sorted(need):
        path = cache / f"{name}.{src.replace(':', '_')}.npy" if cache else None
        if path is not None and path.exists():
            out[src] = np.load(path)
            continue
        with torch.inference_mode():
            if src == "full":
                x, padded = pad_image(image)
                logit = sky_logit_map(net(x), image.shape, padded)
            else:
                logit = whole_frame_sky_logit(net, image, int(src.split(":")[1]))
        out[src] = logit.numpy().astype(np.float16)
        if path is not None:
            np.save(path, out[src])
    return out


def source_logit(src: str, base: dict[str, np.ndarray]) -> np.ndarray:
    if src == "full" or src.startswith("whole"):
        return base[src].astype(np.float32)
    _, side, weight = src.split(":")
    fused = fuse_sky(torch.from_numpy(base["full"].astype(np.float32)),
                     torch.from_numpy(base[f"whole:{side}"].astype(np.float32)), float(weight))
    return fused.numpy()


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
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    samples = [s for s in load_densesirst(args.data, args.split) if (s.sky != SKY_IGNORE).all()]
    probs: dict[str, list[np.ndarray]] = {s: [] for s in args.sources}
    counts = {s: np.zeros((len(SKY_THRESHOLDS), 2), np.int64) for s in args.sources}
    for i, s in enumerate(samples):
        base = logits_for(net, s.image, args.sources, args.cache, s.name)
        for src in args.sources:
            p = 1.0 / (1.0 + np.exp(-source_logit(src, base)))
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
