"""The big round trip through a PostgreSQL server with the CLI: `main.py import SIRSTdevkit URL`,
then `main.py export URL OUT` reproduces all 768 images exactly (mirrors the SQLite e2e test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.formats import densesirst as ds
from tests.e2e.test_import_export_densesirst import (
    assert_same_boxes_points_image,
    assert_same_masks,
)

pytestmark = [pytest.mark.dataset, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def _main(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "main.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=1200)  # fmt: skip


def test_import_export_through_the_server_is_exact(densesirst_root: Path, pg_url, tmp_path: Path):
    r = _main("import", str(densesirst_root), pg_url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "768 added" in r.stdout
    engine = sa.create_engine(pg_url)  # the rows are in the server
    with engine.connect() as conn:
        n_images = conn.exec_driver_sql("SELECT count(*) FROM images").scalar()
        n_targets = conn.exec_driver_sql("SELECT count(*) FROM targets").scalar()
    engine.dispose()
    assert n_images == 768 and n_targets > 768
    out = tmp_path / "out"
    r = _main("export", pg_url, str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("768 images")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no folder named after the URL
    for image_id in ds.list_ids(densesirst_root):
        assert_same_boxes_points_image(out, densesirst_root, image_id)
        assert_same_masks(out, densesirst_root, image_id)
    assert ds.list_splits(out) == ds.list_splits(densesirst_root)
    for name in ds.list_splits(densesirst_root):
        assert set(ds.read_split(out, name)) == set(ds.read_split(densesirst_root, name)), name
