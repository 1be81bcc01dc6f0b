"""The building row's tile columns (migration 0004) follow every change that public tiles show."""

from __future__ import annotations

import sqlalchemy as sa

from geo.db import plans
from geo.db.imports import import_paths
from geo.db.people import import_dwellings
from tests.conftest import SAMPLE

XINHUA = "150102003001"

TRUTH = """
    SELECT b.id,
           coalesce(b.tile_households, b.planned_dwellings) AS shown_hh,
           coalesce(nullif((SELECT count(*) FROM dwelling d WHERE d.building_id = b.id), 0), b.planned_dwellings) AS hh,
           b.tile_grid AS shown_grid,
           (SELECT string_agg(DISTINCT g.code, ',' ORDER BY g.code) FROM grid_assignment a
            JOIN grid g ON g.id = a.grid_id JOIN grid_plan p ON p.id = a.plan_id
            WHERE a.building_id = b.id AND p.status = 'active' AND p.community_code = b.community_code) AS grid
    FROM building b"""


def mismatches(engine) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(TRUTH)).all()
    assert rows
    return [r for r in rows if (r.shown_hh, r.shown_grid) != (r.hh, r.grid)]


def one(engine, q: str, **p):
    with engine.connect() as conn:
        return conn.execute(sa.text(q), p).one()


def test_tile_columns_follow_imports_approvals_moves_and_dwellings(db) -> None:
    import_paths(db, [SAMPLE / "communities.shp", SAMPLE / "compounds.shp", SAMPLE / "buildings.shp"])
    assert not mismatches(db)  # planned dwellings, no grid
    import_dwellings(db, SAMPLE / "dwellings.csv")
    assert not mismatches(db)
    assert one(db, "SELECT count(*) FROM building WHERE tile_households IS NOT NULL")[0] > 0

    first = plans.balance(db, [XINHUA], jobs=1, created_by="test")[0]["plan_id"]
    assert one(db, "SELECT count(*) FROM building WHERE tile_grid IS NOT NULL")[0] == 0  # a draft shows nowhere
    plans.approve(db, first)
    assert not mismatches(db)
    assert one(db, "SELECT count(*) FROM building WHERE tile_grid IS NOT NULL")[0] > 0

    # a re-balance draft: moving a building there changes nothing public, approving it does
    second = plans.balance(db, [XINHUA], jobs=1, created_by="test", rebalance=True)[0]["plan_id"]
    b_id, code = one(
        db,
        "SELECT b.ext_id, b.tile_grid FROM building b JOIN grid_assignment a ON a.building_id = b.id "
        "WHERE a.plan_id = :p AND a.part = '' AND a.households > 0 ORDER BY b.ext_id LIMIT 1",
        p=second,
    )
    other = one(
        db, "SELECT code FROM grid WHERE plan_id = :p AND code <> :c AND kind = 'basic' ORDER BY code LIMIT 1",
        p=second, c=code,
    )[0]  # fmt: skip
    plans.move_buildings(db, second, [b_id], other)
    assert one(db, "SELECT tile_grid FROM building WHERE ext_id = :b", b=b_id)[0] == code
    plans.approve(db, second)
    assert one(db, "SELECT tile_grid FROM building WHERE ext_id = :b", b=b_id)[0] == other
    assert not mismatches(db)

    # a building moved to another community (its boundary unknown here, so the move is allowed)
    # takes its grid from that community's plans: it has none
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE admin_area SET geom = NULL, geom_hash = NULL WHERE code = '150102003002'"))
        conn.execute(sa.text("UPDATE building SET community_code = '150102003002' WHERE ext_id = :b"), {"b": b_id})
    assert one(db, "SELECT tile_grid FROM building WHERE ext_id = :b", b=b_id)[0] is None
    assert not mismatches(db)

    # dwellings deleted, moved to another building, added: the counts follow
    with db.begin() as conn:
        a, b = conn.execute(
            sa.text("SELECT building_id FROM dwelling GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2")
        ).scalars()
        conn.execute(
            sa.text("DELETE FROM dwelling WHERE id IN (SELECT id FROM dwelling WHERE building_id = :a LIMIT 3)"),
            {"a": a},
        )
        conn.execute(
            sa.text(
                "UPDATE dwelling SET building_id = :b, room = 'moved-' || id WHERE id IN (SELECT id FROM dwelling WHERE building_id = :a LIMIT 2)"
            ),
            {"a": a, "b": b},
        )
    assert not mismatches(db)
    with db.begin() as conn:
        conn.execute(sa.text("DELETE FROM dwelling WHERE building_id = :a"), {"a": a})
    assert one(db, "SELECT tile_households FROM building WHERE id = :a", a=a)[0] is None  # planned dwellings shown
    assert not mismatches(db)
    with db.begin() as conn:
        conn.execute(sa.text("TRUNCATE dwelling CASCADE"))
    assert not mismatches(db)
