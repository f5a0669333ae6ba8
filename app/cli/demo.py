"""`main.py demo PROJECT`: build the synthetic demo project (12 infrared frames, labelled, with
sky masks and splits) in PROJECT, then print how to open it. Re-running completes a partial one."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli import EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="create the synthetic demo project in a folder",
        description="Create a small synthetic infrared project (seeded, so always the same).",
    )
    p.add_argument("project", type=Path, help="new or empty folder for the demo project")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.services.demo import create_demo

    with create_demo(args.project) as project:
        infos = project.list_images()
        n_targets = sum(i.n_targets for i in infos)
    print(f"Demo project: {len(infos)} images, {n_targets} targets in {args.project}")
    print(f"Open it with:  python main.py gui {args.project}")
    return EXIT_OK
