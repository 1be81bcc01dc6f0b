"""Dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Connection, Engine


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_conn(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """One connection (and transaction) per request."""
    with engine.begin() as conn:
        yield conn


@contextmanager
def single_read(engine: Engine) -> Iterator[Connection]:
    """A connection for reads that need no common snapshot (each statement sees the latest
    commits), in autocommit: no BEGIN and COMMIT round trips. Used inside the hottest endpoints'
    bodies (point lookup, grid figures, tiles): no dependency generator, so one thread hop less."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn


EngineDep = Annotated[Engine, Depends(get_engine)]
ConnDep = Annotated[Connection, Depends(get_conn)]
