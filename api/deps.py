"""Dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Connection, Engine


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_conn(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """One connection (and transaction) per request."""
    with engine.begin() as conn:
        yield conn


def get_reader(request: Request) -> Engine:
    """The autocommit engine of single reads; run them with :func:`geo.db.engine.read` inside the
    endpoint's body (no dependency generator, so one thread hop less)."""
    return request.app.state.reader


EngineDep = Annotated[Engine, Depends(get_engine)]
ReaderDep = Annotated[Engine, Depends(get_reader)]
ConnDep = Annotated[Connection, Depends(get_conn)]
