"""The image list's SQL on a real PostgreSQL server (issue 22): the v5 -> v6 migration fills the
natural sort key, the list model reads the server's order and filters."""

from __future__ import annotations

import os
from types import SimpleNamespace

import sqlalchemy as sa

from core.domain import ReviewStatus
from core.image_query import ImageQuery
from core.natural_order import natural_key
from core.store.db import SORT_INDEXES
from core.store.new_image import NewImage
from core.store.project import Project

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before qtbot makes the QApplication
HEADER = SimpleNamespace(width=8, height=6, bit_depth=8, channels=1)
NAMES = ["Enhance-11", "Enhance-2", "enhance-1", "Enhance-10", "_b", "a_", "Z-3", "z-20"]


def _add(project: Project) -> None:
    project.add_images(NewImage(f"/share/{n}.png", n, header=HEADER, sha256=str(k),
                                status=ReviewStatus.NEW if k % 2 else ReviewStatus.REVIEWED)
                       for k, n in enumerate(NAMES))  # fmt: skip


def test_a_v5_server_project_upgrades_with_sort_keys(pg_url) -> None:
    with Project.create(pg_url) as p:
        _add(p)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:  # the database as v5 left it
        for name in SORT_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.exec_driver_sql("ALTER TABLE images DROP COLUMN sort_key")
        conn.exec_driver_sql("DROP TABLE image_attention, label_verdicts")  # nothing of v7 either
        conn.exec_driver_sql("UPDATE sirst_meta SET value = '5' WHERE key = 'schema_version'")
        before = conn.exec_driver_sql("SELECT id, name, status FROM images ORDER BY id").all()
    with Project.open(pg_url) as p:
        ids = p.image_ids()
        names = [i.name for i in p.images_by_id(ids)]
    with engine.begin() as conn:
        after = conn.exec_driver_sql("SELECT id, name, status FROM images ORDER BY id").all()
        keys = dict(conn.exec_driver_sql("SELECT name, sort_key FROM images").all())
        indexes = {r[0] for r in conn.exec_driver_sql(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'images'")}  # fmt: skip
    engine.dispose()
    assert after == before
    assert keys == {n: natural_key(n) for n in NAMES}
    assert set(SORT_INDEXES) <= indexes
    # bytewise ("C") order on the server, whatever the database's locale: "_b" after "Z-3"
    assert names == sorted(NAMES, key=natural_key)


def test_the_list_model_filters_on_the_server(pg_url, qtbot) -> None:
    from app.image_list_model import ImageListModel

    with Project.create(pg_url) as p:
        _add(p)
        engine = sa.create_engine(pg_url)
        with engine.connect() as conn:
            new = {r[0] for r in conn.exec_driver_sql("SELECT id FROM images WHERE status = 'new'")}
            everything = dict(conn.exec_driver_sql("SELECT id, name FROM images").all())
        engine.dispose()
        model = ImageListModel()
        model.set_project(p)
        assert model.ids() == sorted(everything, key=lambda i: natural_key(everything[i]))
        model.set_query(ImageQuery(status=ReviewStatus.NEW, search="ENHANCE"))
        expected = [i for i in model.ids() if i in new and "enhance" in everything[i].lower()]
        assert model.ids() == expected and len(expected) == 2
        assert model.total_count() == len(NAMES)
        model.close()
