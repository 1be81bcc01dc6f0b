"""Server-side prepared statements for the hottest read queries.

psycopg2 sends every statement as text, so PostgreSQL plans it on every call; for the API's point
lookup and grid figures, planning costs about as much as running them. A statement registered
here is ``PREPARE``d once per database connection (remembered in the pooled connection's
``info``) and then ``EXECUTE``d: PostgreSQL re-plans it by itself after schema changes, and a new
connection (after a restart, say) prepares it again.

Behind a pooler that hands each transaction to another server connection (PgBouncer in
transaction mode), named prepared statements do not survive: set ``GRIDMAP_PREPARED=0`` there
and the statements are sent as plain text.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.db.copy import sql


@dataclass(frozen=True)
class Prepared:
    """A statement from ``geo/db/sql/<file>.sql`` with ``:name`` binds, prepared as ``name``."""

    name: str
    text: str
    params: tuple[tuple[str, str], ...]  # (bind name, PostgreSQL type), in $n order

    def prepare_sql(self) -> str:
        body = self.text
        for i, (p, _type) in enumerate(self.params, start=1):
            body = re.sub(rf"(?<![:\w]):{p}\b", f"${i}", body)
        types = ", ".join(t for _p, t in self.params)
        return f"PREPARE {self.name} ({types}) AS {body}"

    def execute(self, conn: Connection, values: dict[str, Any]) -> Any:
        """Run it on ``conn`` (preparing it first on a new connection); returns the cursor result."""
        if not enabled():
            return conn.execute(sa.text(self.text), {p: values[p] for p, _t in self.params})
        info = conn.connection.info
        done = info.setdefault("gridmap_prepared", set())
        if self.name not in done:
            # no_parameters: psycopg2 gets no binds and leaves any % (in SQL comments) alone; through
            # SQLAlchemy, so that a dead connection is recognised (invalidated, and retried by reads)
            conn.execution_options(no_parameters=True).exec_driver_sql(self.prepare_sql())
            done.add(self.name)
        marks = ", ".join(["%s"] * len(self.params))
        return conn.exec_driver_sql(f"EXECUTE {self.name} ({marks})", tuple(values[p] for p, _t in self.params))


def enabled() -> bool:
    """False when ``GRIDMAP_PREPARED`` is 0, false, no or off."""
    return os.environ.get("GRIDMAP_PREPARED", "1").strip().lower() not in ("0", "false", "no", "off")


def from_file(name: str, file: str, params: tuple[tuple[str, str], ...], wrap: str = "{}") -> Prepared:
    """``wrap`` puts the file's query into a larger one (``{}`` marks where)."""
    return Prepared(name, wrap.format(sql(file).strip().rstrip(";")), params)
