"""`main.py train`: which training images are the newly corrected ones, and the recipe that learns
them without forgetting the rest (ADR 0034, model/replay.py).

The newly corrected images get ``--new-share`` of every batch, in the detector's crops and in the
sky stage's frames; the project's other reviewed images fill the rest (replay). Which images are
new: ``--new-split NAME`` (a DenseSIRST split file, or a project split) names them; with
``--from-active`` on a project, the images reviewed after the active model version was made are
(the shipped default: the images a person reviewed in the app, not those imported reviewed).
``--l2sp`` / ``--sky-l2sp`` add a pull toward the parent's weights; ``--sky-lr`` sets the sky
stage's learning rate.
"""

from __future__ import annotations

import argparse
import math

from model.replay import DEFAULT_NEW_SHARE, NEW_SINCE_EVER

# the recipe of a fine-tune from the active model (the Training dock's and --from-active's defaults)
DEFAULT_L2SP = 0.0
DEFAULT_SKY_L2SP = 0.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--new-split", metavar="NAME",
                   help="the training images listed in this split are the newly corrected ones: they get "
                        "--new-share of every batch, the other training images the rest (default with "
                        "--from-active on a project: the images reviewed after the active model was made)")
    p.add_argument("--new-since", metavar="TIME",
                   help="with --project: the images reviewed in the app after TIME (ISO 8601, e.g. the parent model "
                        f"version's creation; '{NEW_SINCE_EVER}': any time) are the newly corrected ones (default with "
                        "--from-active: after the active version was made, any time when the shipped model is active)")
    p.add_argument("--new-share", type=float, default=None, metavar="F",
                   help=f"share (0-1) of every batch, crops and sky frames, drawn from the newly corrected images "
                        f"(default {DEFAULT_NEW_SHARE:g} when there are new and other images; 0: no oversampling)")
    p.add_argument("--l2sp", type=float, default=None, metavar="LAMBDA",
                   help="fine-tune: add LAMBDA * sum((w - w_parent)^2) over the detector's weights to its loss "
                        f"(a pull toward the starting weights; default {DEFAULT_L2SP:g})")
    p.add_argument("--sky-l2sp", type=float, default=None, metavar="LAMBDA",
                   help=f"the same pull on the sky stage's sky network (default {DEFAULT_SKY_L2SP:g})")
    p.add_argument("--keep-bn-stats", action=argparse.BooleanOptionalAction, default=None,
                   help="fine-tune: BatchNorm layers (detector and sky network) normalise with the parent's running "
                        "statistics and do not update them (default: on with --from-active, --new-split or "
                        "--new-since)")
    p.add_argument("--sky-keep-bn-stats", action=argparse.BooleanOptionalAction, default=None,
                   help="the same for the sky stage alone (default: as --keep-bn-stats)")
    p.add_argument("--sky-lr", type=float, default=None, help="the sky stage's learning rate (default 3e-4)")


def problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the replay options, or None (resolves their defaults)."""
    if args.new_split and args.new_since:
        return "use either --new-split or --new-since, not both"
    if args.new_since and args.project is None:
        return "--new-since needs --project (when the project's images were reviewed)"
    if args.new_since and args.new_since != NEW_SINCE_EVER:
        from datetime import datetime

        try:
            datetime.fromisoformat(args.new_since)
        except ValueError:
            return f"--new-since {args.new_since!r}: give an ISO 8601 time (2026-12-07T05:00:00+00:00) or '{NEW_SINCE_EVER}'"
    marked = bool(args.new_split or args.new_since or getattr(args, "from_active", False))
    if args.new_share is None:
        args.new_share = DEFAULT_NEW_SHARE if marked else 0.0
    args.l2sp = DEFAULT_L2SP if args.l2sp is None else args.l2sp
    if args.keep_bn_stats is None:  # the recipe of a fine-tune that marks its new images (MODEL.md, D)
        args.keep_bn_stats = marked
    if getattr(args, "sky_keep_bn_stats", None) is None:
        args.sky_keep_bn_stats = args.keep_bn_stats
    args.sky_l2sp = DEFAULT_SKY_L2SP if args.sky_l2sp is None else args.sky_l2sp
    for name, value, hi in (("--new-share", args.new_share, 1.0), ("--l2sp", args.l2sp, 1e6),
                            ("--sky-l2sp", args.sky_l2sp, 1e6)):
        if not (math.isfinite(value) and 0.0 <= value <= hi):
            return f"{name} {value} must be in 0 .. {hi:g}"
    if args.sky_lr is not None and not (math.isfinite(args.sky_lr) and 0.0 < args.sky_lr <= 10.0):
        return f"--sky-lr {args.sky_lr} must be in (0, 10]"
    if (args.l2sp > 0 or args.sky_l2sp > 0) and args.init_weights is None and not args.resume:
        return "--l2sp / --sky-l2sp pull toward the starting weights: give --from-active or --init-weights"
    return None


def new_names(args: argparse.Namespace) -> set[str]:
    """The names of the newly corrected training images (an empty set: none marked)."""
    if args.new_split:
        if args.data is not None:
            from core.formats.densesirst import read_split

            return set(read_split(args.data, args.new_split))
        from core.domain import Split
        from core.store.project import Project

        with Project.open(args.project) as project:
            return {info.name for info in project.list_images(split=Split(args.new_split))}
    if args.project is None or not (args.new_since or getattr(args, "from_active", False)):
        return set()
    from core.services.training_data import reviewed_since

    since = args.new_since
    if not since:  # --from-active: what was reviewed since the active version was made is new; with
        # the shipped default, what a person reviewed in the app
        from core.store.project import Project

        with Project.open(args.project) as project:
            active = project.active_model()
        since = active.created if active is not None else NEW_SINCE_EVER
    return set(reviewed_since(args.project, None if since == NEW_SINCE_EVER else since))


def new_indices(args: argparse.Namespace, names: list[str]) -> tuple[int, ...]:
    """Indices into the training images (by name) of the newly corrected ones (none when every one is)."""
    wanted = new_names(args)
    new = tuple(i for i, n in enumerate(names) if n in wanted)
    return new if len(new) < len(names) else ()  # all new: nothing to oversample them against
