"""Grid plans against PostGIS: balance the sample street, validate, edit, approve, re-balance."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from shapely import wkb as shapely_wkb

from geo.db import plans
from geo.db.imports import import_paths
from geo.db.people import import_dwellings
from geo.errors import Conflict
from tests.conftest import SAMPLE, clean

STREET = "150102003000"
XINHUA = "150102003001"
TUANJIE = "150102003004"  # 229 households: one under-sized grid


@pytest.fixture(scope="module")
def street(engine):
    clean(engine)
    import_paths(engine, [SAMPLE / "communities.shp", SAMPLE / "compounds.shp", SAMPLE / "buildings.shp"])
    import_dwellings(engine, SAMPLE / "dwellings.csv")
    with engine.connect() as conn:
        codes = plans.community_codes(conn, street=STREET)
    rows = plans.balance(engine, codes, jobs=2, created_by="test")
    return engine, {r["community_code"]: r for r in rows}


def scalar(engine, q: str, **p):
    with engine.connect() as conn:
        return conn.execute(sa.text(q), p).scalar_one()


def test_drafts_cover_every_community_exactly_with_contiguous_grids(street) -> None:
    engine, rows = street
    assert sorted(rows) == ["150102003001", "150102003002", "150102003003", "150102003004"]
    for code, r in rows.items():
        with engine.connect() as conn:
            v = plans.validate(conn, r["plan_id"])
        assert v["covered"], (code, v["gap_m2"], v["overlap_m2"])
        assert v["all_contiguous"], code
        assert not [c for c in v["compounds_split"] if c["avoidable"]], code
        households = scalar(engine, "SELECT sum(households) FROM grid WHERE plan_id = :p", p=r["plan_id"])
        assert households == r["households"]
        # every building with households is assigned exactly once (parts of split towers aside)
        assert scalar(
            engine, "SELECT count(DISTINCT building_id) FROM grid_assignment WHERE plan_id = :p", p=r["plan_id"]
        ) == scalar(engine, "SELECT count(*) FROM building WHERE community_code = :c", c=code)
    big = [r for c, r in rows.items() if c != TUANJIE]
    assert sum(r["in_band_share"] * r["grids"] for r in big) / sum(r["grids"] for r in big) >= 0.9
    assert rows[TUANJIE]["grids"] == 1 and "229" in rows[TUANJIE]["explanation"]


def test_codes_are_community_code_plus_sequence(street) -> None:
    engine, rows = street
    with engine.connect() as conn:
        codes = (
            conn.execute(
                sa.text("SELECT code FROM grid WHERE plan_id = :p ORDER BY code"), {"p": rows[XINHUA]["plan_id"]}
            )
            .scalars()
            .all()
        )
    assert codes == [f"{XINHUA}{i:03d}" for i in range(1, len(codes) + 1)]


def test_move_building_changes_counts_and_revalidates(street) -> None:
    engine, rows = street
    plan = rows[XINHUA]["plan_id"]
    with engine.connect() as conn:
        # a building with households on the boundary between two grids of the draft
        b_id, from_code, to_code, hh = conn.execute(
            sa.text("""
            SELECT b.ext_id, g1.code, g2.code, a1.households
            FROM grid_assignment a1 JOIN grid_assignment a2 ON a2.plan_id = a1.plan_id AND a2.grid_id <> a1.grid_id
                 AND ST_Intersects(a1.cell, a2.cell) AND ST_Length(ST_Intersection(a1.cell, a2.cell)) > 0
            JOIN grid g1 ON g1.id = a1.grid_id JOIN grid g2 ON g2.id = a2.grid_id
            JOIN building b ON b.id = a1.building_id
            WHERE a1.plan_id = :p AND a1.households > 0 AND a1.part = ''
            ORDER BY a1.households LIMIT 1"""),
            {"p": plan},
        ).one()
        before = dict(conn.execute(sa.text("SELECT code, households FROM grid WHERE plan_id = :p"), {"p": plan}).all())
    v = plans.move_buildings(engine, plan, [b_id], to_code)
    after = {g["code"]: g["households"] for g in v["grids"]}
    assert after[from_code] == before[from_code] - hh
    assert after[to_code] == before[to_code] + hh
    assert v["covered"]
    with engine.connect() as conn:
        moved_to = conn.execute(
            sa.text(
                "SELECT g.code FROM grid_assignment a JOIN grid g ON g.id = a.grid_id JOIN building b ON b.id = a.building_id "
                "WHERE a.plan_id = :p AND b.ext_id = :b"
            ),
            {"p": plan, "b": b_id},
        ).scalar_one()
        inside = conn.execute(
            sa.text(
                "SELECT ST_Covers(g.geom, ST_PointOnSurface(b.geom)) FROM grid g, building b "
                "WHERE g.plan_id = :p AND g.code = :c AND b.ext_id = :b"
            ),
            {"p": plan, "c": to_code, "b": b_id},
        ).scalar_one()
    assert moved_to == to_code and inside
    plans.move_buildings(engine, plan, [b_id], from_code)  # undo
    with engine.connect() as conn:
        assert plans.validate(conn, plan)["grids"] == [
            {**g, "households": before[g["code"]]} for g in plans.validate(conn, plan)["grids"]
        ]


def test_set_boundary_reassigns_by_containment(street) -> None:
    engine, rows = street
    plan = rows[XINHUA]["plan_id"]
    with engine.connect() as conn:
        code, grown = conn.execute(
            sa.text("""
            SELECT g.code, ST_AsBinary(ST_Union(g.geom, n.geom)) FROM grid g JOIN grid n ON n.plan_id = g.plan_id
            AND n.code > g.code AND ST_Length(ST_Intersection(ST_Boundary(g.geom), ST_Boundary(n.geom))) > 0
            WHERE g.plan_id = :p ORDER BY g.code, n.code LIMIT 1"""),
            {"p": plan},
        ).one()
    polygon = shapely_wkb.loads(bytes(grown))
    v = plans.set_boundary(engine, plan, code, polygon)
    assert v["covered"]
    with engine.connect() as conn:
        outside = conn.execute(
            sa.text(
                "SELECT count(*) FROM grid_assignment a JOIN building b ON b.id = a.building_id JOIN grid g ON g.id = a.grid_id "
                "WHERE a.plan_id = :p AND ST_Covers(ST_GeomFromWKB(:poly, 4490), ST_PointOnSurface(b.geom)) "
                "AND g.code <> :c"
            ),
            {"p": plan, "poly": bytes(grown), "c": code},
        ).scalar_one()
    assert outside == 0


def test_approve_is_atomic_and_concurrent_approvals_conflict(street) -> None:
    engine, rows = street
    code = "150102003003"
    first = rows[code]["plan_id"]
    plans.approve(engine, first, approved_by="test")
    # two drafts made against the same active plan, approved at the same time
    a, b = (plans.balance(engine, [code], rebalance=True, created_by="t")[0]["plan_id"] for _ in range(2))
    results: dict[int, object] = {}
    barrier = threading.Barrier(2)

    def go(pid: int) -> None:
        barrier.wait()
        try:
            results[pid] = plans.approve(engine, pid, approved_by="t")
        except Conflict as exc:
            results[pid] = exc

    threads = [threading.Thread(target=go, args=(p,)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(r).__name__ for r in results.values()) == ["Conflict", "dict"]
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(sa.text("SELECT id, status FROM grid_plan WHERE id = ANY(:ids)"), {"ids": [first, a, b]}).all()
        )
    winner = next(p for p, r in results.items() if isinstance(r, dict))
    assert statuses[first] == "retired" and statuses[winner] == "active"
    assert statuses[a if winner == b else b] == "draft"
    assert scalar(engine, "SELECT count(*) FROM grid_plan WHERE community_code = :c AND status = 'active'", c=code) == 1
    # the retired plan stays queryable
    assert scalar(engine, "SELECT count(*) FROM grid WHERE plan_id = :p", p=first) > 0


def test_rebalance_keeps_codes_and_households(street) -> None:
    engine, rows = street
    code = "150102003002"
    plans.approve(engine, rows[code]["plan_id"], approved_by="test")
    with engine.begin() as conn:  # 5% more households in a few buildings: new dwellings
        conn.execute(
            sa.text("""
            INSERT INTO dwelling (building_id, unit, floor, room, use)
            SELECT b.id, 1, 99, 'N' || g, 'owner' FROM (
                SELECT id FROM building WHERE community_code = :c AND use = 'residential' ORDER BY ext_id LIMIT 3) b,
                generate_series(1, 70) g"""),
            {"c": code},
        )
    r = plans.balance(engine, [code], rebalance=True, created_by="t")[0]
    d = plans.diff(engine, r["plan_id"])
    assert d["households_kept_share"] >= 0.9
    with engine.connect() as conn:
        old = set(
            conn.execute(sa.text("SELECT code FROM grid WHERE plan_id = :p"), {"p": rows[code]["plan_id"]}).scalars()
        )
    assert len(set(d["grids_kept"]) & old) >= len(old) - 1
    plans.approve(engine, r["plan_id"])
    retired = set(d["grids_removed"])
    for code_ in retired:  # never reused: the registry marks it retired
        assert scalar(engine, "SELECT retired_at IS NOT NULL FROM grid_code_registry WHERE code = :c", c=code_)


def test_discard_and_only_drafts_are_editable(street) -> None:
    engine, rows = street
    code = TUANJIE
    plans.approve(engine, rows[code]["plan_id"])
    with pytest.raises(Conflict, match="only drafts can be edited"):
        plans.move_buildings(engine, rows[code]["plan_id"], ["B000001"], f"{code}001")
    new = plans.balance(engine, [code], rebalance=True)[0]["plan_id"]
    plans.discard(engine, new)
    with pytest.raises(Conflict, match="discarded"):
        plans.approve(engine, new)
