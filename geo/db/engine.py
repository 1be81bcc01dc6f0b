"""Engines and connection errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from geo.errors import DatabaseUnavailable

#: run on each new connection of a server's engine: loads the PostGIS library into the backend and
#: its CGCS2000 definition (~10 ms the first time), so that no request pays for it
WARM_SQL = "SELECT ST_AsGeoJSON(ST_SetSRID(ST_MakePoint(111.7, 40.8), 4490))"


def make_engine(url: str, *, database: str | None = None, warm: bool = False, **kwargs: object) -> Engine:
    """Create an engine for ``url`` (optionally another database on the same server); ``warm``
    prepares each new connection for the API's queries (:data:`WARM_SQL`)."""
    u = make_url(url)
    if database is not None:
        u = u.set(database=database)
    kwargs.setdefault("pool_pre_ping", True)
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
            dbapi_conn.rollback()  # type: ignore[attr-defined]

    return engine


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
