"""Robustness of the shipped model on a DenseSIRST split under perturbed frames (issue 21).

Every row runs the split through ``predict``'s own path (``model.pipeline.run_pipeline`` around a
``Predictor`` with the ONNX Runtime fp32 backend by default, the bad-pixel filter on, boxes fitted,
detections down to score 0.05, boxes kept at the weights' operating threshold), with the frame
perturbed in memory after it is read (benchmarks/perturb.py; seeded per row and image), and scores
what ``predict`` would have written (boxes rounded as the XMLs / detections.csv hold them, the cleaned
sky mask) the way ``main.py evaluate`` and ``../shared/tools/effort.py`` do (core.evaluation,
core.effort):

- mAP07 (legacy +1 widths, IoU >= 0.5), Pd / FA per image (centre within 3 px, one to one);
- Pd of the targets whose true box covers at most 9 px (w * h <= 9: up to 3x3);
- sky IoU pooled over the split and pooled over its 1280x1024 frames;
- corrections per image (deletes + adds + box fixes + sky edits) and the sky edits alone.

Rows: clean (the 8-bit frame as read), noise (Gaussian, sigma 3 grey levels), blur (area down to
0.5x, bilinear up), vflip (frame, boxes and sky mask flipped), 16bit (``v * 50 + 2000``),
16bit+bad (16bit with 0.02 % isolated hot / dead pixels, which the filter repairs). The
perturbations act on the grey frame (``core.imageio.to_gray``; RGB frames are made grey first, as
the Predictor would).

    nice -n 10 python benchmarks/robustness.py --threads 1
    python benchmarks/robustness.py --rows clean vflip --limit 8      # a quick look

Prints one JSON line per row as it finishes, then the Markdown table of MODEL.md ("Robustness").
``--per-image FILE`` also writes one JSON line per row and image (sky IoU counts, corrections).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import perturb  # noqa: E402
from core.effort import image_corrections, summarize  # noqa: E402
from core.evaluation import as_written, kept_boxes, score, sky_count  # noqa: E402
from core.formats.densesirst import read_sample, read_split  # noqa: E402
from core.imageio import read_image, to_gray  # noqa: E402
from core.metrics import centre_matches  # noqa: E402

# ../shared beside the checkout (main), or beside the folder of worktrees (/work/wt/<branch>)
DATA = next((p / "shared/datasets/DenseSIRST/SIRSTdevkit" for p in Path(__file__).resolve().parents[1:4]
             if (p / "shared/datasets/DenseSIRST/SIRSTdevkit").is_dir()),
            Path(__file__).resolve().parents[2] / "shared/datasets/DenseSIRST/SIRSTdevkit")
SMALL_AREA_PX = 9  # "targets <= 9 px": true box area w * h (DenseSIRST widths) of at most 9 pixels
NOISE_SIGMA8 = 3.0
BLUR_SCALE = 0.5
BAD_FRACTION = 2e-4  # 0.02 % of the pixels, as the held-out run
SEED = 2026

Perturb = Callable[[np.ndarray, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Row:
    label: str  # as printed in the table
    frame: Perturb  # grey frame, generator -> perturbed frame
    flips: bool = False  # labels flipped vertically with the frame


ROWS: dict[str, Row] = {
    "clean": Row("clean (8-bit as read)", lambda g, _r: g),
    "noise": Row(f"Gaussian noise sigma {NOISE_SIGMA8:g} (8-bit grey levels)",
                 lambda g, r: perturb.gaussian_noise(g, NOISE_SIGMA8, r)),
    "blur": Row(f"{BLUR_SCALE:g}x down-up (area down, bilinear up)", lambda g, _r: perturb.down_up(g, BLUR_SCALE)),
    "vflip": Row("vertical flip (labels flipped)", lambda g, _r: perturb.vflip(g), flips=True),
    "16bit": Row("16-bit (v * 50 + 2000)", lambda g, _r: perturb.to_16bit(g)),
    "16bit+bad": Row(f"16-bit + {BAD_FRACTION:.2%} hot / dead pixels",
                     lambda g, r: perturb.to_16bit(g, BAD_FRACTION, r)),
}


@dataclass
class Truth:
    image_id: str
    boxes: np.ndarray  # [N, 4] float64
    sky: np.ndarray | None  # bool [H, W]


@dataclass
class Tally:
    gts: list[np.ndarray] = field(default_factory=list)
    dets: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    kept: list[np.ndarray] = field(default_factory=list)
    sky: list[tuple[int, int, tuple[int, ...]]] = field(default_factory=list)
    corrections: list = field(default_factory=list)
    small: int = 0
    small_found: int = 0
    per_image: list[dict] = field(default_factory=list)


def truths(root: Path, split: str, limit: int | None) -> list[Truth]:
    out = []
    for image_id in read_split(root, split)[:limit]:
        s = read_sample(root, image_id)
        boxes = np.asarray([t.box for t in s.annotation.targets if t.box], np.float64).reshape(-1, 4)
        out.append(Truth(image_id, boxes, s.annotation.sky))
    return out


def small_targets(boxes: np.ndarray) -> np.ndarray:
    """bool [N]: true boxes of at most SMALL_AREA_PX pixels."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) <= SMALL_AREA_PX


def run_row(name: str, predictor, root: Path, items: list[Truth], seed: int) -> Tally:
    from model.pipeline import run_pipeline

    row = ROWS[name]
    tally = Tally()
    index = {t.image_id: n for n, t in enumerate(items)}
    salt = list(ROWS).index(name)

    def load(t: Truth) -> np.ndarray:
        grey = to_gray(read_image(root / "PNGImages" / f"{t.image_id}.png"))
        return row.frame(grey, np.random.default_rng([seed, salt, index[t.image_id]]))

    def consume(t: Truth, pred) -> None:
        if isinstance(pred, BaseException):
            raise RuntimeError(f"{t.image_id}: {pred}") from pred
        h = pred.image_size[0]
        gt = perturb.flip_boxes(t.boxes, h) if row.flips else t.boxes
        gt_sky = None if t.sky is None else (perturb.flip_mask(t.sky) if row.flips else t.sky)
        kept = kept_boxes(pred.boxes, pred.scores, predictor.operating_threshold)
        sky = pred.sky_mask()
        tally.gts.append(gt)
        tally.dets.append(as_written(pred.boxes, pred.scores))
        tally.kept.append(kept)
        c = image_corrections(gt, kept, gt_sky, sky)
        tally.corrections.append(c)
        small = small_targets(gt)
        found = centre_matches(gt, kept) >= 0
        tally.small += int(small.sum())
        tally.small_found += int((found & small).sum())
        rec = {"row": name, "image_id": t.image_id, "targets": len(gt), "found": int(found.sum()),
               "kept": len(kept), "deletes": c.deletes, "adds": c.adds, "box_fixes": c.box_fixes,
               "sky_edits": c.sky_edits}
        if gt_sky is not None:
            inter, union, shape = sky_count(sky, gt_sky)
            tally.sky.append((inter, union, shape))
            rec.update(sky_inter=inter, sky_union=union, height=shape[0], width=shape[1])
        tally.per_image.append(rec)

    run_pipeline(items, load, predictor, consume, score_thr=0.05)
    return tally


def figures(name: str, tally: Tally) -> dict:
    s = score(tally.gts, tally.dets, tally.kept, tally.sky)
    eff = summarize(tally.corrections)
    return {"row": name, "images": s["images"], "targets": s["targets"], "mAP07": s["mAP07"],
            "pd": s["pd"], "fa_per_image": s["fa_per_image"], "small_targets": tally.small,
            "pd_small": tally.small_found / tally.small if tally.small else None,
            "sky_iou": s["sky_iou"], "sky_large": s["sky_large"],
            "actions_per_img": eff["actions_per_img_assisted"], "sky_edits_per_img": eff["sky_edits"]}


def table(rows: list[dict]) -> str:
    def f(v, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    small = rows[0]["small_targets"] if rows else 0
    lines = [f"| frames | mAP07 | Pd / FA per image | Pd, targets <= 9 px ({small}) | sky IoU pooled | "
             "sky IoU 1280x1024 | corrections per image (sky edits) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {ROWS[r['row']].label} | {f(r['mAP07'], '.4f')} | {f(r['pd'], '.4f')} / "
                     f"{f(r['fa_per_image'], '.2f')} | {f(r['pd_small'], '.4f')} | {f(r['sky_iou'], '.4f')} | "
                     f"{f(r['sky_large'], '.4f')} | {f(r['actions_per_img'], '.2f')} "
                     f"({f(r['sky_edits_per_img'], '.2f')}) |")
    return "\n".join(lines)


def load_average() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime unavailable"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--weights", type=Path, default=None, help="safetensors (default: the shipped model)")
    ap.add_argument("--backend", choices=["onnx", "onnx-int8", "torch"], default="onnx")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    ap.add_argument("--limit", type=int, default=None, help="only the first N images of the split")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--per-image", type=Path, help="write one JSON line per row and image here")
    args = ap.parse_args()
    if args.threads < 1:
        print(f"error: --threads {args.threads}: use 1 or more", file=sys.stderr)
        return 2
    if not (args.data / "Splits" / f"{args.split}.txt").is_file():
        print(f"error: no split {args.split} under {args.data}", file=sys.stderr)
        return 2

    from model.inference import Predictor

    predictor = Predictor(args.weights, threads=args.threads, backend=args.backend)
    items = truths(args.data, args.split, args.limit)
    print(f"# {predictor.weights} ({predictor.backend.value}, {args.threads} thread(s)), {args.split}: "
          f"{len(items)} images, operating threshold {predictor.operating_threshold:.4f}, seed {args.seed}",
          flush=True)
    rows, per_image = [], []
    for name in args.rows:
        t0 = time.perf_counter()
        tally = run_row(name, predictor, args.data, items, args.seed)
        r = figures(name, tally) | {"seconds": round(time.perf_counter() - t0, 1), "load": load_average()}
        rows.append(r)
        per_image.extend(tally.per_image)
        print(json.dumps(r), flush=True)
    if args.per_image:
        args.per_image.write_text("".join(json.dumps(p) + "\n" for p in per_image))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
