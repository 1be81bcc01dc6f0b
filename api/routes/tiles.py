"""Vector tiles (MVT) per layer, their TileJSON, with ETags, gzip and a server-side cache.

``GET /tiles/{layer}/{z}/{x}/{y}.mvt`` — layers ``communities``, ``grids``, ``compounds``,
``buildings``, ``labels`` (see :data:`geo.db.tiles.LAYERS`); ``?plan=ID`` shows that grid plan
instead of the active ones (grids, buildings' grid codes, grid labels). 204 for an empty tile.

Caching: tiles are kept gzip-compressed in an in-process LRU bounded in bytes
(``GRIDMAP_TILES_CACHE_MB`` per worker process), keyed by layer, plan and tile and tagged with
the data versions of the layer (table ``data_version``, bumped by triggers in the writing
transaction). Any write to a layer's tables therefore invalidates that whole layer, for every
worker process. Public tiles read the versions at most every ``GRIDMAP_TILES_VERSION_TTL``
seconds (default 1), so a cache hit needs no database round trip and a change shows within
that second; plan tiles (``?plan=``, drafts) read them on every request and are never stale
(draft edits bump only the ``drafts`` version, which plan tiles also carry).
"""

from __future__ import annotations

import threading
import time
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import Connection

from api.deps import EngineDep
from api.routes import styles
from geo.db import tiles
from geo.db.engine import read
from geo.errors import NotFound

router = APIRouter(tags=["tiles"])
router.include_router(styles.router)  # /styles/gridmap.json comes with the tiles

MVT = "application/vnd.mapbox-vector-tile"


class TileSettings(BaseSettings):
    """Tile serving settings (``GRIDMAP_TILES_*``)."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_TILES_", env_file=".env", extra="ignore")

    #: server-side cache size per worker process
    cache_mb: float = 64.0
    #: Cache-Control max-age of public (active-plan) tiles; plan tiles are always revalidated
    max_age: int = 60
    #: seconds a worker reuses the data versions it read for public tiles (0: read on every request)
    version_ttl: float = 1.0
    #: a glyph server URL template ({fontstack}/{range}.pbf) for text labels in the style; none by default
    glyphs: str | None = None
    font: str = "Noto Sans Regular"


_state_lock = threading.Lock()


class TileState:
    """Per-app tile state: the settings, the tile cache, the last data versions read, TileJSON bounds."""

    def __init__(self, settings: TileSettings) -> None:
        self.settings = settings
        self.cache = tiles.TileCache(int(settings.cache_mb * 1024 * 1024))
        self.bounds: dict[tuple[str, int | None, tuple[int, ...]], list[float] | None] = {}
        self._versions: dict[str, int] | None = None
        self._read_at = 0.0

    def recent_versions(self) -> dict[str, int] | None:
        """The versions read less than ``version_ttl`` seconds ago, else None (read them again)."""
        if self._versions is not None and time.monotonic() - self._read_at < self.settings.version_ttl:
            return self._versions
        return None

    def forget_versions(self) -> None:
        """Read the versions again on the next request (e.g. right after a write in this process)."""
        self._versions = None

    def read_versions(self, conn: Connection) -> dict[str, int]:
        at = time.monotonic()
        versions = tiles.read_versions(conn)
        self._versions, self._read_at = versions, at
        return versions


def tile_state(request: Request) -> TileState:
    state = getattr(request.app.state, "tiles", None)
    if state is None:
        with _state_lock:
            state = getattr(request.app.state, "tiles", None)
            if state is None:
                state = request.app.state.tiles = TileState(TileSettings())
    return state


PLAN_SQL = sa.text("SELECT status FROM grid_plan WHERE id = :id")


def select_plan(conn: Connection, request: Request, layer: tiles.Layer, plan: int | None) -> int | None:
    """The grid plan a request may see: None for the active plans, else the plan asked for.

    The one place that decides which plan's grids are served; today any existing plan may be
    asked for (an auth layer will restrict draft plans to planners here).
    """
    if plan is None or not layer.plan_aware:
        return None
    if conn.execute(PLAN_SQL, {"id": plan}).scalar_one_or_none() is None:
        raise NotFound(f"no grid plan {plan}")
    return plan


def accepts_gzip(request: Request) -> bool:
    """True when Accept-Encoding allows gzip (``gzip``, ``x-gzip`` or ``*`` with q > 0)."""
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        if coding.lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        return q > 0
    return False


def etag_matches(request: Request, etag: str) -> bool:
    """Weak comparison (RFC 9110) of If-None-Match with the tile's tag, whatever its encoding suffix."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = etag.strip('"')
    for tag in header.split(","):
        tag = tag.strip().removeprefix("W/").strip('"').removesuffix("-gz")
        if tag == bare:
            return True
    return False


def tile_response(request: Request, tile: tiles.EncodedTile, cache_control: str, status: str) -> Response:
    gz = accepts_gzip(request)
    etag = f'{tile.etag[:-1]}-gz"' if gz else tile.etag
    headers = {
        "ETag": etag,
        "Cache-Control": cache_control,
        "Vary": "Accept-Encoding",
        "X-Tile-Cache": status,
    }
    if etag_matches(request, tile.etag):
        return Response(status_code=304, headers=headers)
    if tile.empty:
        return Response(status_code=204, headers=headers)
    if gz:
        headers["Content-Encoding"] = "gzip"
        return Response(tile.gzip, media_type=MVT, headers=headers)
    return Response(tile.identity(), media_type=MVT, headers=headers)


EMPTY = tiles.EncodedTile.encode(b"")
Int = Annotated[int, Path()]
PlanQuery = Annotated[
    int | None, Query(description="a grid plan id: its grids instead of the active plans' (drafts too)")
]


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.mvt",
    summary="A vector tile (MVT) of one layer",
    response_class=Response,
    responses={
        200: {"content": {MVT: {}}, "description": "the tile (gzip when accepted)"},
        204: {"description": "the tile is empty at this zoom"},
        304: {"description": "not modified (If-None-Match)"},
        404: {"description": "unknown layer or plan"},
        422: {"description": "tile out of range"},
    },
)
async def get_tile(request: Request, layer: str, z: Int, x: Int, y: Int, plan: PlanQuery = None) -> Response:
    spec = tiles.get_layer(layer)
    tiles.check_tile(z, x, y)
    state = tile_state(request)
    if plan is None or not spec.plan_aware:
        public = f"public, max-age={state.settings.max_age}"
        if z < spec.minzoom:  # nothing to build or look up: the layer starts at a higher zoom
            return tile_response(request, EMPTY, public, "skip")
        versions = state.recent_versions()
        if versions is not None:  # the fast path: no database round trip, no thread
            tile = state.cache.get((layer, None, z, x, y), tiles.version_key(layer, versions, None))
            if tile is not None:
                return tile_response(request, tile, public, "hit")
    return await run_in_threadpool(_tile_from_database, request, spec, z, x, y, plan)


def _tile_from_database(request: Request, spec: tiles.Layer, z: int, x: int, y: int, plan: int | None) -> Response:
    """Check the plan, read the data versions, then answer from the cache or build the tile (it is
    compressed after its connection went back to the pool)."""
    state = tile_state(request)
    key, versions, cache_control, found = read(
        request.app.state.reader, _read_tile, request, state, spec, z, x, y, plan
    )
    if isinstance(found, tiles.EncodedTile):
        return tile_response(request, found, cache_control, "skip" if found is EMPTY else "hit")
    tile = tiles.EncodedTile.encode(found)
    state.cache.put(key, versions, tile)
    return tile_response(request, tile, cache_control, "miss")


def _read_tile(
    conn: Connection, request: Request, state: TileState, spec: tiles.Layer, z: int, x: int, y: int, plan: int | None
) -> tuple[tiles.TileKey, tuple[int, ...], str, tiles.EncodedTile | bytes]:
    """(cache key, data versions, Cache-Control, the cached tile or the MVT bytes just built)."""
    plan_id = select_plan(conn, request, spec, plan)
    cache_control = f"public, max-age={state.settings.max_age}" if plan_id is None else "private, no-cache"
    key = (spec.name, plan_id, z, x, y)
    if z < spec.minzoom:
        return key, (), cache_control, EMPTY
    # public tiles: the versions read within version_ttl, as the cache-hit path uses them (a
    # tile built meanwhile from newer rows is stored under the older key, so it is rebuilt once
    # the new versions are read); plan tiles read them every time (drafts are never stale)
    recent = state.recent_versions() if plan_id is None else None
    versions = tiles.version_key(spec.name, recent or state.read_versions(conn), plan_id)
    tile = state.cache.get(key, versions)
    if tile is not None:
        return key, versions, cache_control, tile
    return key, versions, cache_control, tiles.build_tile(conn, spec.name, z, x, y, plan_id)


def tile_url(request: Request, layer: str, plan: int | None) -> str:
    base = str(request.base_url).rstrip("/")
    query = f"?plan={plan}" if plan is not None else ""
    return f"{base}/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt{query}"


def tilejson(request: Request, conn: Connection, state: TileState, layer: str, plan: int | None) -> dict:
    """The TileJSON 3.0.0 document of one layer (bounds from the data, cached per data version)."""
    spec = tiles.get_layer(layer)
    versions = tiles.version_key(layer, state.read_versions(conn), plan)
    bkey = (layer, plan, versions)
    if bkey not in state.bounds:
        if len(state.bounds) > 256:
            state.bounds.clear()
        state.bounds[bkey] = tiles.layer_bounds(conn, layer, plan)
    bounds = state.bounds[bkey] or [-180.0, -85.051129, 180.0, 85.051129]
    zoom = min(spec.maxzoom, max(spec.minzoom, 14))
    return {
        "tilejson": "3.0.0",
        "name": f"GridMap {layer}",
        "description": spec.description,
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [tile_url(request, layer, plan)],
        "minzoom": spec.minzoom,
        "maxzoom": spec.maxzoom,
        "bounds": bounds,
        "center": [round((bounds[0] + bounds[2]) / 2, 7), round((bounds[1] + bounds[3]) / 2, 7), zoom],
        "vector_layers": [
            {
                "id": layer,
                "description": spec.description,
                "minzoom": spec.minzoom,
                "maxzoom": spec.maxzoom,
                "fields": spec.fields,
            }
        ],
    }


@router.get("/tiles/{layer}.json", summary="TileJSON 3.0.0 of one tile layer")
def get_tilejson(request: Request, engine: EngineDep, layer: str, plan: PlanQuery = None) -> JSONResponse:
    spec = tiles.get_layer(layer)
    state = tile_state(request)
    with engine.connect() as conn:
        plan_id = select_plan(conn, request, spec, plan)
        doc = tilejson(request, conn, state, layer, plan_id)
    return JSONResponse(doc, headers={"Cache-Control": "no-cache"})
