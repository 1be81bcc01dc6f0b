"""Queries and personal-data access through the real app, over the balanced sample street."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from geo.crs import wgs84_to_gcj02
from tests.api.conftest import h

STREET = "150102003000"


def one(engine, q: str, **p):
    with engine.connect() as conn:
        return conn.execute(sa.text(q), p).first()


def building_in(world, grid_code: str):
    return one(
        world["engine"],
        """
        SELECT b.ext_id, ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) AS lat
        FROM grid_assignment a JOIN grid g ON g.id = a.grid_id JOIN grid_plan p ON p.id = a.plan_id
        AND p.status = 'active' JOIN building b ON b.id = a.building_id
        WHERE g.code = :g AND a.households > 0 AND a.part = '' ORDER BY b.ext_id LIMIT 1""",
        g=grid_code,
    )


def test_locate_in_wgs84_and_gcj02(world) -> None:
    b = building_in(world, world["grid_a"])
    c = world["client"]
    r = c.get("/locate", params={"lon": b.lon, "lat": b.lat})
    assert r.status_code == 200
    body = r.json()
    assert body["grid_code"] == world["grid_a"]
    assert (body["community"], body["street"], body["district"]) == ("新华社区居委会", "中山东路街道", "新城区")
    glon, glat = wgs84_to_gcj02(b.lon, b.lat)
    assert abs(glon - b.lon) > 1e-3  # the offset is hundreds of metres
    assert (
        c.get("/locate", params={"lon": float(glon), "lat": float(glat), "crs": "gcj02"}).json()["grid_code"]
        == world["grid_a"]
    )
    assert c.get("/locate", params={"lon": 100.0, "lat": 30.0}).status_code == 404
    bad = c.get("/locate", params={"lon": "east", "lat": 40})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_grid_figures_match_the_database(world) -> None:
    code = world["grid_a"]
    body = world["client"].get(f"/grids/{code}").json()
    expected = one(
        world["engine"],
        """
        SELECT count(DISTINCT d.id) AS dwellings, count(p.id) AS residents FROM grid g
        JOIN grid_plan pl ON pl.id = g.plan_id AND pl.status = 'active'
        JOIN grid_assignment a ON a.grid_id = g.id JOIN dwelling d ON d.building_id = a.building_id
             AND part_covers(a.part, d.unit, d.floor)
        LEFT JOIN person p ON p.dwelling_id = d.id AND p.status = 'active' WHERE g.code = :c""",
        c=code,
    )
    assert (body["dwellings"], body["residents"]) == (expected.dwellings, expected.residents)
    assert body["name"].startswith("新华社区第") and body["boundary"]["type"] == "MultiPolygon"
    assert "crs" not in body["boundary"]  # RFC 7946: coordinates are lon/lat, no crs member
    assert sum(body["care_groups"].values()) >= 0 and "id_number" not in str(body)
    assert world["client"].get("/grids/150102003001999").status_code == 404
    assert world["client"].get("/grids/12345").status_code == 422


def test_building_table_access_and_masking(world) -> None:
    c, eng = world["client"], world["engine"]
    mine = building_in(world, world["grid_a"]).ext_id
    theirs = building_in(world, world["grid_b"]).ext_id
    url = f"/buildings/{mine}/table"
    assert c.get(url).status_code == 401
    assert c.get(url, headers=h(world, "sync")).status_code == 403
    r = c.get(url, headers=h(world, "worker"))
    assert r.status_code == 200
    table = r.json()
    dwellings = one(
        eng, "SELECT count(*) FROM dwelling d JOIN building b ON b.id = d.building_id WHERE b.ext_id = :b", b=mine
    )[0]
    assert table["dwellings"] == dwellings
    residents = [p for u in table["table"] for f in u["floors"] for d in f["dwellings"] for p in d["residents"]]
    assert residents and all("*" in p["id_number"] for p in residents)
    assert len(residents) == table["residents"]
    # another grid's building: 403, not an empty table
    denied = c.get(f"/buildings/{theirs}/table", headers=h(world, "worker"))
    assert denied.status_code == 403 and denied.headers["content-type"] == "application/problem+json"
    assert c.get(url, headers=h(world, "other_planner")).status_code == 403
    viewer = c.get(url, headers=h(world, "viewer")).json()
    names = [p["name"] for u in viewer["table"] for f in u["floors"] for d in f["dwellings"] for p in d["residents"]]
    assert all("*" in n for n in names)
    admin = c.get(url, headers=h(world, "admin")).json()
    ids_ = [p["id_number"] for u in admin["table"] for f in u["floors"] for d in f["dwellings"] for p in d["residents"]]
    assert all("*" not in i and len(i) == 18 for i in ids_)
    audits = one(
        eng, "SELECT count(*) FROM audit_log WHERE resource = :r AND user_name = 'worker'", r=f"building/{mine}/table"
    )[0]
    assert audits == 1
    assert c.get("/buildings/NOPE/table", headers=h(world, "admin")).status_code == 404


@pytest.mark.parametrize(
    "q",
    ["长青家园1号楼1单元101", "长青家园1-1-101", "长青家园１－１－１０１", "长青家园一号楼1单元101室", "1号楼1单元101"],
)
def test_address_search_is_tolerant(world, q: str) -> None:
    r = world["client"].get("/search/addresses", params={"q": q}, headers=h(world, "admin"))
    assert r.status_code == 200
    items = r.json()["items"]
    if "长青" in q:
        assert [i["address"][-14:] for i in items] == ["长青家园1号楼1单元101室"]
    else:  # no compound named: every 1号楼 1单元 101 of the street
        assert len(items) > 3 and all(i["address"].endswith("1号楼1单元101室") for i in items)


def test_person_search_by_id_outside_scope_is_403(world, keys) -> None:
    c, eng = world["client"], world["engine"]
    outsider = one(
        eng,
        """
        SELECT p.id_cipher FROM person p JOIN dwelling d ON d.id = p.dwelling_id JOIN grid_assignment a
        ON a.building_id = d.building_id JOIN grid g ON g.id = a.grid_id JOIN grid_plan pl ON pl.id = a.plan_id
        AND pl.status = 'active' WHERE g.code = :g LIMIT 1""",
        g=world["grid_b"],
    ).id_cipher
    id_number = keys.decrypt(outsider)
    assert c.post("/search/persons", json={"q": id_number}, headers=h(world, "worker")).status_code == 403
    found = c.post("/search/persons", json={"q": id_number}, headers=h(world, "planner")).json()["items"]
    assert len(found) == 1 and found[0]["id_number"] == id_number[:6] + "********" + id_number[-4:]
    assert id_number not in str(one(eng, "SELECT string_agg(a::text, '') FROM audit_log a")[0])
    # a name search by a worker only returns residents of the worker's grid
    items = c.post("/search/persons", json={"q": "王", "limit": 100}, headers=h(world, "worker"))
    assert items.status_code == 422
    items = c.post("/search/persons", json={"q": "王建", "limit": 100}, headers=h(world, "worker")).json()["items"]
    assert all(world["grid_a"] in p["grids"] for p in items)


def test_drill_down_adds_up(world) -> None:
    c = world["client"]
    district = c.get("/stats/150102000000").json()
    street = next(k for k in district["children"] if k["code"] == STREET)
    s = c.get(f"/stats/{STREET}").json()
    assert s["households"] == street["households"] and s["residents"] == street["residents"]
    assert [k["code"] for k in s["children"]] == [f"15010200300{i}" for i in range(1, 5)]
    community = c.get("/stats/150102003001").json()
    assert community["grids"] == len(community["children"]) and community["children"][0]["level"] == "grid"
    assert sum(k["households"] for k in community["children"]) == s["children"][0]["households"]
    city = c.get("/stats/150100000000").json()
    assert 0.99 < city["link_rate"] < 1.0
    assert c.get("/stats/150102003999").status_code == 404


def test_grid_worker_shows_on_locate_and_grid(world) -> None:
    from geo.db.workers import add_worker, seed_sample_workers
    from geo.errors import InvalidInput, NotFound

    eng, c = world["engine"], world["client"]
    add_worker(eng, "乌兰其其格", world["grid_a"], "13912345678")
    b = building_in(world, world["grid_a"])
    assert c.get("/locate", params={"lon": b.lon, "lat": b.lat}).json()["worker"] == "乌兰其其格"
    assert c.get(f"/grids/{world['grid_a']}").json()["worker"] == {"name": "乌兰其其格", "phone": "13912345678"}
    add_worker(eng, "巴特尔", world["grid_a"], "13912345679")  # replaces the previous worker
    assert c.get(f"/grids/{world['grid_a']}").json()["worker"]["name"] == "巴特尔"
    with pytest.raises(InvalidInput, match="mobile"):
        add_worker(eng, "x", world["grid_a"], "12345")
    with pytest.raises(NotFound, match="no grid"):
        add_worker(eng, "x", "150102003001999")
    added = seed_sample_workers(eng)
    with eng.connect() as conn:
        grids = conn.execute(
            sa.text(
                "SELECT count(*) FROM grid g JOIN grid_plan p ON p.id = g.plan_id "
                "AND p.status = 'active' WHERE g.kind = 'basic'"
            )
        ).scalar()
    assert added == grids - 1 and seed_sample_workers(eng) == 0
