"""`main.py import SRC PROJECT --format densesirst|coco|images [--split NAME]`.

Creates PROJECT when missing; importing again adds only what is new. A progress bar goes to
stderr, then a summary, every skipped file with its reason and every warning (a box clipped to
the image, a mask with values other than 0/255). Exit codes: 0 all imported (warnings
allowed), 1 some files skipped (the rest imported), 2 unusable input (nothing changed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE
from core.store.location import describe, project_arg

FORMATS = ("densesirst", "coco", "images")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import",
        help="import a DenseSIRST folder, a COCO JSON or a folder of images into a project",
        description="Import images (referenced in place, never copied) and their labels into a "
        "project folder, creating it when missing. Re-running adds only new images.",
    )
    p.add_argument(
        "src", type=Path, help="DenseSIRST root (SIRSTdevkit), COCO JSON file, or image folder"
    )
    p.add_argument("project", type=project_arg, help="project folder (created when missing) or "
                   "server URL postgresql+psycopg://user@host:port/db (an empty database)")  # fmt: skip
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="densesirst",
        help="source format (default: densesirst)",
    )
    p.add_argument("--split", metavar="NAME", help="DenseSIRST: a split file (e.g. train_v2) or "
                   "train/val/test; coco/images: the split to give every image")  # fmt: skip
    p.add_argument(
        "--images-dir", type=Path, help="COCO: folder of the images (default: the JSON's folder)"
    )
    add_max_pixels_argument(p)
    p.set_defaults(func=run)


def add_max_pixels_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-pixels", type=_positive_int, metavar="N",
        help="refuse images (and masks) larger than N pixels, read from the file header before "
        "decoding (default: 100000000, or the SIRST_MAX_PIXELS environment variable)",
    )  # fmt: skip


def _positive_int(text: str) -> int:
    try:
        value = int(float(text))
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def apply_max_pixels(args: argparse.Namespace) -> None:
    from core import imagelimits

    if getattr(args, "max_pixels", None):
        imagelimits.set_max_pixels(args.max_pixels)


def _check_source(args: argparse.Namespace) -> None:
    """Fail before the project is touched when the source cannot be used (exit 2)."""
    from core.domain import Split
    from core.errors import ProjectError
    from core.formats.coco import read_coco
    from core.services.importer import check_densesirst_source, collect_images

    if isinstance(args.project, Path) and args.project.exists() and not args.project.is_dir():
        raise ProjectError(f"{args.project} is a file; the project must be a folder")
    if args.format == "densesirst":
        check_densesirst_source(args.src, args.split)
    elif args.format == "coco":
        read_coco(args.src)
    else:
        collect_images(args.src)
    if args.format != "densesirst" and args.split:
        Split(args.split)


def run(args: argparse.Namespace) -> int:
    from core.errors import SirstError
    from core.services import coco_import, importer
    from core.store.project import Project

    apply_max_pixels(args)
    try:
        _check_source(args)
    except ValueError:
        print(f"error: --split {args.split!r}: use train, val, test or unassigned", file=sys.stderr)
        return EXIT_USAGE
    except SirstError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with Project.open_or_create(args.project) as project, _Bar(f"import {args.src.name}") as bar:
        if args.format == "densesirst":
            report = importer.import_densesirst(project, args.src, split=args.split, progress=bar)
        elif args.format == "coco":
            report = coco_import.import_coco(
                project, args.src, args.images_dir, split=args.split, progress=bar
            )
        else:
            report = importer.import_images(
                project, args.src, split=args.split or "unassigned", progress=bar
            )
    print(f"{report.added} added, {report.existing} already in the project, {report.skipped} skipped "
          f"-> {describe(args.project)}")  # fmt: skip
    for name, message in report.errors:
        print(f"skipped {shown(name)}: {message}", file=sys.stderr)
    for name, message in report.warnings:
        print(f"warning {shown(name)}: {message}", file=sys.stderr)
    return EXIT_PARTIAL if report.errors else EXIT_OK


def shown(name: str) -> str:
    """A name as printed: quoted (repr) when it holds control characters or edge blanks, so
    a file called "a\nb.png" stays on one line of the report."""
    return repr(name) if not name.isprintable() or name != name.strip() else name


class _Bar:
    """A tqdm bar on stderr driven by ``progress(done, total, label)`` callbacks."""

    def __init__(self, desc: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=0, desc=desc, unit="img", file=sys.stderr, dynamic_ncols=True)

    def __call__(self, done: int, total: int, *_label: object) -> None:
        if self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
