"""The web pages (planner, grid worker, overview), their static files, and the worker's building list.

The pages are static HTML + JavaScript under ``map_ui/`` (Leaflet vendored in ``map_ui/static/vendor``,
nothing fetched from a CDN); they call the JSON API with a bearer token kept in the browser's
sessionStorage. ``GRIDMAP_UI_DIR`` points elsewhere when the package is installed without the source tree.
An optional raster basemap: ``GRIDMAP_BASEMAP_URL`` (an XYZ template), ``GRIDMAP_BASEMAP_CRS``
(``wgs84``/``cgcs2000`` for Tianditu-like basemaps, ``gcj02`` for Amap-like ones: the pages then shift
their data onto the basemap) and ``GRIDMAP_BASEMAP_ATTRIBUTION``.
"""

from __future__ import annotations

import html
import json
import os
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api.auth import require_roles
from api.deps import ConnDep
from geo.db.access import scope_of
from geo.db.users import User
from geo.errors import NotFound, PermissionDenied

router = APIRouter(tags=["pages"])

Reader = Annotated[User, Depends(require_roles("admin", "planner", "worker", "viewer"))]
GridCode = Annotated[str, PathParam(pattern=r"^\d{15}$", description="15-digit grid code")]

PAGES = {"home": "index.html", "planner": "planner.html", "worker": "worker.html", "overview": "overview.html"}
STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
}


def ui_dir() -> Path:
    """Where the pages live: ``GRIDMAP_UI_DIR`` or the source tree's ``map_ui/``."""
    return Path(os.environ.get("GRIDMAP_UI_DIR") or Path(__file__).resolve().parents[2] / "map_ui")


def basemap() -> dict[str, str]:
    """The optional basemap, from the environment (empty: no basemap, nothing leaves the site)."""
    return {
        "url": os.environ.get("GRIDMAP_BASEMAP_URL", ""),
        "crs": os.environ.get("GRIDMAP_BASEMAP_CRS", "wgs84").lower(),
        "attribution": os.environ.get("GRIDMAP_BASEMAP_ATTRIBUTION", ""),
    }


@cache
def _page_text(path: Path, mtime: float) -> str:
    return path.read_text(encoding="utf-8")


def content_policy(tiles_url: str) -> str:
    """Scripts, styles and data from this server only; images also from the basemap's host, if any."""
    img = "'self' data: blob:"
    if tiles_url:
        u = urlsplit(tiles_url.replace("{s}", "*"))
        if u.scheme in ("http", "https") and u.netloc:
            img += f" {u.scheme}://{u.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src {img}; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def _page(name: str) -> HTMLResponse:
    path = ui_dir() / PAGES[name]
    if not path.is_file():
        raise NotFound(f"the page {name} is not installed ({path})")
    text = _page_text(path, path.stat().st_mtime)
    bm = basemap()
    config = html.escape(json.dumps({"basemap": bm}, ensure_ascii=False), quote=True)
    text = text.replace("{{GRIDMAP_CONFIG}}", config)
    headers = {
        "Cache-Control": "no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": content_policy(bm["url"]),
    }
    return HTMLResponse(text, headers=headers)


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/home")


@router.api_route("/home", methods=["GET", "HEAD"], include_in_schema=False)
def home() -> HTMLResponse:
    return _page("home")


@router.api_route("/planner", methods=["GET", "HEAD"], include_in_schema=False)
def planner() -> HTMLResponse:
    return _page("planner")


@router.api_route("/worker", methods=["GET", "HEAD"], include_in_schema=False)
def worker() -> HTMLResponse:
    return _page("worker")


@router.api_route("/overview", methods=["GET", "HEAD"], include_in_schema=False)
def overview() -> HTMLResponse:
    return _page("overview")


@router.api_route("/ui/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
def static(path: str) -> FileResponse:
    """The pages' scripts, styles and vendored libraries (only files under ``map_ui/static``)."""
    root = (ui_dir() / "static").resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file() or target.suffix not in STATIC_TYPES:
        raise NotFound(f"no file {path}")
    return FileResponse(target, media_type=STATIC_TYPES[target.suffix], headers={"Cache-Control": "no-cache"})


GRID_BUILDINGS_SQL = sa.text("""
WITH g AS (
    SELECT gr.id, gr.code, gr.plan_id FROM grid gr JOIN grid_plan p ON p.id = gr.plan_id AND p.status = 'active'
    WHERE gr.code = :code
), a AS (
    SELECT a.building_id, a.part, a.households,
           (SELECT count(*) FROM dwelling d WHERE d.building_id = a.building_id
            AND part_covers(a.part, d.unit, d.floor)) AS dwellings
    FROM grid_assignment a JOIN g ON g.id = a.grid_id
), rows AS (
    SELECT b.ext_id, b.number, b.floors, b.units, b.use, c.name AS compound, a.part, a.households, a.dwellings,
           b.geom, ST_PointOnSurface(b.geom) AS at,
           row_number() OVER (ORDER BY c.name NULLS LAST, nullif(substring(b.number FROM '[0-9]+'), '')::int
                              NULLS LAST, b.number, b.ext_id, a.part) AS seq
    FROM a JOIN building b ON b.id = a.building_id LEFT JOIN compound c ON c.id = b.compound_id
)
SELECT (SELECT code FROM g) AS code, (SELECT plan_id FROM g) AS plan_id,
       json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
           'type', 'Feature', 'id', ext_id || coalesce(':' || nullif(part, ''), ''),
           'properties', json_build_object('id', ext_id, 'seq', seq, 'number', number, 'compound', compound,
               'part', part, 'households', households, 'dwellings', dwellings, 'floors', floors, 'units', units,
               'use', use, 'at', json_build_array(round(ST_X(at)::numeric, 7), round(ST_Y(at)::numeric, 7))),
           'geometry', ST_AsGeoJSON(geom, 7)::json) ORDER BY seq), '[]'::json)) AS body
FROM rows
""")


@router.get(
    "/grids/{code}/buildings.geojson",
    tags=["queries"],
    summary="A grid's buildings, numbered (active plan; no personal data; token whose scope covers the grid)",
)
def grid_buildings(conn: ConnDep, user: Reader, code: GridCode) -> Response:
    if not scope_of(conn, user).covers_grid(code):
        raise PermissionDenied(f"grid {code} is outside your scope")
    row = conn.execute(GRID_BUILDINGS_SQL, {"code": code}).first()
    if row is None or row.code is None:
        raise NotFound(f"no grid {code} in an active plan")
    body: dict[str, Any] = {**row.body, "grid_code": code, "plan_id": row.plan_id}
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/geo+json")
