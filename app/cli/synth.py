"""`main.py synth SRC OUT --count N`: BAG-CP dataset synthesis, DenseSIRST folder in and out.

The backgrounds are SRC's images with their sky masks; the target library is cut from SRC's own
labelled targets (or loaded with ``--library``). Each output image ``<source id>_bagcp<i>`` keeps
its background's original targets and sky mask and adds 1-3 clusters of pasted targets; every
DenseSIRST label kind is written, plus a split file listing the new ids. Backgrounds are visited in
a seeded random order (cycling when N exceeds their number); one whose sky cannot hold a cluster is
skipped and reported. Imports only core (numpy / OpenCV): no Qt, no torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE

if TYPE_CHECKING:  # annotations only: the run path imports these lazily
    import numpy as np

    from core.bagcp import BagcpConfig
    from core.target_library import TargetLibrary

_MAX_SKIPS_SHOWN = 10


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synth",
        help="BAG-CP: synthesise a DenseSIRST-format dataset of clustered targets pasted into sky",
        description="Paste clusters of SRC's real targets into the sky of SRC's images (BAG-CP, "
        "paper Eq. 1-3) and write the results as a DenseSIRST folder OUT.",
    )
    p.add_argument("src", type=Path, help="DenseSIRST root (SIRSTdevkit) with sky masks")
    p.add_argument("out", type=Path, help="output DenseSIRST root (new or empty folder)")
    p.add_argument("--count", type=int, required=True, help="number of images to write")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same output)")
    p.add_argument("--split", help="use only this split of SRC (backgrounds and targets)")
    p.add_argument("--out-split", help="split file written in OUT (default: --split, else bagcp)")
    p.add_argument("--library", type=Path, help="prebuilt target library .npz to paste from")
    p.add_argument("--save-library", type=Path, help="also save the library used (.npz)")
    p.add_argument(
        "--strategy",
        choices=list("bcdef"),
        default="f",
        help="paper Table III switches: b copy-paste, c +cluster, d +gaussian, "
        "e +cluster+gaussian, f BAG-CP (default)",
    )
    p.add_argument("--overwrite", action="store_true", help="allow a non-empty OUT folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.formats import densesirst

    problem = _check_args(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    ids = (
        densesirst.read_split(args.src, args.split) if args.split else densesirst.list_ids(args.src)
    )
    if not ids:
        print(f"error: {args.src} lists no images", file=sys.stderr)
        return EXIT_USAGE
    library = _library(args)
    if len(library) == 0:
        print(f"error: no usable labelled targets in {args.src}; pass --library", file=sys.stderr)
        return EXIT_USAGE
    if args.save_library:
        library.save(args.save_library)
    written, n_targets, skipped = _synthesise(args, ids, library)
    _report(args, written, n_targets, skipped, len(library))
    return EXIT_OK if len(written) == args.count else EXIT_PARTIAL


def _check_args(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line (before anything is read or written), or None."""
    if args.count < 1:
        return f"--count must be at least 1 (got {args.count})"
    if not args.src.is_dir():
        return f"{args.src} is not a folder; give a DenseSIRST root (holds PNGImages/)"
    if args.out.resolve() == args.src.resolve():
        return "OUT must differ from SRC (SRC is never modified)"
    if args.out.exists() and not args.out.is_dir():
        return f"{args.out} exists and is not a folder"
    if args.out.is_dir() and any(args.out.iterdir()) and not args.overwrite:
        return f"{args.out} is not empty; choose a new folder or pass --overwrite"
    return None


def _library(args: argparse.Namespace) -> TargetLibrary:
    from tqdm import tqdm

    from core.target_library import TargetLibrary

    if args.library:
        return TargetLibrary.load(args.library)
    with tqdm(desc="target library", unit="img", file=sys.stderr, disable=args.quiet) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        library = TargetLibrary.from_densesirst(args.src, args.split, progress)
    for line in library.skipped[:_MAX_SKIPS_SHOWN]:
        print(f"skipped for the library: {line}", file=sys.stderr)
    return library


def _synthesise(
    args: argparse.Namespace, ids: list[str], library: TargetLibrary
) -> tuple[list[str], int, list[str]]:
    """Write up to ``count`` images; returns (ids written, targets pasted, skip notes)."""
    import numpy as np
    from tqdm import tqdm

    from core.bagcp import BagcpConfig

    rng = np.random.default_rng(args.seed)
    cfg = BagcpConfig.strategy(args.strategy)
    written: list[str] = []
    skipped: list[str] = []
    dead: set[str] = set()  # unreadable, or no sky room: the same on every pass
    n_targets = 0
    split = args.out_split or args.split or "bagcp"
    bar = tqdm(
        total=args.count, desc="synthesising", unit="img", file=sys.stderr, disable=args.quiet
    )
    try:
        while len(written) < args.count:
            progress_made = False
            for image_id in map(str, rng.permutation(ids)):
                if len(written) == args.count:
                    break
                if image_id in dead:
                    continue
                out_id = f"{image_id}_bagcp{len(written)}"
                pasted = _one(args.src, args.out, image_id, out_id, library, cfg, rng, skipped)
                if not pasted:
                    dead.add(image_id)
                else:
                    written.append(out_id)
                    n_targets += pasted
                    progress_made = True
                    bar.update(1)
            if not progress_made:
                break  # a full pass over SRC placed nothing: more passes would not either
    finally:
        bar.close()
        if written:  # even when interrupted, what was written stays listed in a split
            from core.formats import densesirst

            densesirst.write_split(args.out, split, written)
    return written, n_targets, skipped


def _one(
    src: Path,
    out: Path,
    image_id: str,
    out_id: str,
    library: TargetLibrary,
    cfg: BagcpConfig,
    rng: np.random.Generator,
    skipped: list[str],
) -> int:
    """Synthesise and write one image; returns the number of targets pasted (0 = skipped)."""
    from core.bagcp import synthesize
    from core.domain import ImageAnnotation
    from core.errors import FormatError, ImageReadError
    from core.formats import densesirst
    from core.imageio import read_image

    try:
        sample = densesirst.read_sample(src, image_id)
        image = read_image(sample.image_path)
    except (FormatError, ImageReadError) as exc:
        skipped.append(f"{image_id}: {exc}")
        return 0
    ann = sample.annotation
    result = synthesize(image, ann.sky, ann.targets, library, cfg, rng)
    if not result.targets:
        skipped.append(f"{image_id}: {result.message or 'nothing pasted'}")
        return 0
    new = ImageAnnotation(ann.targets + result.targets, ann.sky, ann.target_mask_extra)
    densesirst.write_sample(out, out_id, result.image, new, sample.width, sample.height)
    return len(result.targets)


def _report(
    args: argparse.Namespace, written: list[str], n_targets: int, skipped: list[str], n_library: int
) -> None:
    split = args.out_split or args.split or "bagcp"
    print(
        f"wrote {len(written)} of {args.count} images ({n_targets} pasted targets, library of "
        f"{n_library} patches) to {args.out}; split {split}"
    )
    if skipped:
        print(f"{len(skipped)} background(s) skipped:", file=sys.stderr)
        for line in skipped[:_MAX_SKIPS_SHOWN]:
            print(f"    {line}", file=sys.stderr)
        if len(skipped) > _MAX_SKIPS_SHOWN:
            print(f"    ... and {len(skipped) - _MAX_SKIPS_SHOWN} more", file=sys.stderr)
    if len(written) < args.count:
        print(
            f"only {len(written)} of {args.count} images could be made: too few backgrounds "
            "with room in the sky",
            file=sys.stderr,
        )
