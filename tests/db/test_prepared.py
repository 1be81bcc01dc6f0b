"""Prepared statements: PREPAREd once per database connection, binds numbered in order."""

from __future__ import annotations

import sqlalchemy as sa

from geo.db.prepared import Prepared

STMT = Prepared(
    "gridmap_test_sum", "SELECT :a + :b * 10 AS s, CAST(:a AS text) AS a_text", (("a", "integer"), ("b", "integer"))
)


def test_binds_become_numbered_parameters() -> None:
    assert STMT.prepare_sql() == (
        "PREPARE gridmap_test_sum (integer, integer) AS SELECT $1 + $2 * 10 AS s, CAST($1 AS text) AS a_text"
    )


def test_prepared_once_per_connection_and_again_on_a_new_one(engine) -> None:
    with engine.connect() as conn:
        assert STMT.execute(conn, {"a": 1, "b": 2}).one() == (21, "1")
        assert STMT.execute(conn, {"a": 3, "b": 4}).one() == (43, "3")
        n = conn.execute(sa.text("SELECT count(*) FROM pg_prepared_statements WHERE name = 'gridmap_test_sum'"))
        assert n.scalar() == 1
        conn.invalidate()  # the database connection is closed; the pool opens a new one
    with engine.connect() as conn:
        assert STMT.execute(conn, {"a": 5, "b": 6}).one() == (65, "5")


def test_plain_text_when_switched_off(engine, monkeypatch) -> None:
    monkeypatch.setenv("GRIDMAP_PREPARED", "0")
    stmt = Prepared("gridmap_test_off", STMT.text, STMT.params)
    with engine.connect() as conn:
        assert stmt.execute(conn, {"a": 2, "b": 3}).one() == (32, "2")
        n = conn.execute(sa.text("SELECT count(*) FROM pg_prepared_statements WHERE name = 'gridmap_test_off'"))
        assert n.scalar() == 0
