"""Engines: the idle ping leaves a pooled connection as it found it."""

from __future__ import annotations

import psycopg2.extensions
import sqlalchemy as sa

from geo.db.engine import make_engine


def test_the_idle_ping_opens_no_transaction(db_url) -> None:
    """A transactional connection pinged on checkout is still outside a transaction (as with
    SQLAlchemy's own pre-ping): the request's transaction starts with its own first statement,
    at the isolation level it chooses."""
    engine = make_engine(db_url, ping_idle=0.0, pool_size=1, max_overflow=0)
    pings: list[object] = []
    do_ping = engine.dialect.do_ping
    engine.dialect.do_ping = lambda c: pings.append(c) or do_ping(c)  # type: ignore[method-assign]
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        assert not pings  # a new connection is not pinged
        with engine.connect() as conn:  # idle for more than 0 s: pinged on checkout
            assert len(pings) == 1
            status = conn.connection.dbapi_connection.get_transaction_status()
            assert status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            assert conn.execute(sa.text("SHOW transaction_isolation")).scalar() == "repeatable read"
    finally:
        engine.dispose()


def test_a_dead_idle_connection_is_replaced_before_use(db_url) -> None:
    """The ping finds the connection dead and the pool opens another: the request never sees it."""
    engine = make_engine(db_url, ping_idle=0.0, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            first = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with make_engine(db_url).connect() as other:  # the pooled connection dies while idle
            other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": first})
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() != first
    finally:
        engine.dispose()
