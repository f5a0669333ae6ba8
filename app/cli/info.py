"""`main.py info PROJECT`: what a project holds (images per split and status, labels, models).

Imports only core (SQLAlchemy, numpy): no Qt, no torch, so it answers in well under a second.
"""

from __future__ import annotations

import argparse
import sys

from app.cli import EXIT_OK, EXIT_USAGE
from core.store.location import project_arg

_MAX_MISSING_SHOWN = 10
# Above this many images `info` answers from the database alone unless --check-files asks
# (one stat per image: seconds for a million files, minutes on a network share).
CHECK_FILES_UP_TO = 50_000


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "info",
        help="summarise a project (images per split/status, targets, sky, missing files, models)",
        description="Print a summary of a SIRST Studio project folder.",
    )
    p.add_argument("project", type=project_arg, help="project folder (holds project.sqlite) or "
                   "server URL postgresql+psycopg://user@host:port/db")  # fmt: skip
    files = p.add_mutually_exclusive_group()
    files.add_argument("--check-files", dest="check_files", action="store_true", default=None,
                       help="look for every image file (default: only up to "
                            f"{CHECK_FILES_UP_TO:,} images)")  # fmt: skip
    files.add_argument("--no-check-files", dest="check_files", action="store_false",
                       help="answer from the database alone")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.errors import ProjectError
    from core.store.project import Project

    try:
        project = Project.open(args.project, read_only=True)  # info never writes
    except ProjectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from core.machine import FILE_NAME, config_dir

    with project:
        stats = project.stats(check_files=False)
        check = args.check_files
        if check is None:
            check = stats.n_images <= CHECK_FILES_UP_TO
        missing = project.check_missing() if check else None  # one stat per image
        where = f"{project.db_path} (local files: {project.root})" if project.is_server else project.root
        print(f"Project {where}")
        print(_split_status_table(stats.images_by_split_status))
        print()
        print(f"Targets:          {stats.n_targets} accepted, {stats.n_proposals} proposals")
        print(f"Images with sky:  {stats.n_with_sky} of {stats.n_images}")
        if missing is None:
            print(f"Missing files:    not checked ({stats.n_images:,} images; "
                  "--check-files looks for every file)")  # fmt: skip
            missing = []
        else:
            print(f"Missing files:    {len(missing)}")
        for info in missing[:_MAX_MISSING_SHOWN]:
            print(f"    {info.name}: {project.resolve_path(info)}")
        if len(missing) > _MAX_MISSING_SHOWN:
            print(f"    ... and {len(missing) - _MAX_MISSING_SHOWN} more")
        for folder, infos in project.unmapped_images(missing).items():
            print(f"    {len(infos)} under {folder}: no path mapping covers it on this machine; "
                  f"add [stored prefix, local prefix] to path_map in {config_dir() / FILE_NAME}")  # fmt: skip
        print(_model_lines(stats.model_versions))
    return EXIT_OK


def _split_status_table(counts: dict[tuple[str, str], int]) -> str:
    """Images per split (rows) x review status (columns), with totals."""
    from core.domain import ReviewStatus, Split

    statuses = [s.value for s in ReviewStatus]
    statuses += sorted({st for _, st in counts} - set(statuses))  # newer versions' values too
    splits = [s.value for s in Split]
    splits += sorted({sp for sp, _ in counts} - set(splits))  # tolerate values from newer versions
    header = ["images", *statuses, "total"]
    rows = []
    for sp in splits:
        cells = [counts.get((sp, st), 0) for st in statuses]
        if sum(cells) or sp in (Split.TRAIN, Split.VAL):
            rows.append([sp, *cells, sum(cells)])
    col_totals = [sum(counts.get((sp, st), 0) for sp in splits) for st in statuses]
    rows.append(["total", *col_totals, sum(col_totals)])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _model_lines(versions: list) -> str:
    if not versions:
        return "Model versions:   none (the shipped default model is used)"
    lines = [f"Model versions:   {len(versions)} (* = active)"]
    for mv in versions:
        mark = "*" if mv.active else " "
        metrics = ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in mv.metrics.items()
        )
        lines.append(
            f"  {mark} #{mv.id} {mv.name}  [{mv.preset}]  {mv.created}  {metrics}".rstrip()
        )
    return "\n".join(lines)
