"""The PostgreSQL fixture: a real server, one fresh database per test, isolated from the others."""

from __future__ import annotations

import sqlalchemy as sa


def test_each_test_gets_a_fresh_empty_database(pg_server, pg_url) -> None:
    other = pg_server.create_database()
    try:
        assert other != pg_url
        engine = sa.create_engine(pg_url)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO probe VALUES (42)")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT x FROM probe").scalar() == 42
            host = conn.exec_driver_sql("SELECT inet_server_addr()::text").scalar()
        engine.dispose()
        assert host.startswith("127.0.0.1")
        engine = sa.create_engine(other)
        with engine.connect() as conn:
            n = conn.exec_driver_sql(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ).scalar()
        engine.dispose()
        assert n == 0
    finally:
        pg_server.drop_database(other)
