"""Shared fixtures: the DenseSIRST folder (skips when absent) and the demo project (built once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DENSESIRST_ROOT = Path(
    os.environ.get(
        "SIRST_DENSESIRST_ROOT",
        REPO.parent / "shared" / "datasets" / "DenseSIRST" / "SIRSTdevkit",
    )
)


@pytest.fixture(scope="session")
def densesirst_root() -> Path:
    """The SIRSTdevkit folder (trainval only); tests using it are skipped when it is absent."""
    if not (DENSESIRST_ROOT / "PNGImages").is_dir():
        pytest.skip(f"DenseSIRST not found at {DENSESIRST_ROOT} (set SIRST_DENSESIRST_ROOT)")
    return DENSESIRST_ROOT


@pytest.fixture(scope="session")
def demo_project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of the synthetic demo project, built once per session. Treat it as read-only:
    copy it (``shutil.copytree``) before changing it."""
    from core.demo import build_demo_project

    root = tmp_path_factory.mktemp("demo") / "project"
    build_demo_project(root)
    return root


@pytest.fixture
def demo_project(demo_project_dir: Path):
    """The demo project opened (read-only use, see ``demo_project_dir``); closed after the test."""
    from core.project import Project

    project = Project.open(demo_project_dir)
    yield project
    project.close()


@pytest.fixture(scope="session", autouse=True)
def _onnx_cache(tmp_path_factory: pytest.TempPathFactory):
    """The ONNX backend caches exported models: keep the tests' cache out of the user's home
    (one per session, so the shipped model is exported once)."""
    old = os.environ.get("SIRST_STUDIO_CACHE")
    os.environ["SIRST_STUDIO_CACHE"] = str(tmp_path_factory.mktemp("sirst-cache"))
    yield
    if old is None:
        os.environ.pop("SIRST_STUDIO_CACHE", None)
    else:
        os.environ["SIRST_STUDIO_CACHE"] = old
