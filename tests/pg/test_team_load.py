"""The team load test, small enough for CI (benchmarks/bench_team_load.py runs the full 8 x 300):
several annotator processes on one store, random conflicts, nothing lost, every conflict reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.bench_team_load import run_load


def _check(res, procs: int, edits: int) -> None:
    assert res.errors == []
    assert res.committed == procs * edits  # every intent landed, after its conflicts were redone
    assert res.conflicts > 0  # 4 images for 4 writers: they do collide
    assert (res.lost_increments, res.lost_targets, res.phantom_targets, res.log_gaps) == (0, 0, 0, 0)


@pytest.mark.slow
def test_annotator_processes_on_postgresql_lose_nothing(pg_url) -> None:
    _check(run_load(pg_url, procs=4, edits=50), 4, 50)


@pytest.mark.slow
def test_annotator_processes_on_sqlite_wal_lose_nothing(tmp_path: Path) -> None:
    _check(run_load(tmp_path / "proj", procs=3, edits=40), 3, 40)
