"""The shipped model's output on a DenseSIRST split, cached for bench_noise_finder.py.

One .npz per image in ``CACHE``: proposal boxes and scores down to the stored-proposal floor
(0.05), the proposed sky mask (cleaned, at the model's sky threshold) and the share of pixels
whose sky probability lies near the threshold (core.attention.sky_uncertain_share). The model
output does not depend on the labels, so the noisy copies of the benchmark reuse one run.

    nice -n 10 python benchmarks/noise_predictions.py DEVKIT SPLIT CACHE [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROPOSAL_FLOOR = 0.05  # = app.preannotate_worker.PROPOSAL_SCORE_THRESHOLD (the GUI stores down to this)


def cache_predictions(devkit: Path, split: str, cache: Path, threads: int | None = 1) -> int:
    """Run the shipped model over ``split``; returns the number of images predicted now."""
    import numpy as np

    from core.attention import sky_uncertain_share
    from core.imageio import read_image
    from model.inference import Predictor
    from model.pipeline import run_pipeline

    ids = [s for s in (devkit / "Splits" / f"{split}.txt").read_text().split() if s]
    todo = [i for i in ids if not (cache / f"{i}.npz").exists()]
    if not todo:
        return 0
    cache.mkdir(parents=True, exist_ok=True)
    predictor = Predictor(threads=threads)

    def consume(name: str, pred) -> None:
        if isinstance(pred, BaseException):
            raise pred
        keep = pred.scores >= PROPOSAL_FLOOR
        np.savez_compressed(
            cache / f"{name}.npz", boxes=pred.boxes[keep], scores=pred.scores[keep],
            sky=pred.sky_mask(), operating=np.float32(pred.operating_threshold),
            sky_uncertain=np.float32(sky_uncertain_share(pred.sky_prob, pred.sky_threshold)),
        )  # fmt: skip

    run_pipeline(todo, lambda n: read_image(devkit / "PNGImages" / f"{n}.png"), predictor, consume,
                 score_thr=PROPOSAL_FLOOR, name="noise-bench")  # fmt: skip
    return len(todo)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("devkit", type=Path)
    ap.add_argument("split")
    ap.add_argument("cache", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    t = time.perf_counter()
    n = cache_predictions(args.devkit, args.split, args.cache, args.threads)
    print(f"predicted {n} images in {time.perf_counter() - t:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
