"""GET /grids/{code}/map: public without a token, residents with one, within scope, audited."""

from __future__ import annotations

import sqlalchemy as sa

from tests.api.conftest import h


def resident_name(world, grid_code: str) -> str:
    with world["engine"].connect() as conn:
        return conn.execute(
            sa.text("""
            SELECT p.name FROM person p JOIN dwelling d ON d.id = p.dwelling_id
            JOIN grid_assignment a ON a.building_id = d.building_id AND part_covers(a.part, d.unit, d.floor)
            JOIN grid g ON g.id = a.grid_id JOIN grid_plan pl ON pl.id = a.plan_id AND pl.status = 'active'
            WHERE g.code = :g AND length(p.name) = 3 ORDER BY p.id LIMIT 1"""),
            {"g": grid_code},
        ).scalar_one()


def test_public_map_has_no_residents(world) -> None:
    c, code = world["client"], world["grid_a"]
    r = c.get(f"/grids/{code}/map")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert code in r.text
    assert resident_name(world, code) not in r.text
    assert '<script src="http' not in r.text


def test_worker_map_shows_own_residents_and_403_elsewhere(world) -> None:
    c, eng = world["client"], world["engine"]
    code, other = world["grid_a"], world["grid_b"]
    r = c.get(f"/grids/{code}/map", headers=h(world, "worker"))
    assert r.status_code == 200
    assert resident_name(world, code) in r.text
    assert resident_name(world, other) not in r.text
    assert c.get(f"/grids/{other}/map", headers=h(world, "worker")).status_code == 403
    viewer = c.get(f"/grids/{code}/map", headers=h(world, "viewer")).text
    assert resident_name(world, code) not in viewer
    with eng.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM audit_log WHERE resource = :r AND user_name = 'worker'"),
                {"r": f"grid/{code}/map"},
            ).scalar()
            == 1
        )
    assert c.get(f"/grids/{code}/map", headers={"Authorization": "Bearer nope"}).status_code == 401
