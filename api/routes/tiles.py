"""Vector tiles (MVT) per layer, their TileJSON, with ETags, gzip and a server-side cache.

``GET /tiles/{layer}/{z}/{x}/{y}.mvt`` — layers ``communities``, ``grids``, ``compounds``,
``buildings``, ``labels`` (see :data:`geo.db.tiles.LAYERS`); ``?plan=ID`` shows that grid plan
instead of the active ones (grids, buildings' grid codes, grid labels). 204 for an empty tile.

Caching: tiles are kept gzip-compressed in an in-process LRU bounded in bytes
(``GRIDMAP_TILES_CACHE_MB``), keyed by layer, plan and tile and tagged with the data versions of
the layer (table ``data_version``, bumped by triggers in the writing transaction, read on every
request). Any write to a layer's tables therefore invalidates that whole layer, at once and for
every worker process; draft edits bump only the ``drafts`` version, which plan tiles also carry.
"""

from __future__ import annotations

import threading
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import Connection

from api.deps import EngineDep
from api.routes import styles
from geo.db import tiles
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
    #: a glyph server URL template ({fontstack}/{range}.pbf) for text labels in the style; none by default
    glyphs: str | None = None
    font: str = "Noto Sans Regular"


_state_lock = threading.Lock()


class TileState:
    """Per-app tile state: the settings, the tile cache and TileJSON bounds by data version."""

    def __init__(self, settings: TileSettings) -> None:
        self.settings = settings
        self.cache = tiles.TileCache(int(settings.cache_mb * 1024 * 1024))
        self.bounds: dict[tuple[str, int | None, tuple[int, ...]], list[float] | None] = {}


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
def get_tile(
    request: Request, engine: EngineDep, layer: str, z: Int, x: Int, y: Int, plan: PlanQuery = None
) -> Response:
    spec = tiles.get_layer(layer)
    tiles.check_tile(z, x, y)
    state = tile_state(request)
    with engine.connect() as conn:
        plan_id = select_plan(conn, request, spec, plan)
        cache_control = f"public, max-age={state.settings.max_age}" if plan_id is None else "private, no-cache"
        if z < spec.minzoom:  # nothing to build or look up: the layer starts at a higher zoom
            return tile_response(request, tiles.EncodedTile.encode(b""), cache_control, "skip")
        versions = tiles.version_key(layer, tiles.read_versions(conn), plan_id)
        key = (layer, plan_id, z, x, y)
        tile = state.cache.get(key, versions)
        if tile is not None:
            return tile_response(request, tile, cache_control, "hit")
        tile = tiles.EncodedTile.encode(tiles.build_tile(conn, layer, z, x, y, plan_id))
    state.cache.put(key, versions, tile)
    return tile_response(request, tile, cache_control, "miss")


def tile_url(request: Request, layer: str, plan: int | None) -> str:
    base = str(request.base_url).rstrip("/")
    query = f"?plan={plan}" if plan is not None else ""
    return f"{base}/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt{query}"


def tilejson(request: Request, conn: Connection, state: TileState, layer: str, plan: int | None) -> dict:
    """The TileJSON 3.0.0 document of one layer (bounds from the data, cached per data version)."""
    spec = tiles.get_layer(layer)
    versions = tiles.version_key(layer, tiles.read_versions(conn), plan)
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
