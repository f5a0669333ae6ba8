"""core.store.project: opening, schema migrations, refusal of newer / foreign / corrupt databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from core.domain import Target, TargetMask, TargetState
from core.errors import ProjectError
from core.store import db
from core.store.project import Project
from tests._support.labels import (
    add_target,
    delete_targets,
    replace_proposals,
    set_note,
    set_sky_mask,
)

# The schema as SIRST Studio v1 wrote it: no images.note, no regions.model_version_id,
# no (split, status) index.
V1_DDL = """
CREATE TABLE images (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL UNIQUE, path VARCHAR NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, bit_depth INTEGER NOT NULL,
    channels INTEGER NOT NULL, sha256 VARCHAR NOT NULL, split VARCHAR NOT NULL,
    status VARCHAR NOT NULL, target_mask_extra BLOB, created VARCHAR NOT NULL);
CREATE TABLE targets (id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    px FLOAT, py FLOAT, x0 FLOAT, y0 FLOAT, x1 FLOAT, y1 FLOAT,
    mask_x0 INTEGER, mask_y0 INTEGER, mask_png BLOB,
    source VARCHAR NOT NULL, score FLOAT, state VARCHAR NOT NULL);
CREATE INDEX ix_targets_image_state ON targets (image_id, state);
CREATE TABLE model_versions (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, path VARCHAR NOT NULL,
    created VARCHAR NOT NULL, metrics JSON NOT NULL, preset VARCHAR NOT NULL,
    active BOOLEAN NOT NULL);
CREATE TABLE regions (id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    class VARCHAR NOT NULL, state VARCHAR NOT NULL, source VARCHAR NOT NULL,
    mask_png BLOB NOT NULL, CONSTRAINT uq_region_kind UNIQUE (image_id, class, state));
"""


def make_v1(root: Path, with_regions: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A v1 project with one image, one masked target and a sky region; returns (sky, mask)."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(7)
    sky, tmask = rng.random((8, 10)) > 0.5, rng.random((2, 3)) > 0.3
    ddl = V1_DDL if with_regions else V1_DDL.split("CREATE TABLE regions")[0]
    con = sqlite3.connect(root / "project.sqlite")
    con.executescript(ddl)
    con.execute(
        "INSERT INTO images VALUES (1, 'Misc_1', 'img/Misc_1.png', 10, 8, 8, 1, 'abc', 'train',"
        " 'reviewed', NULL, '2024-05-01T00:00:00+00:00')"
    )
    con.execute(
        "INSERT INTO targets VALUES (5, 1, 2.0, 3.0, 1.0, 2.0, 4.0, 4.0, 1, 2, ?, 'manual', NULL,"
        " 'accepted')",
        (db.encode_mask(tmask),),
    )
    if with_regions:
        con.execute(
            "INSERT INTO regions VALUES (1, 1, 'sky', 'accepted', 'manual', ?)",
            (db.encode_mask(sky),),
        )
    con.execute(f"PRAGMA application_id={db.APPLICATION_ID}")
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()
    return sky, tmask


def pragma(path: Path, name: str) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        con.close()


def columns(path: Path, table: str) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
    finally:
        con.close()


def test_v1_project_is_upgraded_on_open(tmp_path: Path) -> None:
    root = tmp_path / "old"
    sky, tmask = make_v1(root)
    with Project.open(root) as p:
        info = p.get_image(1)
        assert (info.name, info.note, info.n_targets) == ("Misc_1", "", 1)
        ann = p.annotation(1)
        assert ann.targets == [
            Target(point=(2, 3), box=(1, 2, 4, 4), mask=TargetMask(1, 2, tmask), id=5)
        ]
        assert np.array_equal(ann.sky, sky)
        set_note(p, 1, "upgraded")  # the v2 column works
        replace_proposals(p, 1, [Target(point=(1, 1))], ~sky, model_version_id=None)
        assert np.array_equal(p.sky_mask(1, TargetState.PROPOSAL), ~sky)
    db_path = root / "project.sqlite"
    assert pragma(db_path, "user_version") == db.SCHEMA_VERSION == 7
    assert "note" in columns(db_path, "images")
    assert "model_version_id" in columns(db_path, "regions")
    with Project.open(root) as p:  # a second open finds nothing left to migrate
        assert p.get_image(1).note == "upgraded"


def test_failed_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    root = tmp_path / "broken_v1"
    make_v1(root, with_regions=False)  # v1 -> v2 alters `regions`, which is absent here
    with pytest.raises(ProjectError, match="cannot be used"):
        Project.open(root)
    db_path = root / "project.sqlite"
    assert pragma(db_path, "user_version") == 1
    assert "note" not in columns(db_path, "images")  # the first ALTER was rolled back too


def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    root = tmp_path / "future"
    Project.create(root).close()
    con = sqlite3.connect(root / "project.sqlite")
    con.execute(f"PRAGMA user_version={db.SCHEMA_VERSION + 3}")
    con.commit()
    con.close()
    with pytest.raises(ProjectError, match="newer SIRST Studio.*update"):
        Project.open(root)
    assert pragma(root / "project.sqlite", "user_version") == db.SCHEMA_VERSION + 3


def test_folder_without_database_says_how_to_create_one(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    for folder in (tmp_path / "plain", tmp_path / "does_not_exist"):
        with pytest.raises(ProjectError, match="not a SIRST Studio project.*New Project"):
            Project.open(folder)
    assert not (tmp_path / "plain" / "project.sqlite").exists()


def test_create_refuses_existing_project_and_file(tmp_path: Path) -> None:
    Project.create(tmp_path / "p").close()
    with pytest.raises(ProjectError, match="already holds a project"):
        Project.create(tmp_path / "p")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ProjectError, match="is a file"):
        Project.create(tmp_path / "f")
    with Project.open_or_create(tmp_path / "p") as p, Project.open_or_create(tmp_path / "q") as q:
        assert p.models_dir.is_dir() and q.models_dir.is_dir()


@pytest.mark.parametrize(
    "content", [b"this is not sqlite at all\n" * 200, b"SQLite format 3\x00" + b"\xff" * 500]
)
def test_garbage_database_gives_project_error(tmp_path: Path, content: bytes) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    (root / "project.sqlite").write_bytes(content)
    with pytest.raises(ProjectError, match="cannot be used"):
        Project.open(root)
    assert (root / "project.sqlite").read_bytes() == content


def test_truncated_database_gives_project_error(tmp_path: Path) -> None:
    root = tmp_path / "cut"
    with Project.create(root) as p:
        p.add_images([])
        con = p._engine.connect()
        con.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
    data = (root / "project.sqlite").read_bytes()
    (root / "project.sqlite").write_bytes(data[: len(data) // 3])
    with pytest.raises(ProjectError, match="cannot be used"):
        with Project.open(root) as p:
            p.list_images()


def test_foreign_sqlite_file_is_not_taken_for_a_project(tmp_path: Path) -> None:
    root = tmp_path / "other_app"
    root.mkdir()
    con = sqlite3.connect(root / "project.sqlite")
    con.execute("CREATE TABLE songs (title TEXT)")
    con.commit()
    con.close()
    with pytest.raises(ProjectError, match="not a SIRST Studio project database"):
        Project.open(root)
    assert columns(root / "project.sqlite", "songs") == ["title"]


def test_empty_database_file_is_refused_by_every_way_of_opening(tmp_path: Path) -> None:
    # what an older version left when a creation was killed or hit a full disk (today's creation
    # is all or nothing); read-write and read-only opening agree (issue 25 item 9)
    root = tmp_path / "interrupted"
    root.mkdir()
    (root / "project.sqlite").write_bytes(b"")
    for opener in (Project.open, Project.open_or_create, lambda r: Project.open(r, read_only=True)):
        with pytest.raises(ProjectError, match="empty database without a SIRST Studio schema"):
            opener(root)
    with sqlite3.connect(root / "project.sqlite") as con:  # nothing was adopted
        assert con.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


# The v2 schema, as today's SIRST Studio (before v3) created it: rowid keys that SQLite reuses.
V2_MIGRATED_EXTRA = """
ALTER TABLE images ADD COLUMN note TEXT NOT NULL DEFAULT '';
ALTER TABLE regions ADD COLUMN model_version_id INTEGER REFERENCES model_versions(id)
    ON DELETE SET NULL;
"""


def make_v2(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """A v2 project: the v1 file with the v2 columns, two targets (ids 5 and 9) and a sky."""
    sky, tmask = make_v1(root)
    con = sqlite3.connect(root / "project.sqlite")
    con.executescript(V2_MIGRATED_EXTRA)
    con.execute(
        "INSERT INTO targets VALUES (9, 1, 6.0, 6.0, 5.0, 5.0, 7.0, 7.0, NULL, NULL, NULL, 'model',"
        " 0.7, 'proposal')"
    )
    con.execute("PRAGMA user_version=2")
    con.commit()
    con.close()
    return sky, tmask


def sql_of(path: Path, table: str) -> str:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT sql FROM sqlite_master WHERE name=?", (table,)).fetchone()[0]
    finally:
        con.close()


def test_v2_project_gets_ids_that_are_never_reused(tmp_path: Path) -> None:
    root = tmp_path / "v2"
    sky, tmask = make_v2(root)
    db_path = root / "project.sqlite"
    assert "AUTOINCREMENT" not in sql_of(db_path, "targets")
    with Project.open(root) as p:
        got = p.targets(1)
        assert [t.id for t in got] == [5, 9]  # ids and every field survive the table rebuild
        assert got[0].mask == TargetMask(1, 2, tmask) and got[1].score == 0.7
        assert np.array_equal(p.sky_mask(1), sky)
        # The newest target deleted: plain SQLite would hand id 9 out again.
        delete_targets(p, 1, [9])
        assert add_target(p, 1, Target(point=(3, 3))).id == 10
        set_sky_mask(p, 1, ~sky)
        set_sky_mask(p, 1, sky)
    assert pragma(db_path, "user_version") == db.SCHEMA_VERSION == 7
    for table in ("targets", "regions"):
        assert "AUTOINCREMENT" in sql_of(db_path, table)
    con = sqlite3.connect(db_path)
    try:
        seq = dict(con.execute("SELECT name, seq FROM sqlite_sequence"))
        indexes = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        con.close()
    assert seq["targets"] == 10 and seq["regions"] >= 3
    assert "ix_targets_image_state" in indexes
