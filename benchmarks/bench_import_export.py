"""Import and export of DenseSIRST trainval (768 images), timed (goal: < 30 s each).

Imports SIRSTdevkit into a fresh temp project (reading and checking every file: labels, masks,
image CRCs), then exports the project in each format; prints seconds and images/s per step and
where the import time goes (reading files vs writing the database).

    .venv/bin/python benchmarks/bench_import_export.py [--root SIRSTdevkit] [--formats densesirst,coco]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import imageio  # noqa: E402
from core.formats import densesirst as ds  # noqa: E402
from core.services.exporter import FORMATS, export_project  # noqa: E402
from core.services.importer import import_densesirst  # noqa: E402
from core.store.project import Project  # noqa: E402

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared/datasets/DenseSIRST/SIRSTdevkit"
GOAL_S = 30.0


def _line(label: str, seconds: float, n: int) -> str:
    verdict = "ok" if seconds < GOAL_S else f"SLOWER than the {GOAL_S:.0f} s goal"
    return f"{label:<22} {seconds:7.2f} s  {n / max(seconds, 1e-9):7.1f} img/s  [{verdict}]"


def _read_only_time(root: Path, ids: list[str]) -> float:
    """The file-reading share of an import: parse labels + masks and check each image."""
    t0 = time.perf_counter()
    for i in ids:
        sample = ds.read_sample(root, i)
        imageio.probe_file(sample.image_path)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="SIRSTdevkit folder")
    parser.add_argument(
        "--formats", default=",".join(FORMATS), help="comma-separated export formats"
    )
    args = parser.parse_args()
    if not (args.root / ds.IMAGES).is_dir():
        print(f"DenseSIRST not found at {args.root}; pass --root", file=sys.stderr)
        return 2
    ids = ds.list_ids(args.root)
    work = Path(tempfile.mkdtemp(prefix="bench_import_export_"))
    try:
        with Project.create(work / "project") as project:
            t0 = time.perf_counter()
            report = import_densesirst(project, args.root)
            t_import = time.perf_counter() - t0
            n_targets = sum(i.n_targets for i in project.list_images())
            print(f"DenseSIRST {args.root}: {len(ids)} images, {n_targets} targets")
            print(
                _line("import", t_import, report.added)
                + f"  ({report.added} added, {report.skipped} skipped)"
            )
            t_read = _read_only_time(args.root, ids)
            print(
                f"{'  of which reading':<22} {t_read:7.2f} s  (the rest: project database writes)"
            )
            for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
                t0 = time.perf_counter()
                rep = export_project(project, work / f"out_{fmt}", fmt)
                print(_line(f"export {fmt}", time.perf_counter() - t0, rep.exported))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
