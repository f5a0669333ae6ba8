"""Shared fixtures: the DenseSIRST folder (skips when absent) and the demo project (built once);
the settings that let `make test` run the suite in pytest-xdist workers (ADR 0037)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# tiny random-init nets and a minimal DenseSIRST folder for the backend tests
pytest_plugins = ["tests._support.tiny_models"]
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))  # set by pytest-xdist in a worker
if WORKERS > 1:
    # The workers share the cores: one intra-op thread each (torch reads it when it starts its
    # pool; the commands the tests start inherit it). A test that wants more sets it itself.
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = "1"
# Tests read the database right after a GUI edit, as write-through allowed: a long save grace
# (ADR 0022) keeps a save that a loaded machine slows past 0.1 s confirmed before the edit call
# returns, here and in the apps the tests start (they inherit it). Save-queue tests set their own.
os.environ.setdefault("SIRST_STUDIO_SAVE_GRACE_S", "5")
DENSESIRST_ROOT = Path(
    os.environ.get(
        "SIRST_DENSESIRST_ROOT",
        REPO.parent / "shared" / "datasets" / "DenseSIRST" / "SIRSTdevkit",
    )
)


@pytest.fixture(scope="session", autouse=True)
def _isolated_machine_dirs(tmp_path_factory: pytest.TempPathFactory):
    """Server projects' local files and the machine settings (core/store/location.py, core/machine.py)
    go to temp dirs, never to the developer's ~/.cache or ~/.config (subprocesses inherit it)."""
    base = tmp_path_factory.mktemp("machine")
    saved = {k: os.environ.get(k) for k in ("SIRST_CACHE_DIR", "SIRST_CONFIG_DIR")}
    os.environ["SIRST_CACHE_DIR"] = str(base / "cache")
    os.environ["SIRST_CONFIG_DIR"] = str(base / "config")
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


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
    from core.services.demo import build_demo_project

    root = tmp_path_factory.mktemp("demo") / "project"
    build_demo_project(root)
    return root


@pytest.fixture
def demo_project(demo_project_dir: Path):
    """The demo project opened (read-only use, see ``demo_project_dir``); closed after the test."""
    from core.store.project import Project

    project = Project.open(demo_project_dir)
    yield project
    project.close()


def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder shared by this run's processes: the xdist workers' common temp root (each
    worker's basetemp is ``<root>/popen-gwN``), else this session's own temp root."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session", autouse=True)
def _onnx_cache(tmp_path_factory: pytest.TempPathFactory):
    """The ONNX backend caches exported models: keep the tests' cache out of the user's home.
    One per run, shared by the workers (writes are atomic, an export is locked: model/onnx_export.py),
    so the shipped model is exported once per run, by this run's code."""
    old = os.environ.get("SIRST_STUDIO_CACHE")
    cache = run_dir(tmp_path_factory) / "sirst-cache"
    cache.mkdir(exist_ok=True)
    os.environ["SIRST_STUDIO_CACHE"] = str(cache)
    yield
    if old is None:
        os.environ.pop("SIRST_STUDIO_CACHE", None)
    else:
        os.environ["SIRST_STUDIO_CACHE"] = old


# ---------------------------------------------------------------------------------------------
# PostgreSQL (team projects): a real server started once per session, a fresh database per test.
# Without the binaries the PG tests are skipped locally; CI sets SIRST_REQUIRE_PG=1 (.ci/run
# installs Debian's postgresql) so that there a missing server is a failure, not a skip.


@pytest.fixture(scope="session")
def pg_server():
    from tests import pgserver

    if pgserver.find_bin_dir() is None:
        if os.environ.get("SIRST_REQUIRE_PG") == "1":
            pytest.fail("PostgreSQL binaries not found but SIRST_REQUIRE_PG=1 (CI)")
        pytest.skip("PostgreSQL not installed (apt-get install postgresql)")
    server = pgserver.start_server()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """SQLAlchemy URL of a fresh, empty database on the session's server."""
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def project_target(request, tmp_path: Path):
    """Where a project lives, on both back-ends: a folder (SQLite) or a server URL (PostgreSQL)."""
    if request.param == "sqlite":
        return tmp_path / "proj"
    return request.getfixturevalue("pg_url")


# ---------------------------------------------------------------------------------------------
# `pytest -m "not slow"` is the developers' inner loop (README "Tests"); `make test` runs all.
# Besides the tests marked in their files, these take more than ~5 s each by what they start: the
# real app under Xvfb, fresh interpreters that import torch (train, train-sky, predict), or the
# shipped model's full-size networks.
SLOW_DIRS = ("screen",)
SLOW_FILES = (
    "e2e/test_bad_input_models.py",
    "e2e/test_one_prediction_path.py",
    "e2e/test_pd_centre_effort.py",
    "e2e/test_train_predict.py",
    "e2e/test_train_sky.py",
)
SLOW_TESTS = (
    "e2e/test_train_nodes_flags.py::test_a_machine_whose_arguments_are_refused_stops_node_0_too",
    "unit/test_inference_backends.py::test_shipped_model_final_detections_agree",
    "unit/test_int8.py::test_shipped_int8_model_agrees_with_torch",
    "unit/test_sky_int8.py::test_shipped_int8_sky_agrees_with_fp32_and_passed_its_gate",
    # a stalled peer holds a row lock for the server's timeouts (8.8 and 10.3 s in the full run)
    "gui/test_save_off_gui_thread.py::test_discarding_a_save_the_stalled_peer_blocks",
    "pg/test_team_stall.py::test_a_frozen_peer_holding_a_lock_fails_the_edit_clearly_then_it_succeeds",
)


# Under pytest-xdist (`make test`: `-n 2 --dist loadgroup`) the tests of one group run in one
# worker, one after the other: the screen layer (one Xvfb; apps that grab the screen and time
# their waits should not share the cores with another app). The groups are given to xdist's
# scheduler by path (below): pytest 9.2 keeps node ids where xdist's `xdist_group` mark cannot
# append its `@group` suffix, so the mark alone would be ignored.
XDIST_GROUPS = {"screen": "screen"}


def pytest_collection_modifyitems(config, items) -> None:
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        path = item.path.resolve()
        if not path.is_relative_to(tests_dir):
            continue
        rel = path.relative_to(tests_dir).as_posix()
        name = f"{rel}::{item.originalname}"
        if rel.split("/")[0] in SLOW_DIRS or rel in SLOW_FILES or name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown (and unused) without it
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` with the groups of ``XDIST_GROUPS`` (a test id under ``tests/<dir>/``
    belongs to its dir's group); other tests go one by one to whichever worker is free."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    prefixes = {f"tests/{d}/": g for d, g in XDIST_GROUPS.items()}

    class PathGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            for prefix, group in prefixes.items():
                if nodeid.startswith(prefix):
                    return f"group:{group}"
            return super()._split_scope(nodeid)

    return PathGroups(config, log)
