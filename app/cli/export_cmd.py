"""`main.py export PROJECT OUT --format densesirst|coco|voc|yolo [--split NAME]`.

Writes the project's accepted labels (proposals are not labels). The project is opened
read-only (an export never changes it, and works on a read-only folder or mount). Exit codes:
0 done, 1 some images skipped (missing, unreadable or changed files, listed on stderr) or the
export is incomplete, 2 unusable project or output (nothing written), 3 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli import EXIT_OK, EXIT_PARTIAL
from core.store.location import project_arg

FORMATS = ("densesirst", "coco", "voc", "yolo")
SPLITS = ("train", "val", "test", "unassigned")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a project's accepted labels as DenseSIRST, COCO, VOC or YOLO",
        description="Export images (copied byte for byte) and accepted labels into OUT.",
    )
    p.add_argument("project", type=project_arg, help="project folder (holds project.sqlite) or "
                   "server URL postgresql+psycopg://user@host:port/db")  # fmt: skip
    p.add_argument(
        "out", type=Path, help="output folder (created when missing; files in it are overwritten)"
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="densesirst",
        help="output format (default: densesirst)",
    )
    p.add_argument("--split", choices=SPLITS, help="export only this split (default: every image)")
    p.add_argument(
        "--reviewed-only", action="store_true", help="export only images with status reviewed"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.cli.import_cmd import _Bar, shown
    from core.services.exporter import export_project
    from core.store.project import Project

    with Project.open(args.project, read_only=True) as project, _Bar(f"export {args.format}") as bar:
        report = export_project(project, args.out, args.format, split=args.split, progress=bar,
                                reviewed_only=args.reviewed_only)  # fmt: skip
    print(
        f"{report.exported} images, {report.targets} targets exported as {args.format} -> {args.out}"
    )
    if report.skipped_targets:
        print(f"{report.skipped_targets} point-only targets left out ({args.format} needs boxes)")
    for name, message in report.errors:
        print(f"skipped {shown(name)}: {message}", file=sys.stderr)
    return EXIT_PARTIAL if report.errors else EXIT_OK
