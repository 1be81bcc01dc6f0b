"""The database goes away and comes back: the API answers 503 meanwhile, then recovers by itself."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from geo.db.imports import import_paths
from tests.conftest import SAMPLE
from tests.utils.proxy import Proxy


def test_503_while_the_database_is_away_then_recovery(db, db_url) -> None:
    import_paths(db, [SAMPLE / "communities.shp"])
    url = sa.engine.make_url(db_url)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        with TestClient(create_app(ApiSettings(database_url=via_proxy))) as client:
            assert client.get("/health").status_code == 200
            assert len(client.get("/communities.geojson").json()["features"]) == 4
            # a prepared statement (geo.db.prepared) on the connections that are about to break
            locate = {"lon": 111.70, "lat": 40.82}
            assert client.get("/locate", params=locate).status_code in (200, 404)
            proxy.cut()
            for path in ("/health", "/communities.geojson", "/stats/150102003000"):
                r = client.get(path)
                assert r.status_code == 503, (path, r.status_code, r.text)
            problem = client.get("/communities.geojson")
            assert problem.headers["content-type"] == "application/problem+json"
            assert problem.headers["retry-after"] == "5"
            proxy.restore()
            assert client.get("/health").status_code == 200
            assert len(client.get("/communities.geojson").json()["features"]) == 4
            # new connections prepare it again
            for _ in range(3):
                assert client.get("/locate", params=locate).status_code in (200, 404)
    finally:
        proxy.close()
