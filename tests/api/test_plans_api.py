"""Planners' plan endpoints, through the real app and PostGIS."""

from __future__ import annotations

import io
import zipfile

import pyogrio
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from geo.db.imports import import_paths
from geo.db.people import import_dwellings
from geo.db.users import add_user
from tests.conftest import SAMPLE, clean

COMMUNITY = "150102003001"


@pytest.fixture(scope="module")
def api(engine, db_url, tmp_path_factory):
    clean(engine)
    import_paths(engine, [SAMPLE / "communities.shp", SAMPLE / "compounds.shp", SAMPLE / "buildings.shp"])
    import_dwellings(engine, SAMPLE / "dwellings.csv")
    tokens = {
        "planner": add_user(engine, "p", "planner", ["150102003000"])[1],
        "elsewhere": add_user(engine, "q", "planner", ["150102004000"])[1],
        "worker": add_user(engine, "w", "worker", ["150102003001001"])[1],
    }
    with TestClient(create_app(ApiSettings(database_url=db_url))) as client:
        yield client, engine, {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}


def test_propose_edit_approve_export(api) -> None:
    client, engine, h = api
    assert client.post("/plans", json={"community": COMMUNITY}, headers=h["worker"]).status_code == 403
    assert client.post("/plans", json={"community": COMMUNITY}, headers=h["elsewhere"]).status_code == 403
    r = client.post("/plans", json={"community": COMMUNITY}, headers=h["planner"])
    assert r.status_code == 201, r.text
    plan_id = r.json()[0]["plan_id"]
    plan = client.get(f"/plans/{plan_id}", headers=h["planner"]).json()
    assert plan["status"] == "draft" and plan["validation"]["covered"] and plan["validation"]["all_contiguous"]
    grids = client.get(f"/plans/{plan_id}/grids.geojson", headers=h["planner"]).json()["features"]
    assert {g["properties"]["band"] for g in grids} <= {"ok", "under", "over"}
    buildings = client.get(f"/plans/{plan_id}/buildings.geojson", headers=h["planner"]).json()["features"]
    assert "name" not in str(buildings[0]["properties"].keys() - {"number"})
    # move the first building with households into the next grid's code
    b = next(f["properties"] for f in buildings if f["properties"]["households"] and not f["properties"]["part"])
    target = next(g["properties"]["code"] for g in grids if g["properties"]["code"] != b["grid_code"])
    before = {g["properties"]["code"]: g["properties"]["households"] for g in grids}
    v = client.post(f"/plans/{plan_id}/moves", json={"buildings": [b["id"]], "to": target}, headers=h["planner"])
    assert v.status_code == 200, v.text
    after = {g["code"]: g["households"] for g in v.json()["grids"]}
    assert after[target] == before[target] + b["households"]
    assert after[b["grid_code"]] == before[b["grid_code"]] - b["households"]
    bad = client.post(f"/plans/{plan_id}/moves", json={"buildings": ["NOPE"], "to": target}, headers=h["planner"])
    assert bad.status_code == 404
    bad = client.put(
        f"/plans/{plan_id}/grids/{target}/boundary", json={"geometry": {"type": "Point"}}, headers=h["planner"]
    )
    assert bad.status_code == 422
    # approve; approving again is a conflict
    assert client.post(f"/plans/{plan_id}/approve", headers=h["planner"]).status_code == 200
    again = client.post(f"/plans/{plan_id}/approve", headers=h["planner"])
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM grid_plan WHERE id = :p"), {"p": plan_id}).scalar() == "active"
        assert conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action IN ('edit', 'approve')")).scalar() == 2
    # exports
    gpkg = client.get(f"/plans/{plan_id}/export.gpkg", headers=h["planner"])
    assert gpkg.status_code == 200
    info = pyogrio.read_info(io.BytesIO(gpkg.content), layer="grids")
    assert info["features"] == len(grids) and info["crs"] == "EPSG:4490"
    z = client.get(f"/plans/{plan_id}/export.zip", params={"encoding": "GBK"}, headers=h["planner"])
    names = zipfile.ZipFile(io.BytesIO(z.content)).namelist()
    assert {"grids.shp", "grids.dbf", "grids.prj", "grids.cpg", "buildings.shp"} <= set(names)
    zf = zipfile.ZipFile(io.BytesIO(z.content))
    assert zf.read("grids.cpg").decode().strip().upper() in ("GBK", "CP936", "936")
    assert "新华社区第1网格".encode("gbk") in zf.read("grids.dbf")
