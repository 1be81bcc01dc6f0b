"""The database goes away and comes back: the API answers 503 meanwhile, then recovers by itself."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from geo.db.imports import import_paths
from geo.db.tiles import lonlat_to_tile
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


@pytest.mark.parametrize("ping_idle", [0.0, 3600.0], ids=["pinged", "retried"])
def test_single_reads_survive_a_restart_without_an_error(db, db_url, ping_idle, monkeypatch) -> None:
    """The hot reads (tiles, point lookup) use pooled autocommit connections that are not pinged
    when recently used. After the database came back, their first request still answers: a dead
    connection is either caught by the idle ping (replaced before use) or, when trusted, the read
    runs again on a fresh connection. Neither path is a 503."""
    import_paths(db, [SAMPLE / "communities.shp"])
    url = sa.engine.make_url(db_url)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = ApiSettings(database_url=via_proxy, ping_idle=ping_idle)
    monkeypatch.setenv("GRIDMAP_TILES_CACHE_MB", "0")  # every tile request reads the database
    monkeypatch.setenv("GRIDMAP_TILES_VERSION_TTL", "3600")  # and its first statement is the tile's
    locate = {"lon": 111.70, "lat": 40.82}
    tile = "/tiles/communities/14/{}/{}.mvt".format(*lonlat_to_tile(locate["lon"], locate["lat"], 14))
    try:
        with TestClient(create_app(settings), headers={"Accept-Encoding": "gzip"}) as client:
            before = client.get(tile)
            assert before.status_code == 200 and before.headers["x-tile-cache"] == "miss"
            assert client.get("/locate", params=locate).status_code in (200, 404)
            reader = client.app.state.reader
            assert reader.pool.checkedin() >= 1  # the connections about to die
            errors: list[BaseException] = []
            sa.event.listen(reader, "handle_error", lambda ctx: errors.append(ctx.original_exception))
            proxy.cut()  # every open connection dies
            proxy.restore()
            # first a layer not prepared yet on these connections: its PREPARE meets the dead one
            unprepared = client.get(tile.replace("/communities/", "/compounds/"))
            assert unprepared.status_code in (200, 204) and unprepared.headers["x-tile-cache"] == "miss"
            after = client.get(tile)
            assert after.status_code == 200 and after.headers["x-tile-cache"] == "miss", after.text
            assert after.headers["etag"] == before.headers["etag"]
            assert client.get("/locate", params=locate).status_code in (200, 404)
            # pinged: the dead connection never ran a statement; retried: it failed once, then no more
            assert len(errors) == (0 if ping_idle == 0 else 1), errors
    finally:
        proxy.close()
