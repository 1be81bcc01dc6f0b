"""Engines and connection errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg2
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from geo.errors import DatabaseUnavailable

#: run on each new connection of a server's engine: loads the PostGIS library into the backend and
#: its CGCS2000 definition (~10 ms the first time), so that no request pays for it
WARM_SQL = "SELECT ST_AsGeoJSON(ST_SetSRID(ST_MakePoint(111.7, 40.8), 4490))"


def make_engine(
    url: str,
    *,
    database: str | None = None,
    warm: bool = False,
    ping_idle: float | None = None,
    autocommit: bool = False,
    **kwargs: object,
) -> Engine:
    """Create an engine for ``url`` (optionally another database on the same server).

    ``warm`` prepares each new connection for the API's queries (:data:`WARM_SQL`).
    ``ping_idle``: check a pooled connection before use only when it sat idle that many seconds
    (instead of SQLAlchemy's ``pool_pre_ping``, a round trip on every checkout); a connection that
    died while in use meanwhile invalidates the whole pool on its first error (see :func:`read`).
    ``autocommit``: every connection stays in autocommit (the API's single reads, see :func:`read`):
    no BEGIN/COMMIT, nothing to reset when a connection goes back to the pool.
    """
    u = make_url(url)
    if database is not None:
        u = u.set(database=database)
    kwargs.setdefault("pool_pre_ping", ping_idle is None)
    if autocommit:
        kwargs["isolation_level"] = "AUTOCOMMIT"
        kwargs["pool_reset_on_return"] = None
    connect_args = dict(kwargs.pop("connect_args", {}) or {})  # type: ignore[call-overload]
    connect_args.setdefault("connect_timeout", 5)
    connect_args.setdefault("application_name", "gridmap")
    engine = sa.create_engine(u, connect_args=connect_args, **kwargs)  # type: ignore[arg-type]
    if warm:

        @sa.event.listens_for(engine, "connect")
        def _warm(dbapi_conn: object, _record: object) -> None:
            try:
                with dbapi_conn.cursor() as cur:  # type: ignore[attr-defined]
                    cur.execute(WARM_SQL)
            except psycopg2.Error:
                pass  # no PostGIS yet (a database not migrated): the request will say what is wrong
            if not dbapi_conn.autocommit:  # type: ignore[attr-defined]
                dbapi_conn.rollback()  # type: ignore[attr-defined]

    if ping_idle is not None:
        _ping_when_idle(engine, ping_idle)
    return engine


def _ping_when_idle(engine: Engine, seconds: float) -> None:
    """Ping a connection on checkout when it was checked in more than ``seconds`` ago.

    A failed ping recycles the whole pool (as pool_pre_ping does) and the pool connects anew.
    A new connection (its record's ``info`` is emptied on reconnect) is not pinged.
    """

    @sa.event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: object, record: sa.pool.ConnectionPoolEntry) -> None:
        if record is not None:
            record.info["gridmap_idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: object, record: sa.pool.ConnectionPoolEntry, _proxy: object) -> None:
        since = record.info.get("gridmap_idle_since")
        if since is None or time.monotonic() - since <= seconds:
            return
        try:  # the dialect's ping, as pool_pre_ping does: in autocommit, so no transaction is left open
            engine.dialect.do_ping(dbapi_conn)
        except psycopg2.Error as exc:  # the database restarted: every older connection is dead too
            raise sa.exc.InvalidatePoolError(str(exc).strip()) from exc


T = TypeVar("T")


def read(engine: Engine, fn: Callable[..., T], *args: object) -> T:
    """``fn(conn, *args)`` on a connection of ``engine``, run again once on a fresh connection when
    the first one turns out to be dead (the database restarted since it was last used).

    Only for reads: they are safe to repeat. On an ``autocommit`` engine each statement sees the
    latest commits (no common snapshot), with no BEGIN/COMMIT round trips.
    """
    try:
        with engine.connect() as conn:
            return fn(conn, *args)
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with engine.connect() as conn:  # the pool was invalidated with the dead connection
        return fn(conn, *args)


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def unavailable_as_error(url: str) -> Iterator[None]:
    """Turn a failed connection into one clear :class:`DatabaseUnavailable` line."""
    try:
        yield
    except sa.exc.OperationalError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        raise DatabaseUnavailable(
            f"cannot reach the database at {describe(url)}: {first} (run `gridmap db up`, or check DATABASE_URL)"
        ) from None


def check(engine: Engine) -> None:
    """Raise :class:`DatabaseUnavailable` when the database does not answer."""
    with unavailable_as_error(str(engine.url.render_as_string(hide_password=False))):
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
