"""SIGKILL the import CLI mid-way: the project still opens, every image in it has all its labels,
and running the import again completes it."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.formats import densesirst as ds
from core.store.project import Project

REPO = Path(__file__).resolve().parents[2]
N_IMAGES = 100

pytestmark = pytest.mark.slow


def _source(tmp_path: Path) -> Path:
    """~100 DenseSIRST images: real ones when the dataset is here, else synthetic demo frames."""
    from tests.conftest import DENSESIRST_ROOT

    out = tmp_path / "src"
    if (DENSESIRST_ROOT / ds.IMAGES).is_dir():
        for i in ds.list_ids(DENSESIRST_ROOT)[:N_IMAGES]:
            for rel in (f"{ds.IMAGES}/{i}.png", f"{ds.BBOX}/{i}.xml", f"{ds.POINTS}/{i}_pixels0.txt",
                        f"{ds.TARGET_BIN}/{i}_pixels0.png", f"{ds.SKY_BIN}/{i}_pixels0.png"):  # fmt: skip
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(DENSESIRST_ROOT / rel, out / rel)
    else:
        from core.services.demo import HEIGHT, WIDTH, render

        for k in range(N_IMAGES):
            pixels, ann = render(k + 1, seed=7)
            ds.write_sample(out, f"frame-{k:03d}", pixels, ann, WIDTH, HEIGHT)
    return out


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05) as conn:
            return int(conn.execute("SELECT count(*) FROM images").fetchone()[0])
    except sqlite3.Error:
        return 0  # not created yet, or locked by the writer this instant


def _start_import(src: Path, project: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(REPO / "main.py"), "import", str(src), str(project)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO,
    )  # fmt: skip


def _check_complete(project_dir: Path, src: Path) -> int:
    """Every image present has all its targets and its sky; returns how many are present."""
    with Project.open(project_dir) as project:
        infos = project.list_images()
        for info in infos:
            truth = ds.read_sample(src, info.name).annotation
            assert info.n_targets == len(truth.targets), info.name
            assert project.sky_mask(info.id) is not None, info.name
        return len(infos)


def test_kill_mid_import_then_resume(tmp_path: Path) -> None:
    src = _source(tmp_path)
    project_dir = tmp_path / "project"
    proc = _start_import(src, project_dir)
    deadline = time.monotonic() + 120
    try:
        while _count(project_dir / "project.sqlite") == 0:
            assert proc.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline, "no image was imported within 120 s"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    present = _check_complete(project_dir, src)
    assert 0 < present < N_IMAGES
    resumed = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "import", str(src), str(project_dir)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"{N_IMAGES - present} added, {present} already in the project" in resumed.stdout
    assert _check_complete(project_dir, src) == N_IMAGES
