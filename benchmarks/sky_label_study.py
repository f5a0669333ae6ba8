"""Where a prediction folder's sky disagrees with DenseSIRST's sky labels (docs/SKY_LABELS.md).

Reads what ``main.py predict`` wrote (``SkySeg/BinaryMask/<id>_pixels0.png``, ``SIRST/BBox/<id>.xml``)
and the split's labels. Prints one JSON line per image of the ``--worst`` N by per-image sky IoU
(size, IoU, the share of the frame the model calls sky against a ground label and ground against a
sky label, sky edits as core.effort counts them), then the corrections per image on the whole split
(``../shared/tools/effort.py``'s figures) and, with ``--exclude``, on the split without those
images, labelled as such (the real figure is the first one).

``--render DIR`` writes one PNG per listed image: the frame | the label (sky blue) | the model's
sky | the disagreement (red: model sky on a ground label, blue: model ground on a sky label).

    python main.py predict /tmp/val2img /tmp/val_pred --backend onnx --threads 1
    python benchmarks/sky_label_study.py --pred /tmp/val_pred --worst 20 --render /tmp/sky_study
    python benchmarks/sky_label_study.py --pred /tmp/val_pred --worst 0 --exclude Misc_119 Misc_60 ...  # docs/SKY_LABELS.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.effort import image_corrections, min_region_px, summarize  # noqa: E402
from core.formats.densesirst import BBOX, SKY_BIN, read_boxes, read_mask, read_sample, read_split  # noqa: E402
from core.imageio import normalize_for_display, read_image  # noqa: E402

DATA = next((p / "shared/datasets/DenseSIRST/SIRSTdevkit" for p in Path(__file__).resolve().parents[1:4]
             if (p / "shared/datasets/DenseSIRST/SIRSTdevkit").is_dir()),
            Path(__file__).resolve().parents[2] / "shared/datasets/DenseSIRST/SIRSTdevkit")
PANEL_W = 480  # width of one panel of a rendering
THIN_SHARE = 0.015  # a "thin" structure: removed by closing the sky with a disk of 1.5 % of the width


def thin_ground(sky: np.ndarray) -> np.ndarray:
    """Ground pixels that a closing of ``sky`` with a disk of THIN_SHARE of the frame width fills:
    wires, branches, lattice masts and poles crossing the sky, and narrow gaps between them."""
    k = max(3, round(THIN_SHARE * sky.shape[1]) | 1)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return (cv2.morphologyEx(sky.astype(np.uint8), cv2.MORPH_CLOSE, disk) > 0) & ~sky


def thin_edits(label: np.ndarray, model: np.ndarray, min_area: int) -> int:
    """Sky edits (regions of label XOR model of at least ``min_area`` px) lying at least half in
    the thin-structure zone of the label or of the model."""
    zone = thin_ground(label) | thin_ground(model)
    n, lab, stats, _c = cv2.connectedComponentsWithStats((label ^ model).astype(np.uint8), connectivity=8)
    big = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area]
    if not big:
        return 0
    inside = np.bincount(lab[zone], minlength=n)
    return sum(int(inside[i] * 2 >= stats[i, cv2.CC_STAT_AREA]) for i in big)


def panel(grey: np.ndarray, sky: np.ndarray | None = None, colour=(255, 128, 0)) -> np.ndarray:
    """BGR frame with ``sky`` tinted in ``colour`` (BGR) at 45 %."""
    out = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR).astype(np.float32)
    if sky is not None:
        out[sky] = 0.55 * out[sky] + 0.45 * np.array(colour, np.float32)
    return out.astype(np.uint8)


def render(path: Path, grey: np.ndarray, label: np.ndarray, model: np.ndarray, title: str) -> None:
    diff = cv2.cvtColor(grey // 2, cv2.COLOR_GRAY2BGR)
    diff[model & ~label] = (0, 0, 255)  # red: the model says sky, the label ground
    diff[~model & label] = (255, 0, 0)  # blue: the model says ground, the label sky
    panels = [panel(grey), panel(grey, label), panel(grey, model, (0, 200, 255)), diff]
    h, w = grey.shape
    size = (PANEL_W, max(1, round(h * PANEL_W / w)))
    row = np.hstack([cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in panels])
    bar = np.zeros((22, row.shape[1], 3), np.uint8)
    cv2.putText(bar, title, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack([bar, row]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--split", default="val_v2")
    ap.add_argument("--pred", type=Path, required=True, help="folder written by `main.py predict`")
    ap.add_argument("--worst", type=int, default=20)
    ap.add_argument("--render", type=Path, help="write side-by-side PNGs of the listed images here")
    ap.add_argument("--exclude", nargs="*", default=[], help="image ids left out of the second effort figure")
    args = ap.parse_args()
    ids = read_split(args.data, args.split)
    unknown = sorted(set(args.exclude) - set(ids))
    if unknown:
        print(f"error: not in {args.split}: {' '.join(unknown)}", file=sys.stderr)
        return 2
    rows, corrections = [], {}
    for image_id in ids:
        s = read_sample(args.data, image_id)
        gt = np.asarray([t.box for t in s.annotation.targets if t.box], np.float64).reshape(-1, 4)
        xml = args.pred / BBOX / f"{image_id}.xml"
        kept = np.asarray(read_boxes(xml, s.width, s.height) if xml.exists() else [], np.float64).reshape(-1, 4)
        sky_file = args.pred / SKY_BIN / f"{image_id}_pixels0.png"
        model = read_mask(sky_file, s.width, s.height) if sky_file.exists() else np.zeros((s.height, s.width), bool)
        label = s.annotation.sky
        c = image_corrections(gt, kept, label, model)
        corrections[image_id] = c
        if label is None:
            continue
        inter, union = int((model & label).sum()), int((model | label).sum())
        thin_px = int(thin_ground(label).sum())
        n = label.size
        rows.append({"image_id": image_id, "size": f"{s.width}x{s.height}",
                     "sky_iou": round(inter / union, 4) if union else 1.0,
                     "label_sky": round(int(label.sum()) / n, 4), "model_sky": round(int(model.sum()) / n, 4),
                     "model_sky_on_ground": round(int((model & ~label).sum()) / n, 4),
                     "model_ground_on_sky": round(int((~model & label).sum()) / n, 4),
                     "label_thin_ground": round(thin_px / n, 4),
                     "all_sky": bool(label.all()), "no_sky": not label.any(), "thin_px": thin_px, "min_region": min_region_px(label.shape),
                     "sky_edits": c.sky_edits, "thin_edits": thin_edits(label, model, min_region_px(label.shape))})
    with_thin = [r for r in rows if r.pop("thin_px") >= r.pop("min_region")]
    print(json.dumps({"images_with_sky_labels": len(rows),
                      "all_sky": sum(r.pop("all_sky") for r in rows),
                      "no_sky": sum(r.pop("no_sky") for r in rows),
                      "labels_cutting_thin_structures_out_of_the_sky": len(with_thin),
                      "sky_edits": sum(r["sky_edits"] for r in rows),
                      "of_which_on_thin_structures": sum(r["thin_edits"] for r in rows),
                      "of_which_on_thin_structure_images": sum(r["sky_edits"] for r in with_thin),
                      "thin_structure_images": sorted(r["image_id"] for r in with_thin)}))
    most = sorted(rows, key=lambda r: -r["sky_edits"])[:10]
    print(json.dumps({"most_sky_edits": [(r["image_id"], r["size"], r["sky_edits"], r["sky_iou"]) for r in most]}))
    rows.sort(key=lambda r: r["sky_iou"])
    for r in rows[: args.worst]:
        print(json.dumps(r))
        if args.render:
            s = read_sample(args.data, r["image_id"])
            grey = normalize_for_display(read_image(s.image_path))
            model = read_mask(args.pred / SKY_BIN / f"{r['image_id']}_pixels0.png", s.width, s.height)
            title = (f"{r['image_id']} {r['size']} IoU {r['sky_iou']:.3f}  | label sky (blue) | model sky "
                     "(orange) | red: model sky on ground label, blue: model ground on sky label")
            render(args.render / f"{r['sky_iou']:.3f}_{r['image_id']}.png", grey, s.annotation.sky, model, title)
    print(json.dumps({"figure": f"corrections per image, {args.split}, all {len(ids)} images",
                      **summarize(list(corrections.values()))}))
    if args.exclude:
        kept_ids = [i for i in ids if i not in set(args.exclude)]
        print(json.dumps({"figure": f"corrections per image, {args.split} without the {len(args.exclude)} "
                                    "excluded images (not the real figure)",
                          **summarize([corrections[i] for i in kept_ids])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
