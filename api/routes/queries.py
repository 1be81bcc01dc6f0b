"""Point lookup, grid figures, 楼盘表, search and the drill-down figures (一屏统览)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth import client_of, require_roles
from api.deps import ConnDep, ReaderDep
from geo.crs import gcj02_to_wgs84
from geo.db import queries
from geo.db.engine import read
from geo.db.users import User
from geo.privacy import get_person_keys

router = APIRouter(tags=["queries"])

People = Annotated[User, Depends(require_roles("admin", "planner", "worker", "viewer"))]
GridCode = Annotated[str, Path(pattern=r"^\d{15}$", description="15-digit grid code")]
AdminCode = Annotated[str, Path(pattern=r"^\d{12}$", description="12-digit division code")]


def point(
    lon: Annotated[float, Query(ge=-180, le=180, description="longitude")],
    lat: Annotated[float, Query(ge=-90, le=90, description="latitude")],
    crs: Annotated[
        Literal["wgs84", "cgcs2000", "gcj02"], Query(description="gcj02 for Amap (高德) coordinates")
    ] = "wgs84",
) -> tuple[float, float]:
    """A position as CGCS2000 lon/lat (WGS 84 and CGCS2000 agree to ~1 m; GCJ-02 is converted)."""
    if crs == "gcj02":
        x, y = gcj02_to_wgs84(lon, lat)
        return float(x), float(y)
    return lon, lat


# The two hot lookups skip FastAPI's generic encoder (the documented shape is the same): the point
# lookup is rendered by the C JSON encoder, a grid arrives as JSON text from PostgreSQL.
@router.get("/locate", summary="Community, grid and grid worker at a point", response_model=dict[str, Any])
def locate(reader: ReaderDep, pos: Annotated[tuple[float, float], Depends(point)]) -> JSONResponse:
    return JSONResponse(read(reader, queries.locate, *pos))


@router.get("/grids/{code}", summary="A grid: boundary (GeoJSON) and figures", response_model=dict[str, Any])
def grid(
    reader: ReaderDep,
    code: GridCode,
    plan: Annotated[int | None, Query(description="a plan id (default: the active plan)")] = None,
) -> Response:
    return Response(read(reader, queries.grid_json, code, plan), media_type="application/json")


@router.get("/buildings/{building_id}/table", summary="A building's 楼盘表 with its residents (token needed)")
def building_table(conn: ConnDep, building_id: str, user: People, request: Request) -> dict[str, Any]:
    return queries.building_table(conn, user, building_id, client=client_of(request), keys=get_person_keys())


def _page(items: list[dict[str, Any]], limit: int, offset: int) -> dict[str, Any]:
    page = items[offset : offset + limit]
    return {
        "items": page,
        "limit": limit,
        "offset": offset,
        "returned": len(page),
        "next_offset": offset + limit if len(items) > offset + limit else None,
    }


@router.get("/search/addresses", summary="Find dwellings by address: 3号楼2单元501, 幸福小区3-2-501, ３-２-５０１")
def search_addresses(
    conn: ConnDep,
    user: People,
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=100)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=400)] = 0,
) -> dict[str, Any]:
    items = queries.search_addresses(conn, user, q, limit=offset + limit + 1, client=client_of(request))
    return _page(items, limit, offset)


class PersonQuery(BaseModel):
    """A person search; sent in the body so that names and ID numbers never appear in URLs or access logs."""

    q: str = Field(..., min_length=1, max_length=40, description="a name (prefix) or an ID number")
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0, le=400)


@router.post("/search/persons", summary="Find residents by name or ID number, within your scope")
def search_persons(conn: ConnDep, user: People, request: Request, body: PersonQuery) -> dict[str, Any]:
    items = queries.search_persons(
        conn, user, body.q, keys=get_person_keys(), limit=body.offset + body.limit + 1, client=client_of(request)
    )
    return _page(items, body.limit, body.offset)


@router.get(
    "/stats/{code}",
    summary="一屏统览: an area's figures and its children's (city → district → street → community → grid)",
)
def stats(conn: ConnDep, code: AdminCode) -> dict[str, Any]:
    return queries.children(conn, code)
