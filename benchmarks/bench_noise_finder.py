"""Does the label-noise finder point at label errors? Known noise injected into a copy of val_v2's
labels, the shipped model's output, the finder's queue (core.attention, the code the project's
noise finder runs), and where the injected errors land in it against a random order.

Noise recipe (seed ``--seed``, default 2026), each error on a different image drawn at random:
- ``--drop`` images (25) lose one target drawn at random (a missed label);
- ``--add`` images (25) get one spurious 4x4 target on background: a random place inside the
  frame at least 12 px from every true target (a stray click);
- ``--flip`` images (10) get one sky region flipped: a rectangle of 10 % of the frame (sides
  sqrt(0.1) of the frame's) at a random place, sky <-> non-sky inside it.
An error counts as found when the queue names it: an unlabelled detection within 3 px of a
dropped target, a doubtful label within 3 px of an added one, sky disputes covering at least
half of a flipped rectangle.

The queue's image order: ``core.attention.image_priority`` (the strongest open dispute, ties by
the sum of the disputes' strengths), as the GUI's noise finder visits them. A random order finds a share k of the errors in its first share k of images.

    nice -n 10 python benchmarks/bench_noise_finder.py [--devkit DIR] [--cache runs/noise_cache]
"""

from __future__ import annotations

import argparse
import math
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.noise_predictions import cache_predictions  # noqa: E402
from core import attention as att  # noqa: E402
from core.domain import Source, Target, TargetState  # noqa: E402

DEVKIT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "DenseSIRST" / "SIRSTdevkit"
if not DEVKIT.exists():
    DEVKIT = Path("/work/shared/datasets/DenseSIRST/SIRSTdevkit")


@dataclass
class Injected:
    image: str
    kind: str  # "drop" | "add" | "flip"
    box: tuple[float, float, float, float] | None = None
    rect: tuple[int, int, int, int] | None = None  # flip: x0, y0, x1, y1


def read_boxes(path: Path) -> list[tuple[float, float, float, float]]:
    out = []
    for obj in ET.parse(path).getroot().iter("object"):
        bb = obj.find("bndbox")
        out.append(tuple(float(bb.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")))
    return out


def inject(devkit: Path, ids: list[str], seed: int, n_drop: int, n_add: int, n_flip: int):
    """(labels {id: [box]}, skies {id: bool mask}, injected errors)."""
    import cv2

    rng = np.random.default_rng(seed)
    labels = {i: read_boxes(devkit / "SIRST" / "BBox" / f"{i}.xml") for i in ids}
    skies = {i: cv2.imread(str(devkit / "SkySeg" / "BinaryMask" / f"{i}_pixels0.png"),
                           cv2.IMREAD_GRAYSCALE) > 127 for i in ids}  # fmt: skip
    chosen = [ids[k] for k in rng.permutation(len(ids))[: n_drop + n_add + n_flip]]
    errors: list[Injected] = []
    for i in chosen[:n_drop]:
        k = int(rng.integers(len(labels[i])))
        errors.append(Injected(i, "drop", labels[i].pop(k)))
    for i in chosen[n_drop : n_drop + n_add]:
        h, w = skies[i].shape
        c = np.array([((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in labels[i]])
        for _ in range(10_000):
            x, y = float(rng.integers(0, w - 4)), float(rng.integers(0, h - 4))
            if not len(c) or np.hypot(c[:, 0] - x - 2, c[:, 1] - y - 2).min() >= 12:
                break
        box = (x, y, x + 4, y + 4)
        labels[i].append(box)
        errors.append(Injected(i, "add", box))
    for i in chosen[n_drop + n_add :]:
        h, w = skies[i].shape
        rw, rh = max(1, round(w * math.sqrt(0.1))), max(1, round(h * math.sqrt(0.1)))
        x0, y0 = int(rng.integers(0, w - rw + 1)), int(rng.integers(0, h - rh + 1))
        skies[i] = skies[i].copy()
        skies[i][y0 : y0 + rh, x0 : x0 + rw] ^= True
        errors.append(Injected(i, "flip", rect=(x0, y0, x0 + rw, y0 + rh)))
    return labels, skies, errors


def disputes_for(boxes, sky, pred) -> list[att.Dispute]:
    labels = [Target(box=b, state=TargetState.ACCEPTED, id=k) for k, b in enumerate(boxes)]
    proposals = [Target(box=tuple(b), source=Source.MODEL, score=float(s), state=TargetState.PROPOSAL,
                        id=10_000 + k) for k, (b, s) in enumerate(zip(pred["boxes"].tolist(), pred["scores"].tolist(), strict=True))]  # fmt: skip
    found = att.target_disputes(labels, proposals, float(pred["operating"]))
    return found + att.sky_disputes(sky, pred["sky"])


def located(err: Injected, disputes: list[att.Dispute]) -> bool:
    if err.kind in ("drop", "add"):
        kind = att.DisputeKind.UNLABELLED if err.kind == "drop" else att.DisputeKind.DOUBTFUL
        ex, ey = (err.box[0] + err.box[2]) / 2, (err.box[1] + err.box[3]) / 2
        for d in disputes:
            if d.kind is kind:
                dx, dy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
                if math.hypot(dx - ex, dy - ey) <= att.MATCH_DIST:
                    return True
        return False
    x0, y0, x1, y1 = err.rect
    covered = 0
    for d in disputes:
        if d.kind is att.DisputeKind.SKY and d.region is not None:
            bx, by = int(d.box[0]), int(d.box[1])  # the region is cropped to its box
            covered += int(d.region[max(y0 - by, 0) : max(y1 - by, 0), max(x0 - bx, 0) : max(x1 - bx, 0)].sum())
    return covered >= 0.5 * (x1 - x0) * (y1 - y0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devkit", type=Path, default=DEVKIT)
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--cache", type=Path, default=Path("runs/noise_cache"))
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--drop", type=int, default=25)
    ap.add_argument("--add", type=int, default=25)
    ap.add_argument("--flip", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5, help="also the mean over this many seeds")
    args = ap.parse_args()
    ids = [s for s in (args.devkit / "Splits" / f"{args.split}.txt").read_text().split() if s]
    n_new = cache_predictions(args.devkit, args.split, args.cache)
    preds = {}
    for i in ids:
        with np.load(args.cache / f"{i}.npz") as z:
            preds[i] = {k: z[k] for k in z.files}
    errors, per_image, found_at = run_once(args, ids, preds, args.seed)
    n, n_err = len(ids), len(errors)
    print(f"{n} images ({args.split}), {n_err} injected errors (seed {args.seed}: "
          f"{args.drop} dropped, {args.add} added, {args.flip} sky flips), "
          f"{sum(len(v) for v in per_image.values())} disputes in the queue; "
          f"model run now on {n_new} images")  # fmt: skip
    for kind in ("drop", "add", "flip"):
        errs = [e for e in errors if e.kind == kind]
        hit = sum(located(e, per_image[e.image]) for e in errs)
        print(f"  {kind:5s}: {hit}/{len(errs)} named by a dispute anywhere in the queue")
    for share in (0.1, 0.2):
        top = math.ceil(share * n)
        got = sum(r < top for r in found_at)
        print(f"top {share:.0%} of the queue ({top} images): {got}/{n_err} = {got / n_err:.1%} of the "
              f"injected errors; random order: {share:.0%} expected -> {got / n_err / share:.1f}x")  # fmt: skip
    need = math.ceil(0.8 * n_err)
    if len(found_at) >= need:
        k = found_at[need - 1] + 1
        print(f"80 % of the errors ({need}) found after {k} of {n} images ({k / n:.0%}); "
              f"random order: about {0.8 * n:.0f} ({0.8:.0%})")  # fmt: skip
    else:
        print(f"80 % of the errors ({need}) never found: the queue names {len(found_at)}")
    if args.repeat > 1:
        tops, needs = [], []
        for seed in range(args.seed, args.seed + args.repeat):
            errs, _, at = run_once(args, ids, preds, seed)
            tops.append(sum(r < math.ceil(0.1 * n) for r in at) / len(errs) / 0.1)
            k = math.ceil(0.8 * len(errs))
            needs.append(at[k - 1] + 1 if len(at) >= k else n)
        print(f"seeds {args.seed}-{args.seed + args.repeat - 1}: top 10 % finds "
              f"{' '.join(f'{t:.1f}x' for t in tops)} (mean {np.mean(tops):.1f}x) the random share; "
              f"images for 80 %: {' '.join(map(str, needs))}")  # fmt: skip
    return 0


def run_once(args, ids: list[str], preds: dict, seed: int):
    """(injected errors, disputes per image, queue positions of the images of the found errors)."""
    labels, skies, errors = inject(args.devkit, ids, seed, args.drop, args.add, args.flip)
    per_image = {i: disputes_for(labels[i], skies[i], preds[i]) for i in ids}
    order = sorted(ids, key=lambda i: (*att.image_priority(per_image[i]), ids.index(i)))
    rank = {i: k for k, i in enumerate(order)}
    found_at = sorted(rank[e.image] for e in errors if located(e, per_image[e.image]))
    return errors, per_image, found_at


if __name__ == "__main__":
    raise SystemExit(main())
