"""A million images feel like a thousand (issue 22): the image list, `info` and import at scale.

Builds 1k / 100k / 1M image projects (benchmarks/scale_projects.py, through Project.add_images;
kept in --dir for later runs) on SQLite and, with --pg, on a throw-away PostgreSQL server started
as tests/pgserver.py does. For each it times, on the real list widget (offscreen Qt):
  info                 `main.py info PROJECT` in a fresh interpreter (database answers; files
                       are checked up to 50k images)
  open -> list shown   Project.open until the model's first rows are readable
  keystroke            GUI-thread time of typing one character in the search box (the handler,
                       then swapping in the filtered result and painting it), and the wall time
                       until the filtered list is shown
  status / split       the same for the status and split combo boxes
  scroll to end        GUI-thread time of scrollToBottom + paint (reads the last page)
  RSS                  resident memory of the process after the list is shown
and, side by side, the old path (list_images(check_files=True) + a Python filter) up to --old-max
images. --import also times the DenseSIRST trainval_v2 import (768 images).
Bars: 1M listed < 1 s after open, keystroke < 100 ms GUI thread, info < 2 s, import < 10 s.

    nice -n 10 .venv/bin/python benchmarks/bench_scale.py [--sizes 1000 100000 1000000] [--pg]
        [--pg-sizes 1000 100000] [--dir /tmp/sirst-scale] [--old-max 100000] [--import]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import scale_projects  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.application import create_application  # noqa: E402
from app.image_list_model import ImageListModel  # noqa: E402
from core.domain import ReviewStatus, Split  # noqa: E402
from core.store.project import Project  # noqa: E402
from widgets.image_list import SEARCH_DEBOUNCE_MS, ImageListWidget  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class GuiClock:
    """Time spent on the GUI thread in the list's handlers (wrapped) plus explicit slices."""

    def __init__(self, model: ImageListModel) -> None:
        self.slices: list[float] = []
        swap = model._swap

        def timed_swap(result) -> None:
            t0 = time.perf_counter()
            swap(result)
            self.slices.append(time.perf_counter() - t0)

        model._runner.result_ready.disconnect(model._swap)
        model._swap = timed_swap
        model._runner.result_ready.connect(timed_swap)

    def run(self, fn) -> None:
        t0 = time.perf_counter()
        fn()
        self.slices.append(time.perf_counter() - t0)


def wait_until(cond, timeout: float = 120.0) -> None:
    end = time.perf_counter() + timeout
    while not cond():
        QApplication.processEvents()
        if time.perf_counter() > end:
            raise TimeoutError("the list did not answer in time")
        time.sleep(0.001)


def interaction(widget: ImageListWidget, model: ImageListModel, clock: GuiClock, act) -> tuple[float, float, float]:
    """(GUI-thread ms, longest GUI slice ms, wall ms) of one filter change until painted."""
    clock.slices.clear()
    before = model._generation
    t0 = time.perf_counter()
    clock.run(act)
    wait_until(lambda: model._generation > before and not model.pending())
    clock.run(widget.view.viewport().repaint)
    wall = time.perf_counter() - t0
    return sum(clock.slices) * 1e3, max(clock.slices) * 1e3, wall * 1e3


def bench_list(target, n: int) -> dict[str, str]:
    out: dict[str, str] = {}
    rss0 = rss_mb()
    widget = ImageListWidget()
    widget.resize(320, 800)
    widget.show()
    model = ImageListModel()
    widget.set_source_model(model)
    clock = GuiClock(model)
    t0 = time.perf_counter()
    project = Project.open(target)
    model.set_project(project)
    wait_until(lambda: model.rowCount() > 0 and model.data(model.index(0)) is not None)
    widget.view.viewport().repaint()
    out["open -> list shown (top rows)"] = f"{(time.perf_counter() - t0) * 1e3:8.0f} ms  (rows {model.rowCount():,})"
    wait_until(lambda: not model.pending())
    widget.view.viewport().repaint()
    out["open -> every row's id read"] = f"{(time.perf_counter() - t0) * 1e3:8.0f} ms"
    out["RSS after open"] = f"{rss_mb():8.0f} MB  (+{rss_mb() - rss0:.0f} MB)"

    def typed(text: str):
        def act() -> None:
            widget.search.setText(text)  # textChanged -> debounce timer (the keystroke handler)
        return act

    # one keystroke: the handler, then (after the debounce) the query off-thread, the swap
    gui, worst, wall = interaction(widget, model, clock, typed("Enhance-12"))
    out["keystroke (search)"] = (f"{gui:8.1f} ms GUI thread (longest {worst:.1f}), "
                                 f"{wall - SEARCH_DEBOUNCE_MS:.0f} ms to shown after the "
                                 f"{SEARCH_DEBOUNCE_MS} ms debounce, {model.rowCount():,} rows")  # fmt: skip
    gui, worst, wall = interaction(widget, model, clock, typed(""))
    gui, worst, wall = interaction(widget, model, clock, lambda: widget.status_filter.setCurrentIndex(
        widget.status_filter.findData(ReviewStatus.REVIEWED.value)))  # fmt: skip
    out["status filter"] = f"{gui:8.1f} ms GUI thread (longest {worst:.1f}), {wall:.0f} ms to shown, {model.rowCount():,} rows"
    gui, worst, wall = interaction(widget, model, clock, lambda: widget.split_filter.setCurrentIndex(
        widget.split_filter.findData(Split.VAL.value)))  # fmt: skip
    out["+ split filter"] = f"{gui:8.1f} ms GUI thread (longest {worst:.1f}), {wall:.0f} ms to shown, {model.rowCount():,} rows"
    interaction(widget, model, clock, lambda: widget.set_filters())
    t0 = time.perf_counter()
    widget.view.scrollToBottom()
    widget.view.viewport().repaint()
    out["scroll to the end"] = f"{(time.perf_counter() - t0) * 1e3:8.1f} ms GUI thread"
    out["RSS at the end"] = f"{rss_mb():8.0f} MB"
    model.close()
    project.close()
    widget.close()
    return out


def bench_old(target) -> dict[str, str]:
    """The path before issue 22: every row as ImageInfo with a stat, a Python filter per key."""
    out = {}
    t0 = time.perf_counter()
    with Project.open(target) as project:
        infos = project.list_images(check_files=True)
    out["OLD open: list_images(check_files)"] = f"{(time.perf_counter() - t0) * 1e3:8.0f} ms"
    t0 = time.perf_counter()
    hits = [i for i in infos if "enhance-12" in i.name.lower()]
    out["OLD keystroke: Python filter alone"] = f"{(time.perf_counter() - t0) * 1e3:8.1f} ms ({len(hits):,} rows)"
    return out


def bench_info(target, repo: Path = REPO) -> str:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, str(repo / "main.py"), "info", str(target)],
                       capture_output=True, text=True, cwd=repo)  # fmt: skip
    took = time.perf_counter() - t0
    missing = next((ln.strip() for ln in r.stdout.splitlines() if ln.startswith("Missing")), "?")
    return f"{took * 1e3:8.0f} ms  (exit {r.returncode}; {missing})"


def v5_copy(root: Path) -> Path:
    """A copy of the project as schema v5 wrote it (for the code before issue 22)."""
    import shutil
    import sqlite3

    from core.store.db import SORT_INDEXES

    out = root.with_name(root.name + "_v5")
    if not (out / "project.sqlite").exists():
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "project.sqlite", out / "project.tmp")
        con = sqlite3.connect(out / "project.tmp")
        for name in SORT_INDEXES:
            con.execute(f"DROP INDEX IF EXISTS {name}")
        con.execute("ALTER TABLE images DROP COLUMN sort_key")
        con.execute("PRAGMA user_version=5")
        con.commit()
        con.close()
        os.replace(out / "project.tmp", out / "project.sqlite")
    return out


def bench_import() -> str:
    import tempfile

    from core.services.importer import import_densesirst

    src = Path(os.environ.get("DENSESIRST", "/work/shared/datasets/DenseSIRST/SIRSTdevkit"))
    with tempfile.TemporaryDirectory() as d, Project.create(Path(d) / "p") as project:
        t0 = time.perf_counter()
        report = import_densesirst(project, src, split="trainval_v2")
        return f"{time.perf_counter() - t0:8.1f} s   ({report.added} added, {len(report.errors)} errors)"


def run(label: str, target, n: int, old_max: int, old_repo: Path | None) -> None:
    print(f"\n== {label}: {n:,} images", flush=True)
    rows = {"info": bench_info(target)}
    if old_repo is not None and n <= old_max and isinstance(target, Path):
        # the code before issue 22 reads only schema <= 5: give it a copy at v5 (not timed)
        rows["OLD info (--old-repo, v5 copy)"] = bench_info(v5_copy(target), old_repo)
    rows.update(bench_list(target, n))
    if n <= old_max:
        rows.update(bench_old(target))
    for k, v in rows.items():
        print(f"  {k:36s} {v}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    ap.add_argument("--pg", action="store_true", help="also on a PostgreSQL server")
    ap.add_argument("--pg-sizes", type=int, nargs="+", default=[1000, 100_000])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/sirst-scale"))
    ap.add_argument("--old-max", type=int, default=100_000, help="old path up to this size")
    ap.add_argument("--import", dest="do_import", action="store_true")
    ap.add_argument("--old-repo", type=Path, help="a checkout before issue 22 (e.g. /work/main): "
                    "its `info` is timed side by side")
    args = ap.parse_args()
    print(f"uptime: {os.popen('uptime').read().strip()}")
    create_application(exception_hook=False)  # the app's GC rule: list queries run on threads
    frame = scale_projects.frame_file(args.dir)
    for n in args.sizes:
        root = args.dir / f"p{n}"
        t = scale_projects.build(root, n, frame)
        print(f"(built / completed {root} in {t:.0f} s)")
        run("SQLite", root, n, args.old_max, args.old_repo)
    if args.pg:
        sys.path.insert(0, str(REPO / "tests"))
        from pgserver import start_server

        server = start_server()
        try:
            for n in args.pg_sizes:
                url = server.create_database()
                t = scale_projects.build(url, n, frame)
                print(f"(built {n:,} on the server in {t:.0f} s)")
                run("PostgreSQL", url, n, args.old_max, None)
        finally:
            server.stop()
    if args.do_import:
        print(f"\nDenseSIRST trainval_v2 import: {bench_import()}")
    print(f"uptime: {os.popen('uptime').read().strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
