"""Schema migrations of a project database, frozen history: MIGRATIONS[v] upgrades a database
from schema v to v + 1. Append, never edit; each step spells out its own DDL so that later
changes of the ORM classes in core/store/db.py never change what an old step does."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, ForeignKey, Integer, String


def _migrate_1_to_2(conn: Connection) -> None:
    """v2: free-text note per image, link of a region to the model version that proposed it."""
    conn.exec_driver_sql("ALTER TABLE images ADD COLUMN note TEXT NOT NULL DEFAULT ''")
    conn.exec_driver_sql(
        "ALTER TABLE regions ADD COLUMN model_version_id INTEGER "
        "REFERENCES model_versions(id) ON DELETE SET NULL"
    )
    conn.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_images_split_status ON images (split, status)"
    )


# v3 tables, frozen here (the ORM classes above may move on; a migration must not).
_V3_TARGETS = """CREATE TABLE targets (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    px FLOAT, py FLOAT, x0 FLOAT, y0 FLOAT, x1 FLOAT, y1 FLOAT,
    mask_x0 INTEGER, mask_y0 INTEGER, mask_png BLOB,
    source VARCHAR NOT NULL, score FLOAT, state VARCHAR NOT NULL)"""
_V3_REGIONS = """CREATE TABLE regions (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    class VARCHAR NOT NULL, state VARCHAR NOT NULL, source VARCHAR NOT NULL,
    mask_png BLOB NOT NULL,
    model_version_id INTEGER REFERENCES model_versions (id) ON DELETE SET NULL,
    CONSTRAINT uq_region_kind UNIQUE (image_id, class, state))"""
_TARGET_COLS = "id, image_id, px, py, x0, y0, x1, y1, mask_x0, mask_y0, mask_png, source, score, state"
_REGION_COLS = "id, image_id, class, state, source, mask_png, model_version_id"


def _migrate_2_to_3(conn: Connection) -> None:
    """v3: targets and regions get AUTOINCREMENT keys, so a freed id is never handed out again.

    SQLite cannot add AUTOINCREMENT to a table: each is rebuilt (copy, drop, rename) with its
    rows and ids unchanged; sqlite_sequence starts at the largest id copied.
    """
    for table, ddl, cols in (("targets", _V3_TARGETS, _TARGET_COLS),
                             ("regions", _V3_REGIONS, _REGION_COLS)):  # fmt: skip
        conn.exec_driver_sql(ddl.replace(f"CREATE TABLE {table}", f"CREATE TABLE {table}_v3", 1))
        conn.exec_driver_sql(f"INSERT INTO {table}_v3 ({cols}) SELECT {cols} FROM {table}")
        conn.exec_driver_sql(f"DROP TABLE {table}")
        conn.exec_driver_sql(f"ALTER TABLE {table}_v3 RENAME TO {table}")
    conn.exec_driver_sql("CREATE INDEX ix_targets_image_state ON targets (image_id, state)")


def _migrate_3_to_4(conn: Connection) -> None:
    """v4 (teams, ADR 0008): image version, who edited / reviewed / holds it, who made each
    label, and the edit log. Plain ADD COLUMN and a frozen table: the same on both engines."""
    for table, col, ddl in (
        ("images", "version", "INTEGER NOT NULL DEFAULT 0"),
        ("images", "edited_by", "VARCHAR"), ("images", "edited_at", "VARCHAR"),
        ("images", "reviewed_by", "VARCHAR"), ("images", "reviewed_at", "VARCHAR"),
        ("images", "assignee", "VARCHAR"),
        ("targets", "edited_by", "VARCHAR"), ("targets", "edited_at", "VARCHAR"),
    ):  # fmt: skip
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {col} {ddl}")
    from sqlalchemy import Column, MetaData, Table

    frozen = MetaData()
    Table("images", frozen, Column("id", Integer, primary_key=True))
    Table(
        "edit_log", frozen,
        Column("id", Integer, primary_key=True),
        Column("image_id", Integer, ForeignKey("images.id", ondelete="CASCADE"), nullable=False,
               index=True),
        Column("version", Integer, nullable=False), Column("author", String, nullable=False),
        Column("at", String, nullable=False), Column("action", String, nullable=False),
        sqlite_autoincrement=True,
    )  # fmt: skip
    frozen.tables["edit_log"].create(conn)


def _migrate_4_to_5(conn: Connection) -> None:
    """v5: the sensor pixels the latest pre-annotation repaired, per image (int32 (x, y) pairs;
    NULL = none recorded). Binary is spelt per engine: BLOB on SQLite, BYTEA on PostgreSQL."""
    blob = "BLOB" if conn.dialect.name == "sqlite" else "BYTEA"
    conn.exec_driver_sql(f"ALTER TABLE images ADD COLUMN bad_pixels {blob}")


_FILL_CHUNK = 20_000


def _migrate_5_to_6(conn: Connection) -> None:
    """v6: images.sort_key (the natural sort key of the name, core.natural_order.natural_key),
    filled for every image, and the indexes of the image list. "C" collation on PostgreSQL so
    that both engines compare the key bytewise."""
    from core.natural_order import natural_key  # pure function of the name: same on both engines

    server = conn.dialect.name != "sqlite"
    collate = ' COLLATE "C"' if server else ""
    conn.exec_driver_sql(f"ALTER TABLE images ADD COLUMN sort_key VARCHAR{collate} NOT NULL DEFAULT ''")
    if not server:  # one UPDATE statement, the key computed by SQLite calling Python
        conn.connection.driver_connection.create_function("sirst_natural_key", 1, natural_key,
                                                          deterministic=True)  # fmt: skip
        conn.exec_driver_sql("UPDATE images SET sort_key = sirst_natural_key(name)")
    else:
        last = 0
        while rows := conn.exec_driver_sql(
            f"SELECT id, name FROM images WHERE id > {int(last)} ORDER BY id LIMIT {_FILL_CHUNK}"
        ).all():
            conn.exec_driver_sql("UPDATE images SET sort_key = %(k)s WHERE id = %(i)s",
                                 [{"k": natural_key(n), "i": i} for i, n in rows])  # fmt: skip
            last = rows[-1][0]
    # the v6 indexes spelled out here (a step never changes): core.store.db.SORT_INDEXES today
    for name, cols in (("ix_images_sort", "sort_key, id"), ("ix_images_status_sort", "status, sort_key, id"),
                       ("ix_images_split_sort", "split, sort_key, id")):  # fmt: skip
        conn.exec_driver_sql(f"CREATE INDEX {name} ON images ({cols})")


def _migrate_attention(conn: Connection) -> None:
    """v7: the review queue's attention per image (with the model's whole result as support)
    and the noise finder's verdicts (issue 20).
    Plain DDL, the same on both engines."""
    conn.exec_driver_sql(
        "CREATE TABLE image_attention ("
        "image_id INTEGER NOT NULL PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE, "
        "model_version_id INTEGER REFERENCES model_versions (id) ON DELETE SET NULL, "
        "score FLOAT NOT NULL, reason TEXT NOT NULL, sky_uncertain FLOAT, operating FLOAT, "
        f"updated VARCHAR, support {'BLOB' if conn.dialect.name == 'sqlite' else 'BYTEA'})"
    )
    conn.exec_driver_sql("CREATE INDEX ix_image_attention_score ON image_attention (score)")
    serial = "INTEGER NOT NULL PRIMARY KEY" if conn.dialect.name == "sqlite" else "SERIAL PRIMARY KEY"
    conn.exec_driver_sql(
        f"CREATE TABLE label_verdicts (id {serial}, "
        "image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE, "
        "key VARCHAR NOT NULL, verdict VARCHAR NOT NULL, author VARCHAR, at VARCHAR, "
        "CONSTRAINT uq_label_verdict UNIQUE (image_id, key))"
    )


# MIGRATIONS[v] upgrades a database from schema v to v + 1. Append, never edit.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _migrate_1_to_2, 2: _migrate_2_to_3, 3: _migrate_3_to_4, 4: _migrate_4_to_5,
    5: _migrate_5_to_6,
    6: _migrate_attention,
}  # fmt: skip
