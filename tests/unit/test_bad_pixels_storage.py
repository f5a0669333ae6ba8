"""The sensor pixels a pre-annotation repaired are stored with the image, in the same undoable
edit as its proposals, on both back-ends; the v4 -> v5 migration adds their column.

Truth: the defect positions injected into a synthetic 16-bit frame (core.badpixels.inject_bad_pixels),
and the database rows read with plain SQL (int32 little-endian (x, y) pairs, as documented)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
import sqlalchemy as sa

from app.proposals import predict_proposal, store_proposal
from core.badpixels import inject_bad_pixels
from core.domain import ReviewStatus
from core.errors import ProjectError
from core.store import db
from core.store.migrations import MIGRATIONS
from core.store.new_image import NewImage
from core.store.project import Project


def frame() -> tuple[np.ndarray, np.ndarray]:
    """A smooth noisy 16-bit frame with two small targets, 24 isolated hot / dead pixels injected
    away from them; returns (frame, injected (x, y))."""
    rng = np.random.default_rng(11)
    h, w = 96, 128
    yy, xx = np.mgrid[:h, :w]
    img = 2000 + 8 * xx + rng.normal(0, 20, (h, w))
    for cx, cy in ((30.3, 40.6), (90.2, 20.4)):
        img += 5000 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 2.0)
    clean = np.clip(img, 0, 16383).astype(np.uint16)
    bad, coords = inject_bad_pixels(clean, 24 / (h * w), rng, hot=16383, dead=0)
    far = np.array([min(abs(x - 30) + abs(y - 40), abs(x - 90) + abs(y - 20)) > 6 for x, y in coords])
    assert far.all(), "the seed put a defect on a target; pick another"
    return bad, coords


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    """The real Predictor (bad-pixel filter on) around a tiny random BAFE-Net: fast, and the
    filter does not depend on the weights."""
    import torch

    from model.checkpoint import save_weights
    from model.config import preset
    from model.inference import Predictor
    from model.net import BafeNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "w.safetensors"
    cfg = preset("default", fpn_channels=16, gn_groups=4, tower_convs=1, adapter_hidden=8)
    save_weights(path, BafeNet(cfg), cfg, "default", sky_threshold="0.5")
    return Predictor(path, threads=1, backend="torch")


def stored_rows(project: Project, image_id: int) -> bytes | None:
    """The image's bad_pixels column, read with plain SQL (not through core.store.project)."""
    url = project.url or f"sqlite:///{project.root / 'project.sqlite'}"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            value = conn.execute(sa.text("SELECT bad_pixels FROM images WHERE id = :i"),
                                 {"i": image_id}).scalar()  # fmt: skip
    finally:
        engine.dispose()
    return None if value is None else bytes(value)


def as_set(blob: bytes) -> set[tuple[int, int]]:
    pairs = np.frombuffer(blob, "<i4").reshape(-1, 2)
    return {(int(x), int(y)) for x, y in pairs}


def test_repaired_pixels_round_trip_and_undo(project_target, tmp_path: Path, predictor) -> None:
    img, injected = frame()
    path = tmp_path / "frame.png"
    assert cv2.imwrite(str(path), img)
    with Project.create(project_target) as p:
        (info,) = p.add_images([NewImage(path)])
        proposal = predict_proposal(predictor, p.load_pixels(info.id), 0.05)
        truth = {(int(x), int(y)) for x, y in injected}
        assert {tuple(c) for c in proposal.bad_pixels.tolist()} == truth  # all found, nothing else
        first = store_proposal(p, info.id, proposal, None)
        assert as_set(stored_rows(p, info.id)) == truth
        assert len(stored_rows(p, info.id)) == 8 * len(truth)
        labels = p.labels(info.id)
        assert {tuple(c) for c in labels.bad_pixels.coords().tolist()} == truth
        assert p.get_image(info.id).n_bad_pixels == len(truth)
        assert p.get_image(info.id).status == ReviewStatus.PRE_ANNOTATED

        # A second run without the filter records none; undoing it brings the first set back.
        second = p.propose(info.id, proposal.targets, proposal.sky, None, bad_pixels=None)
        assert stored_rows(p, info.id) is None and p.get_image(info.id).n_bad_pixels is None
        p.apply_edit(second.inverse(), expected_version=second.version)
        assert as_set(stored_rows(p, info.id)) == truth
        # Undoing the first restores the state before any pre-annotation: nothing recorded.
        p.apply_edit(first.inverse())
        assert stored_rows(p, info.id) is None
        assert p.get_image(info.id).status == ReviewStatus.NEW


def test_a_run_that_finds_none_records_an_empty_set(tmp_path: Path) -> None:
    img = np.full((20, 30), 500, np.uint16)
    assert cv2.imwrite(str(tmp_path / "flat.png"), img)
    with Project.create(tmp_path / "p") as p:
        (info,) = p.add_images([NewImage(tmp_path / "flat.png")])
        p.propose(info.id, [], None, bad_pixels=np.zeros((0, 2), np.int32))
        assert stored_rows(p, info.id) == b""  # the filter ran: "0 repaired", not "unknown"
        assert p.get_image(info.id).n_bad_pixels == 0


@pytest.mark.parametrize("coords", [[[30, 0]], [[0, 20]], [[-1, 3]], [[1.5, 2.0]]])
def test_pixels_outside_the_image_are_refused_and_nothing_is_stored(tmp_path: Path, coords) -> None:
    assert cv2.imwrite(str(tmp_path / "f.png"), np.zeros((20, 30), np.uint8))
    with Project.create(tmp_path / "p") as p:
        (info,) = p.add_images([NewImage(tmp_path / "f.png")])
        with pytest.raises(ProjectError, match="repaired pixels"):
            p.propose(info.id, [], None, bad_pixels=np.array(coords))
        assert stored_rows(p, info.id) is None and p.get_image(info.id).version == 0


def test_v4_file_gets_the_column_and_keeps_its_data(tmp_path: Path) -> None:
    """A genuine v4 file: v1 DDL taken through the frozen steps 1..3, then opened."""
    from tests.unit.test_project_schema import make_v1

    root = tmp_path / "old"
    make_v1(root)
    engine = sa.create_engine(f"sqlite:///{root / 'project.sqlite'}")
    with engine.begin() as conn:
        for v in (1, 2, 3):
            MIGRATIONS[v](conn)
        conn.exec_driver_sql("PRAGMA user_version=4")
    engine.dispose()
    con = sqlite3.connect(root / "project.sqlite")
    assert "bad_pixels" not in [r[1] for r in con.execute("PRAGMA table_info(images)")]
    con.close()
    with Project.open(root) as p:
        assert p.get_image(1).n_targets == 1 and p.get_image(1).n_bad_pixels is None
        p.propose(1, [], None, bad_pixels=np.array([[3, 4], [9, 7]]))
    con = sqlite3.connect(root / "project.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION >= 5
    (blob,) = con.execute("SELECT bad_pixels FROM images WHERE id = 1").fetchone()
    con.close()
    assert as_set(blob) == {(3, 4), (9, 7)}
