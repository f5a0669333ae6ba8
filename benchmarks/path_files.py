"""How many of the project's source files an image visit and a target edit run through (the
figures of docs/architecture.md, "The path of a visit and of an edit").

Opens the full window (every panel, default layout) on a fresh demo project, offscreen, and
records with a profile hook which project files (app/, core/, widgets/, model/) have a function
called while ``goto_image`` runs (a visit of an image not prefetched) and while one target is
added through ``window.apply_edit`` (undo stack, document, rows service, every subscribed view).
The hook covers the GUI thread and threads started during the call; threads already running
(the prefetch pool, the save queue's writer, thumbnails) are not traced, so the label read and
the database write are not in the lists (docs/architecture.md says where they run). Files whose
code only ran at import are not counted; neither are Qt's own paints after the call returns, nor
work queued for the event loop (ADR 0038).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/path_files.py [--list]

``--root DIR`` measures another checkout of the project (e.g. main, to compare): it only uses
the window's long-standing API (``goto_image``, ``apply_edit``, ``document.add_target_edit``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "core", "widgets", "model")


def record(fn, root: Path) -> set[str]:
    """Project files of ``root`` with a function called (on any thread) while ``fn()`` runs."""
    seen: set[str] = set()
    prefixes = tuple(str(root / p) + os.sep for p in PACKAGES)

    def hook(frame, event, _arg):
        if event == "call":
            name = frame.f_code.co_filename
            if name.startswith(prefixes):
                seen.add(str(Path(name).relative_to(root)))
        return None

    threading.setprofile(hook)
    sys.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the files, not only counts")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout to measure")
    args = parser.parse_args()
    root = args.root.resolve()
    sys.path.insert(0, str(root))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["SIRST_STUDIO_WARM_MODEL"] = "0"  # no model load in the background
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings
    from core.domain import Target
    from core.services.demo import build_demo_project

    app = create_application(exception_hook=False)
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        build_demo_project(demo)
        window = MainWindow(AppSettings())
        window.show()
        window.open_project(demo)
        app.processEvents()
        target = window.list_model.ids()[4]  # not a neighbour of the first image: not prefetched
        window.prefetcher.forget(target)
        visit = record(lambda: window.goto_image(target), root)
        app.processEvents()
        edit = window.document.add_target_edit(Target(point=(5.5, 5.5), box=(4, 4, 7, 7)))
        change = record(lambda: window.apply_edit(edit), root)
        for name, files in (("image visit", visit), ("target edit", change)):
            print(f"{name}: {len(files)} files")
            if args.list:
                for f in sorted(files):
                    print(f"    {f}")
        window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
