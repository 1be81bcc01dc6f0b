"""The sample street loaded into the test database: layers, dwellings, persons, balanced grids."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo.db import plans
from geo.db.imports import import_paths
from geo.db.people import import_dwellings, import_persons
from geo.privacy import PersonKeys
from tests.conftest import SAMPLE, clean

STREET = "150102003000"
LAYERS = [SAMPLE / "communities.shp", SAMPLE / "compounds.shp", SAMPLE / "buildings.shp"]


def load_street(
    engine: Engine, keys: PersonKeys | None = None, *, people: bool = True, balance: bool = True, approve: bool = True
) -> list[dict]:
    """Empty the database and load the sample street; returns the draft (or approved) plan summaries."""
    clean(engine)
    import_paths(engine, LAYERS)
    if people:
        import_dwellings(engine, SAMPLE / "dwellings.csv")
        if keys is not None:
            import_persons(engine, SAMPLE / "persons.csv", keys=keys)
    rows: list[dict] = []
    if balance:
        with engine.connect() as conn:
            codes = plans.community_codes(conn, street=STREET)
        rows = plans.balance(engine, codes, jobs=2, created_by="test")
        if approve:
            for r in rows:
                plans.approve(engine, r["plan_id"], approved_by="test")
    with engine.begin() as conn:  # as autovacuum would soon after a bulk load
        conn.execute(sa.text("ANALYZE"))
    return rows
