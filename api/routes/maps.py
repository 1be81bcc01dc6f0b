"""The 以房找人 map of a grid as a standalone HTML page.

Without a token the page is the public one (the grid, its buildings and its worker's public phone,
no residents: what the signboard's QR code opens). With a token it carries the residents the role may
see, for grids in the caller's scope, and the read is audited.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials

from api.auth import Unauthenticated, bearer, client_of
from api.deps import ConnDep
from geo.db.access import scope_of
from geo.db.audit import audit
from geo.db.mapdata import read_grid_map
from geo.db.users import authenticate
from geo.errors import PermissionDenied
from geo.maps.plan_map import render_grid_map

router = APIRouter(tags=["maps"])


@router.get(
    "/grids/{code}/map",
    response_class=HTMLResponse,
    summary="以房找人 map of a grid (public without a token; residents with one)",
)
def grid_map(
    conn: ConnDep,
    request: Request,
    code: Annotated[str, Path(pattern=r"^\d{15}$")],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    measure: Annotated[Literal["occupancy", "residents", "care"], Query()] = "occupancy",
    basemap: Annotated[Literal["tianditu", "tianditu-satellite", "amap"] | None, Query()] = None,
) -> HTMLResponse:
    if credentials is None:
        data = read_grid_map(conn, code, "viewer", people=False)
        return HTMLResponse(render_grid_map(data, measure, basemap))
    user = authenticate(conn, credentials.credentials)
    if user is None:
        raise Unauthenticated("the token is unknown or revoked")
    if not scope_of(conn, user).covers_grid(code):
        raise PermissionDenied(f"grid {code} is outside your scope")
    role = user.role if user.role in ("admin", "planner", "worker", "viewer") else "viewer"
    data = read_grid_map(conn, code, role)
    audit(conn, user, "read", f"grid/{code}/map", {"measure": measure}, client_of(request))
    return HTMLResponse(render_grid_map(data, measure, basemap))
