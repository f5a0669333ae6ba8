"""`main.py predict IMAGES_DIR OUT_DIR`: run BAFE-Net on every image of a folder.

For each image ``<id>`` it writes, in DenseSIRST layout under OUT_DIR:
``SIRST/BBox/<id>.xml`` (boxes scoring >= the model's operating threshold, integer coordinates),
``SIRST/Point_label/<id>_pixels0.txt`` (their centre pixels) and ``SkySeg/BinaryMask/<id>_pixels0.png``
(255 = sky: the model's sky proposal at its sky threshold, after the whole-frame sky pass and the
clean-up its config asks for, as the GUI pre-annotates it); plus ``detections.csv`` (``image_id,xmin,ymin,xmax,ymax,score``, every detection
>= --score-thr, continuous coordinates) for evaluation. Any size, 8/16-bit, gray or colour.

Isolated hot / dead sensor pixels are repaired before the network (core.badpixels; counted per
image; ``--no-bad-pixel-filter`` turns it off). ``bad_pixels.csv`` (``image_id,x,y``, one row per
repaired pixel, x = column and y = row of the pixel) says where: the header alone when none were
repaired or the filter is off, so a previous run's file never survives. Reading, the network and writing overlap (model.pipeline). Everything that can be checked
before the run (folder, output path, threads, weights and their config, file names) is, so bad
input exits 2 with nothing written. Images that cannot be used (unreadable, a name that is not
a safe image id, a second file with the same id) are reported and skipped: exit 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"}
BAD_PIXELS_CSV = "bad_pixels.csv"
BAD_PIXELS_HEADER = "image_id,x,y"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("predict", help="detect targets and sky in a folder of images",
                              description="Run BAFE-Net on every image of IMAGES_DIR; write DenseSIRST files.")
    p.add_argument("images", type=Path, help="folder of images (png, tif, jpg, bmp)")
    p.add_argument("out", type=Path, help="output folder (DenseSIRST layout + detections.csv)")
    p.add_argument("--weights", type=Path, help="safetensors weights (default: the shipped model)")
    p.add_argument("--score-thr", type=float, default=0.05, help="lowest score written to detections.csv")
    p.add_argument("--operating-thr", type=float, help="score for the BBox XMLs (default: the model's)")
    p.add_argument("--threads", type=int, default=2,
                   help="CPU threads for the network (>= 1); from 2 on (ONNX backends) two frames are in "
                        "the network at once, each on half of them")
    p.add_argument("--backend", choices=["onnx-int8", "onnx", "torch"], default=None,
                   help="onnx-int8: ONNX Runtime int8 (the <weights>.int8.onnx beside the weights; ORT fp32 "
                        "with a warning when it is missing, stale or damaged); onnx: ONNX Runtime fp32; torch: "
                        "the eager reference (default: the app's default backend, model.backends.DEFAULT_BACKEND)")
    p.add_argument("--network-boxes", action="store_true",
                   help="the boxes as the network gives them: no fit to the target's pixels, no "
                        "second-box suppression (what the X-AnyLabeling export reproduces)")
    p.add_argument("--no-bad-pixel-filter", action="store_true",
                   help="keep isolated hot/dead pixels (by default they are repaired first and counted)")
    p.set_defaults(func=run)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def usable_images(paths: list[Path]) -> tuple[list[tuple[str, Path]], list[str]]:
    """(image id, path) of files whose name is a safe, unique image id; reasons for the others."""
    from core.errors import FormatError
    from core.formats._io import check_id

    ok, skipped, seen = [], [], {}
    for path in paths:
        try:
            image_id = check_id(path.stem, path.name)
        except FormatError as exc:
            skipped.append(f"{path.name}: {exc.reason}")
            continue
        if image_id in seen:
            skipped.append(f"{path.name}: same image id {image_id!r} as {seen[image_id]}; rename one")
            continue
        seen[image_id] = path.name
        ok.append((image_id, path))
    return ok, skipped


def write_outputs(out: Path, image_id: str, pred, operating_thr: float) -> None:
    """The three DenseSIRST files of one image (each atomic)."""
    import numpy as np

    from core.evaluation import rounded_boxes
    from core.formats._io import atomic_write_bytes, atomic_write_text
    from core.formats.densesirst import BBOX, POINTS, SKY_BIN, bbox_xml, points_text
    from core.imageio import encode_png

    h, w = pred.image_size
    keep = pred.scores >= operating_thr
    boxes = rounded_boxes(pred.boxes[keep])
    points = [((x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5) for x0, y0, x1, y1 in boxes]
    atomic_write_text(out / BBOX / f"{image_id}.xml", bbox_xml(image_id, w, h, boxes))
    atomic_write_text(out / POINTS / f"{image_id}_pixels0.txt", points_text(points))
    sky = pred.sky_mask().astype(np.uint8) * 255  # the cleaned proposal, as the GUI pre-annotates it
    atomic_write_bytes(out / SKY_BIN / f"{image_id}_pixels0.png", encode_png(sky))


def check_args(args: argparse.Namespace) -> str | None:
    """Why the arguments cannot work (None: they can)."""
    if not args.images.is_dir():
        return f"{args.images} is not a folder of images"
    if args.out.exists() and not args.out.is_dir():
        return f"output {args.out} exists and is not a folder; choose a folder"
    if args.threads < 1:
        return f"--threads {args.threads}: use 1 or more"
    for name in ("score_thr", "operating_thr"):
        value = getattr(args, name)
        if value is not None and not 0.0 <= value <= 1.0:
            return f"--{name.replace('_', '-')} {value}: a score threshold lies in [0, 1]"
    return None


def ensure_out(out: Path) -> str | None:
    """Create the output folders up front so a bad OUT fails before any image is processed."""
    from core.formats.densesirst import BBOX, POINTS, SKY_BIN

    try:
        for sub in (BBOX, POINTS, SKY_BIN):
            (out / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the output folder {out}: {exc.strerror or exc}"
    return None


def predict_folder(predictor, todo: list[tuple[str, Path]], out: Path, operating_thr: float,
                   score_thr: float) -> tuple[list[str], list[str]]:
    """Run the pipeline over (id, path) pairs, writing each image's files as it finishes:
    (detections.csv rows with header, reasons for the images that failed, bad_pixels.csv rows
    with header)."""
    from core.evaluation import detection_rows
    from core.imageio import read_image
    from model.pipeline import run_pipeline

    rows, failed, done = ["image_id,xmin,ymin,xmax,ymax,score"], [], [0]
    pixels = [BAD_PIXELS_HEADER]

    def consume(item: tuple[str, Path], pred) -> None:
        image_id, path = item
        done[0] += 1
        if isinstance(pred, BaseException):
            failed.append(f"{path.name}: {pred}")
            print(f"skipped: {path.name}: {pred}", file=sys.stderr)
            return
        write_outputs(out, image_id, pred, operating_thr)
        rows.extend(detection_rows(image_id, pred.boxes, pred.scores))
        n = int((pred.scores >= operating_thr).sum())
        k = len(pred.bad_pixels)
        pixels.extend(f"{image_id},{x},{y}" for x, y in pred.bad_pixels.tolist())
        bad = f", {k} bad pixel{'' if k == 1 else 's'} repaired" if k else ""
        print(f"[{done[0]}/{len(todo)}] {image_id}: {n} targets{bad}", file=sys.stderr)

    run_pipeline(todo, lambda item: read_image(item[1]), predictor, consume, score_thr=score_thr)
    return rows, failed, pixels


def run(args: argparse.Namespace) -> int:
    problem = check_args(args)
    if problem is None:
        paths = list_images(args.images)
        if not paths:
            problem = f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {args.images}"
    if problem is None:
        todo, skipped = usable_images(paths)
        if not todo:
            problem = "no usable image names in {}: {}".format(args.images, "; ".join(skipped))
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from core.formats._io import atomic_write_text
    from model.backends import DEFAULT_BACKEND
    from model.inference import Predictor
    from model.pipeline import default_lanes

    predictor = Predictor(args.weights, threads=args.threads, backend=args.backend or DEFAULT_BACKEND,  # exit 2
                          bad_pixel_filter=not args.no_bad_pixel_filter, fit_to_pixels=not args.network_boxes,
                          lanes=default_lanes(args.threads))
    problem = ensure_out(args.out)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    for reason in skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    thr = predictor.operating_threshold if args.operating_thr is None else args.operating_thr
    rows, failed, pixels = predict_folder(predictor, todo, args.out, thr, args.score_thr)
    failed = skipped + failed
    atomic_write_text(args.out / "detections.csv", "\n".join(rows) + "\n")
    atomic_write_text(args.out / BAD_PIXELS_CSV, "\n".join(pixels) + "\n")
    written = len(todo) + len(skipped) - len(failed)
    print(f"wrote {written} images to {args.out} (operating threshold {thr:.3f})"
          + (f"; skipped {len(failed)}" if failed else ""), file=sys.stderr)
    return EXIT_PARTIAL if failed else EXIT_OK
