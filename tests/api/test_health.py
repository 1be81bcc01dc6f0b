from __future__ import annotations

import socket
from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from geo.db.imports import import_paths
from tests.utils import layers


def test_health_reports_the_database(client) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["database"]["postgis"].startswith("3.")
    assert body["database"]["schema"] is not None


def test_health_is_503_when_the_database_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(ApiSettings(database_url=f"postgresql://nobody@127.0.0.1:{port}/none"))
    with TestClient(app) as c:
        r = c.get("/health")
    assert r.status_code == 503
    assert r.json() == {
        "status": "degraded",
        "database": {"ok": False, "error": "OperationalError"},
    }


def test_communities_geojson(client, db, tmp_path: Path) -> None:
    import_paths(db, [layers.write_shp(layers.communities(), tmp_path / "communities.shp")])
    r = client.get("/communities.geojson")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/geo+json"
    fc = r.json()
    assert [f["properties"]["code"] for f in fc["features"]] == [layers.COMMUNITY, layers.NEIGHBOUR]
    assert fc["features"][0]["properties"]["name"] == "新华社区居委会"
    assert fc["features"][0]["properties"]["street"] == "中山东路街道"
    lon, lat = fc["features"][0]["geometry"]["coordinates"][0][0][0]
    assert abs(lon - layers.ORIGIN[0]) < 0.01 and abs(lat - layers.ORIGIN[1]) < 0.01
    assert client.get("/communities.geojson", params={"street": "150102004000"}).json()["features"] == []


def test_bad_parameter_is_a_problem_document(client) -> None:
    r = client.get("/communities.geojson", params={"street": "abc"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert "street" in r.json()["detail"]
