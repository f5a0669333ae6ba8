"""Team load: N annotator processes x M edits on one shared project, with random conflicts.

Each annotator (its own process, its own user name) repeatedly picks one of a few images (few,
so that they collide), reads its version, waits a little (the "thinking" that lets others slip
in), then commits one edit with that version: either +1 on the image's counter (its note) or a
new target tagged with a unique score. A conflict (EditConflict) is counted as reported and
the same intent is redone on fresh state, as a person would. At the end the store must hold
exactly what was committed: every counter equals its successful increments (no lost update),
the set of tags equals the set of successful additions (no lost or phantom insert), and each
image's edit log has versions 1..n without a gap. Prints commit latency p50 / p95.

    .venv/bin/python benchmarks/bench_team_load.py --server            # starts a PostgreSQL
    .venv/bin/python benchmarks/bench_team_load.py --url postgresql+psycopg://u@h:5432/db
    .venv/bin/python benchmarks/bench_team_load.py --sqlite /tmp/loadproj [--procs 8 --edits 300]
    ... --queued   each annotator saves through the GUI's save queue (app/save_queue.py, ADR 0022)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.domain import Target  # noqa: E402
from core.edits import AnnotationEdit, FieldChange, ImageField, TargetChange  # noqa: E402
from core.errors import EditConflict  # noqa: E402
from core.machine import MachineSettings  # noqa: E402
from core.store.new_image import NewImage  # noqa: E402
from core.store.project import Project  # noqa: E402

TAG_BASE = 1_000_000  # target score = annotator * TAG_BASE + edit index: unique per addition


@dataclass
class LoadResult:
    committed: int = 0
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # successful commits
    lost_increments: int = 0
    lost_targets: int = 0
    phantom_targets: int = 0
    log_gaps: int = 0
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.errors or self.lost_increments or self.lost_targets
                    or self.phantom_targets or self.log_gaps)  # fmt: skip

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(q) - 1]


def prepare(target: Path | str, n_images: int) -> list[int]:
    """A fresh project with ``n_images`` images whose counters (notes) are "0"."""
    header = SimpleNamespace(width=64, height=64, bit_depth=8, channels=1)
    with Project.create(target, machine=MachineSettings("lead")) as p:
        infos = p.add_images([NewImage(f"/share/load/{k}.png", name=f"img{k}", header=header,
                                       sha256=str(k)) for k in range(n_images)])  # fmt: skip
        for info in infos:
            p.apply_edit(AnnotationEdit(info.id, "Set note", fields=(
                FieldChange(ImageField.NOTE, info.note, "0"),)))  # fmt: skip
        return [i.id for i in infos]


def annotator(target, k: int, n_edits: int, ids: list[int], seed: int, start, out,
              queued: bool = False) -> None:  # fmt: skip
    """One process: ``n_edits`` committed edits; conflicts counted and the intent redone.
    ``queued``: through the window's save queue (its worker thread commits), not directly."""
    rng = random.Random(seed * 1000 + k)
    committed, conflicts, errors, lat = [], 0, [], []
    try:
        with Project.open(target, machine=MachineSettings(f"ann{k}")) as p:
            apply = _queued_apply(p) if queued else p.apply_edit
            start.wait()
            for j in range(n_edits):
                iid, increment = rng.choice(ids), rng.random() < 0.5
                while True:
                    info = p.get_image(iid)
                    time.sleep(rng.uniform(0, 0.004))  # others slip in here: conflicts
                    if increment:
                        after = str(int(info.note) + 1)
                        edit = AnnotationEdit(iid, "count", fields=(
                            FieldChange(ImageField.NOTE, info.note, after),))  # fmt: skip
                    else:
                        tag = float(k * TAG_BASE + j)
                        edit = AnnotationEdit(iid, "add", (TargetChange(None, Target(
                            point=(1.0, 2.0), score=tag)),))  # fmt: skip
                    t0 = time.perf_counter()
                    try:
                        apply(edit, expected_version=info.version)
                    except EditConflict:
                        conflicts += 1
                        continue
                    lat.append((time.perf_counter() - t0) * 1000)
                    committed.append((iid, "count" if increment else "add", j))
                    break
    except Exception as e:  # noqa: BLE001 - any other failure is a finding, reported to the parent
        errors.append(f"annotator {k}: {type(e).__name__}: {e}")
        start.abort()  # nobody waits at the barrier for an annotator that has failed
    out.put((k, committed, conflicts, errors, lat))


def _queued_apply(project):
    """``apply_edit`` through a SaveQueue: submit, wait for the worker's result, raise its error."""
    from PySide6.QtCore import QCoreApplication

    from app.save_queue import SaveQueue, WriteState

    QCoreApplication.instance() or QCoreApplication([])
    queue = SaveQueue(project)

    def apply(edit, expected_version=None):  # verified per object, as the window saves
        write = queue.submit(edit)
        write.done.wait()
        if write.state != WriteState.LANDED:
            raise write.error
        return write.resolved

    return apply


def run_load(target: Path | str, procs: int, edits: int, n_images: int = 4, seed: int = 0,
             queued: bool = False) -> LoadResult:  # fmt: skip
    ids = prepare(target, n_images)
    ctx = mp.get_context("spawn")  # no engine or connection inherited from the parent
    # A barrier, not a timed head start: every annotator has opened the store before any edits,
    # so on a busy machine one cannot finish its edits before the others start (no collisions).
    start, out = ctx.Barrier(procs + 1), ctx.Queue()
    workers = [ctx.Process(target=annotator, args=(target, k, edits, ids, seed, start, out, queued))
               for k in range(procs)]  # fmt: skip
    for w in workers:
        w.start()
    try:
        start.wait(timeout=600)
    except threading.BrokenBarrierError:
        pass  # an annotator failed: its error comes back through ``out``
    t0 = time.perf_counter()
    res, done = LoadResult(), []
    for _ in workers:
        done.append(out.get(timeout=1800))
    res.wall_s = time.perf_counter() - t0
    for w in workers:
        w.join(timeout=60)
    for _k, committed, conflicts, errors, lat in done:
        res.committed += len(committed)
        res.conflicts += conflicts
        res.errors += errors
        res.latencies_ms += lat
    _verify(target, ids, done, res)
    return res


def _verify(target, ids: list[int], done, res: LoadResult) -> None:
    increments = dict.fromkeys(ids, 0)
    tags: set[float] = set()
    for k, committed, *_ in done:
        for iid, kind, j in committed:
            if kind == "count":
                increments[iid] += 1
            else:
                tags.add(float(k * TAG_BASE + j))
    with Project.open(target, machine=MachineSettings("checker")) as p:
        stored_tags = set()
        for iid in ids:
            res.lost_increments += abs(int(p.get_image(iid).note) - increments[iid])
            stored_tags |= {float(t.score) for t in p.targets(iid)}
            versions = [v for v, *_ in p.history(iid)]
            res.log_gaps += versions != list(range(1, len(versions) + 1))
    res.lost_targets = len(tags - stored_tags)
    res.phantom_targets = len(stored_tags - tags)


def report(name: str, res: LoadResult, procs: int, edits: int) -> str:
    attempts = res.committed + res.conflicts
    return (f"{name}: {procs} procs x {edits} edits: committed {res.committed}/{procs * edits}, "
            f"conflicts reported {res.conflicts} ({100 * res.conflicts / max(attempts, 1):.1f}% of "
            f"{attempts} attempts), errors {len(res.errors)}, lost increments {res.lost_increments}, "
            f"lost targets {res.lost_targets}, phantom targets {res.phantom_targets}, log gaps "
            f"{res.log_gaps}; commit latency p50 {res.percentile(50):.1f} ms, p95 "
            f"{res.percentile(95):.1f} ms; {res.committed / res.wall_s:.0f} commits/s")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="an EMPTY PostgreSQL database")
    where.add_argument("--server", action="store_true", help="start a throw-away PostgreSQL")
    where.add_argument("--sqlite", type=Path, help="a new folder for an SQLite project")
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--edits", type=int, default=300)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--queued", action="store_true", help="save through app/save_queue.py")
    args = ap.parse_args()
    server = None
    if args.server:
        from tests.pgserver import start_server

        server = start_server()
        target = server.create_database()
    elif args.url:
        target = args.url
    else:
        target = args.sqlite
    try:
        res = run_load(target, args.procs, args.edits, args.images, queued=args.queued)
        name = "postgresql" if isinstance(target, str) else "sqlite"
        print(report(name + (" (save queue)" if args.queued else ""), res, args.procs, args.edits))
        for e in res.errors[:10]:
            print("  ", e)
        return 0 if res.ok else 1
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    tempfile.tempdir = tempfile.gettempdir()
    sys.exit(main())
