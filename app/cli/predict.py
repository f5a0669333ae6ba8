"""`main.py predict IMAGES_DIR OUT_DIR`: run BAFE-Net on every image of a folder.

For each image ``<id>`` it writes, in DenseSIRST layout under OUT_DIR:
``SIRST/BBox/<id>.xml`` (boxes scoring >= the model's operating threshold, integer coordinates),
``SIRST/Point_label/<id>_pixels0.txt`` (their centre pixels) and ``SkySeg/BinaryMask/<id>_pixels0.png``
(255 = sky, at the model's sky threshold); plus ``detections.csv`` (``image_id,xmin,ymin,xmax,ymax,score``, every detection
>= --score-thr, continuous coordinates) for evaluation. Any size, 8/16-bit, gray or colour.
Unreadable images are reported and skipped (exit code 1). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("predict", help="detect targets and sky in a folder of images",
                              description="Run BAFE-Net on every image of IMAGES_DIR; write DenseSIRST files.")
    p.add_argument("images", type=Path, help="folder of images (png, tif, jpg, bmp)")
    p.add_argument("out", type=Path, help="output folder (DenseSIRST layout + detections.csv)")
    p.add_argument("--weights", type=Path, help="safetensors weights (default: the shipped model)")
    p.add_argument("--score-thr", type=float, default=0.05, help="lowest score written to detections.csv")
    p.add_argument("--operating-thr", type=float, help="score for the BBox XMLs (default: the model's)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-bad-pixel-filter", action="store_true",
                   help="keep isolated hot/dead pixels (by default they are repaired first and counted)")
    p.set_defaults(func=run)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def rounded_boxes(boxes) -> list[tuple[float, float, float, float]]:
    """Boxes rounded to the nearest pixel edges, at least one pixel wide and high."""
    out = []
    for x0, y0, x1, y1 in boxes:
        a, b = round(float(x0)), round(float(y0))
        out.append((a, b, max(round(float(x1)), a + 1), max(round(float(y1)), b + 1)))
    return out


def write_outputs(out: Path, image_id: str, pred, operating_thr: float) -> None:
    """The three DenseSIRST files of one image (each atomic)."""
    import numpy as np

    from core.formats._io import atomic_write_bytes, atomic_write_text
    from core.formats.densesirst import BBOX, POINTS, SKY_BIN, bbox_xml, points_text
    from core.imageio import encode_png

    h, w = pred.sky_prob.shape
    keep = pred.scores >= operating_thr
    boxes = rounded_boxes(pred.boxes[keep])
    points = [((x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5) for x0, y0, x1, y1 in boxes]
    atomic_write_text(out / BBOX / f"{image_id}.xml", bbox_xml(image_id, w, h, boxes))
    atomic_write_text(out / POINTS / f"{image_id}_pixels0.txt", points_text(points))
    mask = pred.sky_mask if pred.sky_mask is not None else pred.sky_prob >= pred.sky_threshold
    sky = mask.astype(np.uint8) * 255
    atomic_write_bytes(out / SKY_BIN / f"{image_id}_pixels0.png", encode_png(sky))


def run(args: argparse.Namespace) -> int:
    from core.errors import ImageReadError
    from core.formats._io import atomic_write_text, check_id
    from core.imageio import read_image
    from model.inference import Predictor

    if not args.images.is_dir():
        print(f"error: {args.images} is not a folder of images", file=sys.stderr)
        return EXIT_USAGE
    paths = list_images(args.images)
    if not paths:
        print(f"error: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {args.images}", file=sys.stderr)
        return EXIT_USAGE
    predictor = Predictor(args.weights, threads=args.threads, bad_pixel_filter=not args.no_bad_pixel_filter)
    thr = predictor.operating_threshold if args.operating_thr is None else args.operating_thr
    rows, failed = ["image_id,xmin,ymin,xmax,ymax,score"], []
    for n, path in enumerate(paths, 1):
        image_id = check_id(path.stem)
        try:
            image = read_image(path)
        except ImageReadError as exc:
            failed.append(str(exc))
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        pred = predictor.predict(image, score_thr=args.score_thr)
        write_outputs(args.out, image_id, pred, thr)
        rows += [f"{image_id},{b[0]:.2f},{b[1]:.2f},{b[2]:.2f},{b[3]:.2f},{s:.5f}"
                 for b, s in zip(pred.boxes.tolist(), pred.scores.tolist(), strict=True)]
        bad = f", {len(pred.bad_pixels)} bad pixels repaired" if len(pred.bad_pixels) else ""
        print(f"[{n}/{len(paths)}] {image_id}: {int((pred.scores >= thr).sum())} targets{bad}", file=sys.stderr)
    atomic_write_text(args.out / "detections.csv", "\n".join(rows) + "\n")
    print(f"wrote {len(paths) - len(failed)} images to {args.out} (operating threshold {thr:.3f})", file=sys.stderr)
    return EXIT_PARTIAL if failed else EXIT_OK
