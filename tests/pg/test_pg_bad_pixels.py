"""A v4 team project on PostgreSQL is upgraded to v5 (the repaired-pixels column) in place."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

from core.store import db
from core.store.db import SORT_INDEXES
from core.store.project import Project
from tests.unit.test_project import new


def test_v4_server_project_gets_the_bad_pixel_column(pg_url) -> None:
    with Project.create(pg_url) as p:
        p.add_images([new("a")])
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:  # back to v4 exactly: v5 only added images.bad_pixels
        conn.exec_driver_sql("ALTER TABLE images DROP COLUMN bad_pixels")
        conn.exec_driver_sql("DROP TABLE image_attention, label_verdicts")  # the step after v5
        for name in SORT_INDEXES:  # and v6 the sort key and its indexes
            conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.exec_driver_sql("ALTER TABLE images DROP COLUMN sort_key")
        conn.exec_driver_sql("UPDATE sirst_meta SET value = '4' WHERE key = 'schema_version'")
    with Project.open(pg_url) as p:
        (info,) = p.list_images()
        assert info.name == "a" and info.n_bad_pixels is None
        p.propose(info.id, [], None, bad_pixels=np.array([[1, 2], [3, 0]]))
        assert p.get_image(info.id).n_bad_pixels == 2
    with engine.connect() as conn:
        version = conn.exec_driver_sql(
            "SELECT value FROM sirst_meta WHERE key = 'schema_version'").scalar()  # fmt: skip
        kind = conn.exec_driver_sql(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'images' AND column_name = 'bad_pixels'").scalar()  # fmt: skip
        blob = conn.exec_driver_sql("SELECT bad_pixels FROM images").scalar()
    engine.dispose()
    assert int(version) == db.SCHEMA_VERSION >= 5 and kind == "bytea"
    assert np.frombuffer(bytes(blob), "<i4").reshape(-1, 2).tolist() == [[1, 2], [3, 0]]
