"""Vector tiles, TileJSON and the MapLibre style against PostGIS, through the real app.

The first tests share the sample street (layers, dwellings, persons, balanced and approved grids),
loaded once; the later ones start from emptied tables with small hand-made layers.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import mapbox_vector_tile
import pandas as pd
import pytest
import shapely
import shapely.geometry
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.main import create_app
from api.routes.tiles import TileSettings, TileState
from api.settings import ApiSettings
from geo.db import plans
from geo.db import tiles as tiles_sql
from geo.db.imports import import_paths
from geo.db.people import import_dwellings, import_persons
from geo.db.tiles import LAYERS, EncodedTile, TileCache, check_tile, lonlat_to_tile
from geo.errors import InvalidInput
from tests.conftest import SAMPLE, clean
from tests.utils import layers

STREET = "150102003000"
XINHUA = "150102003001"
CENTRE = (111.687, 40.8175)  # inside the sample street
FAR = (116.39, 39.91)  # Beijing: no GridMap data
PROBLEM = "application/problem+json"
IDENTITY = {"Accept-Encoding": "identity"}


def tile_at(lonlat: tuple[float, float], z: int) -> tuple[int, int, int]:
    return (z, *lonlat_to_tile(*lonlat, z))


def tiles_covering(bounds: list[float], z: int) -> list[tuple[int, int, int]]:
    x0, y1 = lonlat_to_tile(bounds[0], bounds[1], z)
    x1, y0 = lonlat_to_tile(bounds[2], bounds[3], z)
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def decode(r) -> dict:
    assert r.status_code == 200, (r.status_code, r.text[:200])
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    return mapbox_vector_tile.decode(r.content)


def get(client: TestClient, layer: str, t: tuple[int, int, int], **kw):
    z, x, y = t
    return client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", **kw)


def features(client: TestClient, layer: str, t: tuple[int, int, int], **kw) -> list[dict]:
    r = get(client, layer, t, **kw)
    if r.status_code == 204:
        return []
    return decode(r)[layer]["features"]


# --------------------------------------------------------------------------------------------
# the sample street


@pytest.fixture(scope="module")
def street(engine, keys):
    """The sample street with dwellings, residents and approved grids."""
    clean(engine)
    import_paths(engine, [SAMPLE / "communities.shp", SAMPLE / "compounds.shp", SAMPLE / "buildings.shp"])
    import_dwellings(engine, SAMPLE / "dwellings.csv")
    import_persons(engine, SAMPLE / "persons.csv", keys=keys)
    with engine.connect() as conn:
        codes = plans.community_codes(conn, street=STREET)
    for row in plans.balance(engine, codes, jobs=1, created_by="test"):
        plans.approve(engine, row["plan_id"], approved_by="test")
    return engine


def exact_versions(c: TestClient, **settings) -> TestClient:
    """Tiles of this client read the data versions on every request (no TTL), unless told otherwise."""
    c.app.state.tiles = TileState(TileSettings(**{"version_ttl": 0, **settings}))
    return c


@pytest.fixture(scope="module")
def sample(street, db_url: str):
    with TestClient(create_app(ApiSettings(database_url=db_url))) as c:
        yield exact_versions(c)


@pytest.fixture
def tiles_client(client) -> TestClient:
    return exact_versions(client)


def query(engine, q: str, **params) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.text(q), params).all()


def test_each_layer_shows_what_its_zoom_needs(sample) -> None:
    z12 = tile_at(CENTRE, 12)
    communities = features(sample, "communities", z12)
    assert sorted(f["properties"]["code"] for f in communities) == [
        "150102003001",
        "150102003002",
        "150102003003",
        "150102003004",
    ]
    assert {f["properties"]["street"] for f in communities} == {"中山东路街道"}
    assert all(f["id"] == int(f["properties"]["code"]) for f in communities)
    for z in (10, 12, 13):  # footprints would be specks: no building layer at all
        r = get(sample, "buildings", tile_at(CENTRE, z))
        assert r.status_code == 204 and r.content == b""
    assert features(sample, "buildings", tile_at(CENTRE, 16))
    assert get(sample, "grids", tile_at(CENTRE, 11)).status_code == 204
    assert features(sample, "grids", tile_at(CENTRE, 12))
    assert get(sample, "compounds", tile_at(CENTRE, 12)).status_code == 204
    assert features(sample, "compounds", tile_at(CENTRE, 13))
    assert features(sample, "communities", tile_at(CENTRE, 3))  # generalised, never dropped


def test_no_building_is_lost_at_any_building_zoom(sample, street) -> None:
    """Layers are chosen by zoom, never truncated: the tiles of a zoom hold every building."""
    (n,) = query(street, "SELECT count(*) FROM building")[0]
    bounds = sample.get("/tiles/buildings.json").json()["bounds"]
    for z in (14, 16):
        seen: set[int] = set()
        for t in tiles_covering(bounds, z):
            seen |= {f["id"] for f in features(sample, "buildings", t)}
        assert len(seen) == n == 582, z


def test_building_attributes_households_and_grid_codes(sample, street) -> None:
    feats = features(sample, "buildings", tile_at(CENTRE, 15))
    assert len(feats) > 20
    ids = [f["id"] for f in feats]
    truth = {
        r.id: r
        for r in query(
            street,
            "SELECT b.id, b.number, b.floors, b.planned_dwellings, "
            "(SELECT count(*) FROM dwelling d WHERE d.building_id = b.id) AS dwellings, "
            "(SELECT string_agg(DISTINCT g.code, ',') FROM grid_assignment a JOIN grid g ON g.id = a.grid_id "
            " JOIN grid_plan p ON p.id = a.plan_id WHERE a.building_id = b.id AND p.status = 'active') AS grid "
            "FROM building b WHERE b.id = ANY(:ids)",
            ids=ids,
        )
    }
    with_grid = 0
    for f in feats:
        p, t = f["properties"], truth[f["id"]]
        assert set(p) <= set(LAYERS["buildings"].fields), p
        assert "id" not in p  # the building id is the feature id, not repeated as an attribute
        assert p["floors"] == t.floors
        assert p.get("number") == t.number
        expected = t.dwellings or t.planned_dwellings
        assert p.get("households") == expected
        assert p.get("grid") == t.grid
        with_grid += t.grid is not None
    assert with_grid > 0
    assert any(t.dwellings for t in truth.values())


def test_no_personal_data_in_any_tile(sample, street) -> None:
    persons = pd.read_csv(SAMPLE / "persons.csv", dtype=str, keep_default_na=False)
    secrets = set(persons["name"]) | set(persons["id_number"]) | {p for p in persons.get("phone", []) if p}
    secrets |= {r[0] for r in query(street, "SELECT id_masked FROM person")}
    seen_keys: dict[str, set[str]] = {}
    for layer in LAYERS:
        for z in (12, 14, 16):
            for f in features(sample, layer, tile_at(CENTRE, z)):
                seen_keys.setdefault(layer, set()).update(f["properties"])
                for v in f["properties"].values():
                    assert not (isinstance(v, str) and v in secrets), (layer, v)
    for layer, keys in seen_keys.items():
        assert keys <= set(LAYERS[layer].fields), (layer, keys - set(LAYERS[layer].fields))
    assert set(seen_keys) == set(LAYERS)


EXACT_SQL = """
SELECT ST_AsMVT(t, 'exact', 4096, 'geom', 'fid') FROM (
    SELECT {fid} AS fid, ST_AsMVTGeom(ST_Transform({geom}, 3857), ST_TileEnvelope(:z, :x, :y), 4096, 64, true) AS geom
    FROM {table} WHERE {geom} && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.015625), 4490) {where}
) AS t WHERE t.geom IS NOT NULL
"""


def _coords(geometry: dict) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []

    def walk(c) -> None:  # noqa: ANN001
        if isinstance(c[0], (int, float)):
            out.append((c[0], c[1]))
        else:
            for part in c:
                walk(part)

    walk(geometry["coordinates"])
    return out


@pytest.mark.parametrize(
    ("layer", "z", "table", "fid", "where", "tolerance"),
    [
        ("buildings", 14, "building", "id", "", 1),
        ("buildings", 17, "building", "id", "", 1),
        ("communities", 12, "admin_area", "CAST(code AS bigint)", "AND level = 'village'", 2),
        ("communities", 8, "admin_area", "CAST(code AS bigint)", "AND level = 'village'", 2),
    ],
)
def test_geometry_matches_web_mercator(sample, street, layer, z, table, fid, where, tolerance) -> None:
    """The served geometry is within a tile unit or two (simplification) of an exact EPSG:3857 encoding."""
    zz, x, y = tile_at(CENTRE, z)
    sql = EXACT_SQL.format(fid=fid, geom="geom", table=table, where=where)
    with street.connect() as conn:
        exact = mapbox_vector_tile.decode(bytes(conn.execute(sa.text(sql), {"z": zz, "x": x, "y": y}).scalar_one()))
    want = {f["id"]: _coords(f["geometry"]) for f in exact["exact"]["features"]}
    got = {f["id"]: _coords(f["geometry"]) for f in features(sample, layer, (zz, x, y))}
    assert want and set(got) == set(want)
    for k, pts in got.items():
        gx, gy = zip(*pts, strict=True)
        wx, wy = zip(*want[k], strict=True)
        for a, b in ((min(gx), min(wx)), (max(gx), max(wx)), (min(gy), min(wy)), (max(gy), max(wy))):
            assert abs(a - b) <= tolerance, (layer, z, k)


REFERENCE_SQL = """
SELECT id, ST_AsText(ST_AsMVTGeom(geom, ST_MakeBox2D(ST_Point(:w, :s), ST_Point(:e, :n)), 4096, 64, true)),
       min_clearance >= 2 * GREATEST(:e - :w, :n - :s) / 4096
FROM building WHERE geom && ST_MakeEnvelope(:bw, :bs, :be, :bn, 4490)
"""


@pytest.mark.parametrize("z", [14, 15, 16, 17, 18])
def test_building_footprints_are_those_of_st_asmvtgeom(sample, street, z) -> None:
    """Most footprints take the fast path (affine map and snap, no clip-and-validate; migration
    0007): each is the same polygon ST_AsMVTGeom makes, valid, with its rings turned the same way."""
    t = tile_at(CENTRE, z)
    r = get(sample, "buildings", t)
    assert r.status_code == 200, r.text
    tile = mapbox_vector_tile.decode(r.content, default_options={"y_coord_down": True})  # as encoded
    served = {f["id"]: f["geometry"] for f in tile["buildings"]["features"]}
    with street.connect() as conn:
        rows = conn.execute(sa.text(REFERENCE_SQL), tiles_sql.tile_params(*t)).all()
    reference = {fid: shapely.from_wkt(wkt) for fid, wkt, _ in rows if wkt}
    assert served and set(served) == set(reference)
    assert sum(bool(fast) for *_, fast in rows) > 0.8 * len(rows)  # the fast path is what is tested
    for fid, want in reference.items():
        got = shapely.geometry.shape(served[fid])
        assert got.is_valid and got.equals(want), (z, fid, got.wkt, want.wkt)
        assert [p.exterior.is_ccw for p in _polygons(got)] == [p.exterior.is_ccw for p in _polygons(want)], fid


def _polygons(g) -> list:
    return list(g.geoms) if g.geom_type == "MultiPolygon" else [g]


@pytest.mark.parametrize("layer", list(LAYERS))
def test_each_feature_is_encoded_once(sample, layer) -> None:
    """ST_AsMVTGeom (most of a busy tile's cost) runs once per feature: the layer's subquery is not
    flattened into the aggregate, whose FILTER would otherwise compute the geometry a second time."""
    stmt = tiles_sql._statement(layer)
    params = tiles_sql.tile_params(*tile_at(CENTRE, 15))
    with sample.app.state.engine.connect() as conn:
        plan = conn.execute(sa.text("EXPLAIN (VERBOSE) " + stmt.text), params).scalars().all()
    aggregate = next(line for line in plan if "Output: st_asmvt(" in line)
    assert "st_asmvtgeom" not in aggregate.removeprefix("  Output: st_asmvt(").lower(), aggregate


def test_labels_change_with_zoom(sample) -> None:
    def kinds(z: int) -> set[str]:
        return {f["properties"]["kind"] for f in features(sample, "labels", tile_at(CENTRE, z))}

    assert kinds(8) == kinds(12) == {"community"}
    assert kinds(13) == kinds(15) == {"grid"}
    assert kinds(16) == kinds(18) == {"building"}
    grids = features(sample, "labels", tile_at(CENTRE, 14))
    assert all(len(f["properties"]["code"]) == 15 and f["properties"]["households"] > 0 for f in grids)
    assert all(f["geometry"]["type"] == "Point" for f in grids)
    names = {f["properties"]["label"] for f in features(sample, "labels", tile_at(CENTRE, 11))}
    assert "新华社区居委会" in names


def test_empty_tile_is_204(sample) -> None:
    for layer in LAYERS:
        r = get(sample, layer, tile_at(FAR, 16))
        assert r.status_code == 204, layer
        assert r.content == b""
        assert r.headers["etag"]


def test_errors_are_problem_documents(sample) -> None:
    r = sample.get("/tiles/roads/14/0/0.mvt")
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
    assert "roads" in r.json()["detail"]
    for path in (
        "/tiles/buildings/23/0/0.mvt",
        "/tiles/buildings/-1/0/0.mvt",
        "/tiles/buildings/3/8/0.mvt",
        "/tiles/buildings/3/0/8.mvt",
        "/tiles/buildings/3/-1/0.mvt",
        "/tiles/buildings/0/1/1.mvt",
        "/tiles/buildings/14/x/0.mvt",
        "/tiles/buildings/99999999999999999999/0/0.mvt",
    ):
        r = sample.get(path)
        assert r.status_code == 422, path
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["status"] == 422
    r = sample.get("/tiles/grids/14/0/0.mvt", params={"plan": 999999})
    assert r.status_code == 404 and "plan" in r.json()["detail"]
    assert sample.get("/tiles/roads.json").status_code == 404
    assert sample.get("/tiles/buildings/22/0/0.mvt").status_code == 204  # z22 is valid


def test_etag_and_304(sample) -> None:
    t = tile_at(CENTRE, 16)
    first = get(sample, "grids", t, headers=IDENTITY)
    again = get(sample, "grids", t, headers=IDENTITY)
    assert first.status_code == again.status_code == 200
    assert again.headers["x-tile-cache"] == "hit"
    assert first.headers["etag"] == again.headers["etag"]
    assert first.content == again.content
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert "Accept-Encoding" in first.headers["vary"]
    etag = first.headers["etag"]
    for tag in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r = get(sample, "grids", t, headers={**IDENTITY, "If-None-Match": tag})
        assert r.status_code == 304, tag
        assert r.content == b""
        assert r.headers["etag"] == etag
    assert get(sample, "grids", t, headers={**IDENTITY, "If-None-Match": '"other"'}).status_code == 200


def test_gzip_when_accepted(sample) -> None:
    t = tile_at(CENTRE, 15)
    plain = get(sample, "buildings", t, headers=IDENTITY)
    assert "content-encoding" not in plain.headers
    with sample.stream("GET", "/tiles/buildings/{}/{}/{}.mvt".format(*t), headers={"Accept-Encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
        assert r.headers["content-encoding"] == "gzip"
        gz_etag = r.headers["etag"]
    assert raw[:2] == b"\x1f\x8b" and len(raw) < len(plain.content)
    assert gzip.decompress(raw) == plain.content
    assert gz_etag != plain.headers["etag"]  # one tag per representation
    # the gzip tag revalidates too (weak comparison)
    assert get(sample, "buildings", t, headers={"If-None-Match": gz_etag}).status_code == 304
    assert get(sample, "buildings", t, headers={"Accept-Encoding": "gzip;q=0"}).headers.get("content-encoding") is None


def test_tilejson(sample) -> None:
    for layer, spec in LAYERS.items():
        r = sample.get(f"/tiles/{layer}.json")
        assert r.status_code == 200
        doc = r.json()
        assert doc["tilejson"] == "3.0.0"
        assert doc["tiles"] == [f"http://testserver/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt"]
        assert (doc["minzoom"], doc["maxzoom"]) == (spec.minzoom, spec.maxzoom)
        w, s, e, n = doc["bounds"]
        assert 111.6 < w < e < 111.8 and 40.7 < s < n < 40.9, doc["bounds"]
        assert w <= doc["center"][0] <= e and s <= doc["center"][1] <= n
        (vl,) = doc["vector_layers"]
        assert vl["id"] == layer and vl["fields"] == spec.fields
    plan = query(sample.app.state.engine, "SELECT id FROM grid_plan WHERE status = 'active' LIMIT 1")[0][0]
    doc = sample.get("/tiles/grids.json", params={"plan": plan}).json()
    assert doc["tiles"][0].endswith(f".mvt?plan={plan}")


def test_style_draws_every_layer_from_this_server(sample) -> None:
    style = sample.get("/styles/gridmap.json").json()
    assert style["version"] == 8
    assert set(style["sources"]) == set(LAYERS)
    for name, src in style["sources"].items():
        assert src["type"] == "vector"
        assert src["url"] == f"http://testserver/tiles/{name}.json"
        assert sample.get(src["url"]).status_code == 200
    ids = [lyr["id"] for lyr in style["layers"]]
    assert len(ids) == len(set(ids))
    assert style["layers"][0]["type"] == "background"
    drawn = set()
    for lyr in style["layers"][1:]:
        assert lyr["type"] in ("fill", "line", "circle", "symbol")
        assert lyr["source"] in style["sources"]
        assert lyr["source-layer"] == lyr["source"]
        drawn.add(lyr["source"])
    assert drawn == set(LAYERS)
    assert "glyphs" not in style and all(lyr["type"] != "symbol" for lyr in style["layers"])
    w, s, e, n = sample.get("/tiles/communities.json").json()["bounds"]
    assert w < style["center"][0] < e and s < style["center"][1] < n

    glyphs = "https://fonts.example/{fontstack}/{range}.pbf"
    with_text = sample.get("/styles/gridmap.json", params={"glyphs": glyphs}).json()
    assert with_text["glyphs"] == glyphs
    symbols = [lyr for lyr in with_text["layers"] if lyr["type"] == "symbol"]
    assert symbols and all("text-field" in lyr["layout"] and lyr["layout"]["text-font"] for lyr in symbols)


def test_draft_tiles_are_fresh_and_do_not_disturb_public_tiles(sample, street) -> None:
    t = tile_at(CENTRE, 16)
    public = get(sample, "grids", t)
    assert get(sample, "grids", t).headers["x-tile-cache"] == "hit"
    (row,) = plans.balance(street, [XINHUA], rebalance=True, created_by="test")
    draft = row["plan_id"]
    drafted = {f["properties"]["code"] for f in features(sample, "grids", t, params={"plan": draft})}
    assert drafted and all(c.startswith(XINHUA) for c in drafted)
    r = get(sample, "grids", t, params={"plan": draft})
    assert r.headers["cache-control"] == "private, no-cache"
    # a building of the tile moved to another grid of the draft: the draft's tile shows it at once
    feats = features(sample, "buildings", t, params={"plan": draft})
    mine = [f for f in feats if (f["properties"].get("grid") or "").startswith(XINHUA)]
    assert mine
    (ext_id,) = query(street, "SELECT ext_id FROM building WHERE id = :i", i=mine[0]["id"])[0]
    codes = [c for (c,) in query(street, "SELECT code FROM grid WHERE plan_id = :p ORDER BY code", p=draft)]
    target = next(c for c in codes if c != mine[0]["properties"]["grid"])
    plans.move_buildings(street, draft, [ext_id], target)
    moved = {f["id"]: f["properties"].get("grid") for f in features(sample, "buildings", t, params={"plan": draft})}
    assert moved[mine[0]["id"]] == target
    # draft edits leave the public tiles cached and unchanged
    again = get(sample, "grids", t)
    assert again.headers["x-tile-cache"] == "hit" and again.content == public.content
    # approving the draft changes the public layers at once
    plans.approve(street, draft, approved_by="test")
    after = get(sample, "buildings", t)
    assert after.headers["x-tile-cache"] == "miss"
    grids_now = {f["id"]: f["properties"].get("grid") for f in decode(after)["buildings"]["features"]}
    assert grids_now[mine[0]["id"]] == target
    assert get(sample, "grids", t).headers["x-tile-cache"] == "miss"


# --------------------------------------------------------------------------------------------
# hand-made layers (each test starts from emptied tables)


def test_import_invalidates_the_building_layer(tiles_client, db, tmp_path: Path) -> None:
    import_paths(db, [layers.write_shp(layers.communities(), tmp_path / "communities.shp")])
    b = layers.buildings(6)
    import_paths(db, [layers.write_shp(b, tmp_path / "buildings.shp")])
    t = tile_at(layers.ORIGIN, 17)
    first = get(tiles_client, "buildings", t)
    assert {f["properties"]["floors"] for f in decode(first)["buildings"]["features"]} == {6}
    again = get(tiles_client, "buildings", t)
    assert again.headers["x-tile-cache"] == "hit" and again.headers["etag"] == first.headers["etag"]
    communities_before = get(tiles_client, "communities", t)
    assert get(tiles_client, "communities", t).headers["x-tile-cache"] == "hit"

    b.loc[0, "层数"] = 18
    (report,) = import_paths(db, [layers.write_shp(b, tmp_path / "buildings2.shp")])
    assert report.updated == 1
    changed = get(tiles_client, "buildings", t, headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200
    assert changed.headers["x-tile-cache"] == "miss"
    assert changed.headers["etag"] != first.headers["etag"]
    floors = {f["properties"]["number"]: f["properties"]["floors"] for f in decode(changed)["buildings"]["features"]}
    assert floors["1号楼"] == 18
    # whole-layer granularity: other layers keep their cached tiles
    still = get(tiles_client, "communities", t)
    assert still.headers["x-tile-cache"] == "hit" and still.content == communities_before.content


def test_dwellings_change_household_counts(tiles_client, db, tmp_path: Path) -> None:
    import_paths(db, [layers.write_shp(layers.communities(), tmp_path / "communities.shp")])
    import_paths(db, [layers.write_shp(layers.buildings(2), tmp_path / "buildings.shp")])
    t = tile_at(layers.ORIGIN, 17)
    before = {f["properties"]["number"]: f["properties"]["households"] for f in features(tiles_client, "buildings", t)}
    assert before == {"1号楼": 36, "2号楼": 36}  # planned dwellings: no dwelling rows yet
    with db.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO dwelling (building_id, unit, floor, room) "
                "SELECT id, 1, f, f || '01' FROM building, generate_series(1, 5) AS f WHERE ext_id = 'B0000'"
            )
        )
    after = {f["properties"]["number"]: f["properties"]["households"] for f in features(tiles_client, "buildings", t)}
    assert after == {"1号楼": 5, "2号楼": 36}


def test_public_tiles_reuse_versions_for_the_ttl(client, db, tmp_path: Path) -> None:
    """Within the version TTL a cache hit needs no database; the change shows once it is over."""
    exact_versions(client, version_ttl=600)
    import_paths(db, [layers.write_shp(layers.communities(), tmp_path / "communities.shp")])
    b = layers.buildings(2)
    import_paths(db, [layers.write_shp(b, tmp_path / "buildings.shp")])
    t = tile_at(layers.ORIGIN, 17)
    first = get(client, "buildings", t)
    b.loc[0, "层数"] = 9
    import_paths(db, [layers.write_shp(b, tmp_path / "buildings2.shp")])
    soon = get(client, "buildings", t)
    assert soon.headers["x-tile-cache"] == "hit" and soon.content == first.content
    client.app.state.tiles.forget_versions()  # what the TTL running out does
    later = get(client, "buildings", t)
    assert later.headers["x-tile-cache"] == "miss" and later.content != first.content
    assert 9 in {f["properties"]["floors"] for f in decode(later)["buildings"]["features"]}
    # plan tiles read the versions on every request: never stale
    r = get(client, "grids", tile_at(layers.ORIGIN, 15), params={"plan": 1})
    assert r.status_code == 404 and "plan" in r.json()["detail"]


def test_the_cache_stays_within_its_byte_bound() -> None:
    cache = TileCache(max_bytes=10_000)
    tile = EncodedTile.encode(bytes(range(256)) * 20)
    size = len(tile.gzip) + TileCache.OVERHEAD
    n = 10_000 // size
    for i in range(n + 5):
        cache.put(("buildings", None, 16, i, 0), (1,), tile)
        assert cache.bytes <= cache.max_bytes
    assert len(cache) == n
    assert cache.get(("buildings", None, 16, 0, 0), (1,)) is None  # the oldest went first
    assert cache.get(("buildings", None, 16, n + 4, 0), (1,)) == tile
    assert cache.get(("buildings", None, 16, n + 4, 0), (2,)) is None  # another data version: a miss
    cache.put(("buildings", None, 16, n + 4, 0), (2,), EncodedTile.encode(b""))
    cache.put(("buildings", None, 16, n + 4, 0), (1,), tile)  # an older build never replaces a newer one
    assert cache.get(("buildings", None, 16, n + 4, 0), (2,)).empty
    cache.put(("x", None, 0, 0, 0), (1,), EncodedTile(b"x" * 20_000, '"big"'))  # larger than the cache
    assert cache.bytes <= cache.max_bytes and cache.get(("x", None, 0, 0, 0), (1,)) is None


def test_tile_ranges() -> None:
    check_tile(0, 0, 0)
    check_tile(22, 2**22 - 1, 2**22 - 1)
    for z, x, y in [(23, 0, 0), (-1, 0, 0), (1, 2, 0), (1, 0, 2), (2, -1, 0)]:
        with pytest.raises(InvalidInput):
            check_tile(z, x, y)
    assert lonlat_to_tile(0.0, 0.0, 1) == (1, 1)
    x, y = lonlat_to_tile(*CENTRE, 16)
    n = 2**16
    assert math.isclose((x + 0.5) / n * 360 - 180, CENTRE[0], abs_tol=360 / n)


def test_footprints_with_fine_details_stay_valid_in_every_tile(tiles_client, db, tmp_path: Path) -> None:
    """A comb-shaped footprint whose slots (0.1 m) are finer than two tile units up to z17: snapped
    naively its slots close into touching walls. Its minimum clearance sends it through
    ST_AsMVTGeom there, so every zoom serves a valid polygon, the one ST_AsMVTGeom makes."""
    import_paths(db, [layers.write_shp(layers.communities(), tmp_path / "communities.shp")])
    x, y = layers.to_gk(*layers.ORIGIN)
    comb = shapely.geometry.box(x, y, x + 30, y + 12)
    for i in range(8):
        left = x + 2 + i * 3.37
        comb = comb.difference(shapely.geometry.box(left, y + 2, left + 0.1, y + 12.5))
    frame = layers.buildings(1).set_geometry([comb])
    import_paths(db, [layers.write_shp(frame, tmp_path / "buildings.shp")])
    for z in range(14, 19):
        t = tile_at(layers.ORIGIN, z)
        r = get(tiles_client, "buildings", t)
        (feature,) = mapbox_vector_tile.decode(r.content, default_options={"y_coord_down": True})["buildings"][
            "features"
        ]
        with db.connect() as conn:
            ((_, wkt, fast),) = conn.execute(sa.text(REFERENCE_SQL), tiles_sql.tile_params(*t)).all()
        got = shapely.geometry.shape(feature["geometry"])
        assert got.is_valid and got.equals(shapely.from_wkt(wkt)), (z, got.wkt)
        assert bool(fast) == (z >= 18), z  # slots of 0.1 m are two tile units wide from z18 on


def test_the_fast_path_relies_on_valid_footprints(db) -> None:
    """Minimum clearance proves nothing of a self-crossing footprint (a bow-tie's is large): the
    fast path relies on the table refusing invalid footprints (the import makes them valid)."""
    lon, lat = layers.ORIGIN
    d = 0.0003
    bowtie = f"MULTIPOLYGON((({lon} {lat},{lon + d} {lat + d},{lon + d} {lat},{lon} {lat + d},{lon} {lat})))"
    with db.connect() as conn:
        assert conn.execute(
            sa.text("SELECT ST_MinimumClearance(ST_GeomFromText(:g)) > :d / 2"), {"g": bowtie, "d": d}
        ).scalar()
        with pytest.raises(sa.exc.IntegrityError, match="building_geom_check"):
            conn.execute(
                sa.text(
                    "INSERT INTO building (ext_id, community_code, floors, geom_hash, geom) "
                    "VALUES ('X1', :c, 6, 'x', ST_GeomFromText(:g, 4490))"
                ),
                {"c": layers.COMMUNITY, "g": bowtie},
            )
