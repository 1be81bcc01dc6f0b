"""Mapbox vector tiles built in PostGIS, the data versions that invalidate them, and a byte-bounded cache.

Every layer is one SQL statement (``geo/db/sql/tile_<layer>.sql``) with bound parameters: the
tile's envelope in the storage CRS (EPSG:4490, lon/lat; :func:`tile_params`) filters through the GiST
index; from z12 the features' lon/lat are mapped linearly onto the tile's lon/lat box (no
per-feature transform; Mercator's curvature inside one tile stays below half a tile unit, see
``tile_communities.sql``), below z12 they are transformed to Web Mercator; ``ST_AsMVTGeom`` clips
and quantises, ``ST_AsMVT`` encodes. Which features a zoom shows is
decided by zoom, never by a row limit: a layer answers nothing below its ``minzoom`` (buildings
are specks there; the ``labels`` layer carries the overview points instead).

Invalidation: ``data_version`` (migration 0002) holds one counter per layer, bumped by
statement-level triggers inside the writing transaction. A tile's cache key carries the versions it
depends on, read before the tile is built, so a cached tile is never older than its key.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cache

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.db import prepared
from geo.errors import InvalidInput, NotFound

MAX_ZOOM = 22
#: MVT extent (units per tile side) and buffer (units) used by every layer's SQL
EXTENT = 4096
BUFFER = 64
#: half the EPSG:3857 world width
WORLD = 20037508.342789244


@dataclass(frozen=True)
class Layer:
    """A tile layer: what it shows, from which zoom, with which attributes."""

    name: str
    description: str
    minzoom: int
    #: the zoom clients should stop requesting at (TileJSON maxzoom); above it they over-zoom.
    #: The endpoint itself serves every zoom up to MAX_ZOOM.
    maxzoom: int
    fields: dict[str, str]
    geometry: str
    #: data_version rows the layer's content depends on
    depends: tuple[str, ...]
    #: True when ``?plan=`` selects which plan's grids the layer shows
    plan_aware: bool = False
    #: tables whose extent gives the TileJSON bounds
    bounds_sql: str = ""
    notes: list[str] = field(default_factory=list)


LAYERS: dict[str, Layer] = {
    "communities": Layer(
        "communities",
        "Community (社区/嘎查村) boundaries at every zoom, simplified to half a tile unit.",
        0,
        16,
        {
            "code": "String: 12-digit division code (also the feature id)",
            "name": "String: community name",
            "street_code": "String: 12-digit street (街道/苏木乡镇) code",
            "street": "String: street name",
        },
        "polygon",
        ("communities",),
        bounds_sql="SELECT ST_Extent(geom) FROM admin_area WHERE level = 'village' AND geom IS NOT NULL",
    ),
    "grids": Layer(
        "grids",
        "Grids (网格) of the active plans (or of ?plan=ID); from z12. Feature id: the grid id.",
        12,
        16,
        {
            "code": "String: 15-digit grid code",
            "name": "String: grid name",
            "kind": "String: basic, dedicated or micro",
            "households": "Number: households in the grid",
            "community_code": "String: 12-digit community code",
            "plan_id": "Number: the grid plan",
        },
        "polygon",
        ("grids",),
        plan_aware=True,
        bounds_sql=(
            "SELECT ST_Extent(g.geom) FROM grid g JOIN grid_plan p ON p.id = g.plan_id "
            "WHERE CASE WHEN CAST(:plan AS integer) IS NULL THEN p.status = 'active' ELSE p.id = :plan END"
        ),
    ),
    "compounds": Layer(
        "compounds",
        "Walled residential compounds (小区); from z13. Feature id: the compound id.",
        13,
        16,
        {
            "ext_id": "String: the compound's id in its community",
            "name": "String: compound name",
            "community_code": "String: 12-digit community code",
        },
        "polygon",
        ("compounds",),
        bounds_sql="SELECT ST_Extent(geom) FROM compound",
    ),
    "buildings": Layer(
        "buildings",
        "Building footprints (楼栋) from z14 with household counts and grid codes; never personal data. "
        "Feature id: the building id.",
        14,
        18,
        {
            "number": "String: building number (楼号)",
            "name": "String: building name",
            "floors": "Number: floors above ground",
            "use": "String: residential, bungalow, commercial, school, office, hospital or other",
            "households": "Number: dwellings in the building (planned dwellings when none are recorded)",
            "grid": "String: grid code(s) in the active plan (or ?plan=ID), comma-separated for a split tower",
        },
        "polygon",
        ("buildings",),
        plan_aware=True,
        bounds_sql="SELECT ST_Extent(geom) FROM building",
    ),
    "labels": Layer(
        "labels",
        "Label points by zoom: community names z0-12, grid codes and households z13-15, building numbers z16+.",
        0,
        18,
        {
            "kind": "String: community, grid or building",
            "code": "String: community code, grid code or building ext_id",
            "label": "String: the text to show",
            "households": "Number: households (grids only)",
        },
        "point",
        ("labels",),
        plan_aware=True,
        bounds_sql="SELECT ST_Extent(geom) FROM admin_area WHERE level = 'village' AND geom IS NOT NULL",
    ),
}


def get_layer(name: str) -> Layer:
    """The layer called ``name``; :class:`NotFound` for any other name."""
    try:
        return LAYERS[name]
    except KeyError:
        raise NotFound(f"no tile layer {name!r}; layers: {', '.join(LAYERS)}") from None


def check_tile(z: int, x: int, y: int) -> None:
    """Raise :class:`InvalidInput` unless 0 <= z <= 22 and 0 <= x, y < 2^z."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(f"zoom {z} is out of range: 0 to {MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise InvalidInput(f"tile {z}/{x}/{y} does not exist: at zoom {z}, x and y are 0 to {n - 1}")


def unit_metres(z: int) -> float:
    """One MVT unit (1/4096 of a tile side) in EPSG:3857 metres at zoom ``z``."""
    return 2 * WORLD / (1 << z) / EXTENT


def tile_params(z: int, x: int, y: int, plan: int | None = None) -> dict[str, float | int | None]:
    """The binds of every ``tile_*.sql``: the tile, its lon/lat box with and without the buffer, tolerances."""
    n = 1 << z
    margin = BUFFER / EXTENT

    def lon(tx: float) -> float:
        return tx / n * 360.0 - 180.0

    def lat(ty: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * ty / n))))

    return {
        "z": z,
        "x": x,
        "y": y,
        "w": lon(x),
        "e": lon(x + 1),
        "n": lat(y),
        "s": lat(y + 1),
        "bw": lon(x - margin),
        "be": lon(x + 1 + margin),
        "bn": lat(max(y - margin, 0)),
        "bs": lat(min(y + 1 + margin, n)),
        "tol": unit_metres(z),
        "tol_deg": 360.0 / n / EXTENT,
        "plan": plan,
    }


#: the binds of :func:`tile_params` and their PostgreSQL types (the statements are prepared)
TILE_BINDS = tuple((p, "integer" if p in ("z", "x", "y", "plan") else "float8") for p in tile_params(0, 0, 0))


@cache
def _statement(layer: str) -> prepared.Prepared:
    """The layer's SQL as a server-side prepared statement: parsing and planning a tile query cost
    PostgreSQL about 0.3 ms, a fifth of a typical tile. The plan is generic after five runs;
    its plan/no-plan branch is a one-time filter, and the envelope goes through the GiST index."""
    return prepared.from_file(f"gridmap_tile_{layer}", f"tile_{layer}", TILE_BINDS)


def build_tile(conn: Connection, layer: str, z: int, x: int, y: int, plan: int | None = None) -> bytes:
    """The MVT bytes of one layer's tile (``b""`` when the tile holds nothing at that zoom)."""
    spec = get_layer(layer)
    check_tile(z, x, y)
    if z < spec.minzoom:
        return b""
    data = _statement(layer).execute(conn, tile_params(z, x, y, plan)).scalar_one()
    return bytes(data) if data else b""


VERSIONS_SQL = sa.text("SELECT layer, version FROM data_version")


def read_versions(conn: Connection) -> dict[str, int]:
    """Every layer's data version (one tiny query)."""
    return {layer: int(v) for layer, v in conn.execute(VERSIONS_SQL)}


def version_key(layer: str, versions: dict[str, int], plan: int | None) -> tuple[int, ...]:
    """The versions ``layer``'s tiles depend on; a plan's tiles also depend on the drafts counter."""
    deps = LAYERS[layer].depends + (("drafts",) if plan is not None else ())
    return tuple(versions.get(d, 0) for d in deps)


def layer_bounds(conn: Connection, layer: str, plan: int | None = None) -> list[float] | None:
    """[west, south, east, north] of the layer's data (EPSG:4490 ≈ WGS 84 degrees), or None when empty."""
    spec = get_layer(layer)
    box = conn.execute(
        sa.text(f"SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM ({spec.bounds_sql}) AS q(b)"),
        {"plan": plan},
    ).one()
    if box[0] is None:
        return None
    return [round(float(v), 7) for v in box]


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ tile holding a point at zoom ``z``."""
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    r = math.radians(lat)
    y = int((1.0 - math.asinh(math.tan(r)) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


# --------------------------------------------------------------------------------------------
# encoded tiles and the cache


#: gzip level of served tiles (see EncodedTile.encode)
GZIP_LEVEL = 1


@dataclass(frozen=True)
class EncodedTile:
    """A tile as served: gzip bytes (empty for an empty tile) and a strong ETag of the MVT bytes."""

    gzip: bytes
    etag: str

    @property
    def empty(self) -> bool:
        return not self.gzip

    def identity(self) -> bytes:
        return gzip.decompress(self.gzip) if self.gzip else b""

    @classmethod
    def encode(cls, mvt: bytes) -> EncodedTile:
        digest = hashlib.blake2b(mvt, digest_size=12).hexdigest()
        # level 1: a 260 KB building tile compresses in 1.9 ms instead of 6.8 ms (level 6) for 7 %
        # more bytes; on an uncached tile that is most of the time left after the database
        body = gzip.compress(mvt, compresslevel=GZIP_LEVEL, mtime=0) if mvt else b""
        return cls(body, f'"{digest}"')


TileKey = tuple[str, int | None, int, int, int]


class TileCache:
    """An in-process LRU of encoded tiles, bounded by the bytes it holds.

    Keyed by (layer, plan, z, x, y); each entry remembers the data versions it was built from, and
    a lookup with other versions is a miss (the entry is replaced when the new tile is stored), so
    invalidation is per layer: any change to a layer's tables makes all of that layer's tiles miss.
    """

    #: bookkeeping bytes counted per entry on top of the tile bytes
    OVERHEAD = 200

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[TileKey, tuple[tuple[int, ...], EncodedTile]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: TileKey, versions: tuple[int, ...]) -> EncodedTile | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != versions:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: TileKey, versions: tuple[int, ...], tile: EncodedTile) -> None:
        size = len(tile.gzip) + self.OVERHEAD
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                if old[0] > versions:  # a slower request built an older tile: keep the newer one
                    self._entries[key] = old
                    return
                self.bytes -= len(old[1].gzip) + self.OVERHEAD
            self._entries[key] = (versions, tile)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.bytes -= len(dropped.gzip) + self.OVERHEAD

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self._entries),
            "bytes": self.bytes,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "misses": self.misses,
        }
