"""Grid plans for planners: propose, inspect, edit (move buildings, redraw), validate, diff, approve."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import shapely
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.auth import client_of, require_roles
from api.deps import ConnDep, EngineDep
from geo.balance import BalanceParams
from geo.db import exports, plans
from geo.db.access import scope_of
from geo.db.audit import audit
from geo.db.users import User
from geo.errors import InvalidInput, NotFound, PermissionDenied

router = APIRouter(prefix="/plans", tags=["plans"])
Planner = Annotated[User, Depends(require_roles("admin", "planner"))]


class ProposeRequest(BaseModel):
    community: str | None = Field(None, pattern=r"^\d{12}$", description="one community")
    street: str | None = Field(None, pattern=r"^\d{12}$", description="every community of a street")
    rebalance: bool = Field(True, description="start from the active plan where there is one")
    min_households: int = Field(300, ge=1)
    max_households: int = Field(500, ge=1)
    target: int = Field(400, ge=1)
    seed: int = 0


class MoveRequest(BaseModel):
    buildings: list[str] = Field(..., min_length=1, max_length=500, description="building ids (编号)")
    to: str = Field(..., pattern=r"^\d{15}$", description="target grid code")


class BoundaryRequest(BaseModel):
    geometry: dict[str, Any] = Field(..., description="GeoJSON Polygon in lon/lat (WGS 84 / CGCS2000)")


def _plan_for(conn: Any, user: User, plan_id: int) -> dict[str, Any]:
    plan = plans.get_plan(conn, plan_id)
    if not scope_of(conn, user).covers_community(plan["community_code"]):
        raise PermissionDenied(f"plan {plan_id} is outside your scope")
    return plan


@router.get("", summary="Plans of a community or street")
def list_plans(
    engine: EngineDep,
    conn: ConnDep,
    user: Planner,
    community: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
    street: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
    status: Annotated[Literal["draft", "active", "retired", "discarded"] | None, Query()] = None,
) -> list[dict[str, Any]]:
    codes = plans.community_codes(conn, community=community, street=street) if community or street else None
    scope = scope_of(conn, user)
    rows = [p for p in plans.list_plans(engine, codes) if scope.covers_community(p["community_code"])]
    return [p for p in rows if status is None or p["status"] == status]


@router.post("", status_code=201, summary="Propose grids: one draft plan per community")
def propose(engine: EngineDep, conn: ConnDep, user: Planner, body: ProposeRequest) -> list[dict[str, Any]]:
    codes = plans.community_codes(conn, community=body.community, street=body.street)
    scope = scope_of(conn, user)
    if not all(scope.covers_community(c) for c in codes):
        raise PermissionDenied("some of these communities are outside your scope")
    params = BalanceParams(
        min_households=body.min_households, max_households=body.max_households, target=body.target, seed=body.seed
    )
    return plans.balance(engine, codes, rebalance=body.rebalance, params=params, jobs=1, created_by=user.name)


@router.get("/{plan_id}", summary="A plan and its live validation")
def get_plan(conn: ConnDep, user: Planner, plan_id: int) -> dict[str, Any]:
    plan = _plan_for(conn, user, plan_id)
    return {**plan, "validation": plans.validate(conn, plan_id)}


@router.get("/{plan_id}/grids.geojson", summary="The plan's grids with households and band")
def plan_grids(conn: ConnDep, user: Planner, plan_id: int) -> Response:
    plan = _plan_for(conn, user, plan_id)
    lo, hi = plans._band(plan)
    body = conn.execute(
        sa.text("""
        SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
            'type', 'Feature', 'id', g.code,
            'properties', json_build_object('code', g.code, 'name', g.name, 'kind', g.kind,
                'households', g.households, 'in_band', g.kind <> 'basic' OR g.households BETWEEN :lo AND :hi,
                'band', CASE WHEN g.kind <> 'basic' THEN 'fixed' WHEN g.households < :lo THEN 'under'
                             WHEN g.households > :hi THEN 'over' ELSE 'ok' END),
            'geometry', ST_AsGeoJSON(g.geom, 7)::json) ORDER BY g.code), '[]'::json))
        FROM grid g WHERE g.plan_id = :p"""),
        {"p": plan_id, "lo": lo, "hi": hi},
    ).scalar_one()
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/geo+json")


@router.get("/{plan_id}/buildings.geojson", summary="The plan's buildings with their grid (no personal data)")
def plan_buildings(conn: ConnDep, user: Planner, plan_id: int) -> Response:
    _plan_for(conn, user, plan_id)
    body = conn.execute(
        sa.text("""
        SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
            'type', 'Feature', 'id', b.ext_id || coalesce(':' || nullif(a.part, ''), ''),
            'properties', json_build_object('id', b.ext_id, 'number', b.number, 'part', a.part,
                'grid_code', g.code, 'households', a.households, 'compound', c.name),
            'geometry', ST_AsGeoJSON(b.geom, 7)::json) ORDER BY b.ext_id), '[]'::json))
        FROM grid_assignment a JOIN grid g ON g.id = a.grid_id JOIN building b ON b.id = a.building_id
        LEFT JOIN compound c ON c.id = b.compound_id WHERE a.plan_id = :p"""),
        {"p": plan_id},
    ).scalar_one()
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/geo+json")


@router.post("/{plan_id}/moves", summary="Move buildings to another grid of a draft; returns the new validation")
def move(
    engine: EngineDep, conn: ConnDep, user: Planner, plan_id: int, body: MoveRequest, request: Request
) -> dict[str, Any]:
    _plan_for(conn, user, plan_id)
    v = plans.move_buildings(engine, plan_id, body.buildings, body.to)
    audit(conn, user, "edit", f"plan/{plan_id}", {"move": body.buildings, "to": body.to}, client_of(request))
    return v


@router.put("/{plan_id}/grids/{code}/boundary", summary="Redraw a grid of a draft; buildings follow by containment")
def boundary(
    engine: EngineDep, conn: ConnDep, user: Planner, plan_id: int, code: str, body: BoundaryRequest, request: Request
) -> dict[str, Any]:
    _plan_for(conn, user, plan_id)
    try:
        geom = shapely.from_geojson(json.dumps(body.geometry))
    except shapely.errors.GEOSException as exc:
        raise InvalidInput(f"the boundary is not valid GeoJSON: {exc}") from None
    v = plans.set_boundary(engine, plan_id, code, geom)
    audit(conn, user, "edit", f"plan/{plan_id}", {"boundary": code}, client_of(request))
    return v


@router.get("/{plan_id}/diff", summary="Compare with another plan (default: the active one)")
def diff(
    engine: EngineDep, conn: ConnDep, user: Planner, plan_id: int, other: Annotated[int | None, Query()] = None
) -> dict[str, Any]:
    _plan_for(conn, user, plan_id)
    return plans.diff(engine, plan_id, other)


@router.post("/{plan_id}/approve", summary="Make a draft active (409 when another approval won)")
def approve(engine: EngineDep, conn: ConnDep, user: Planner, plan_id: int, request: Request) -> dict[str, Any]:
    _plan_for(conn, user, plan_id)
    r = plans.approve(engine, plan_id, approved_by=user.name)
    audit(conn, user, "approve", f"plan/{plan_id}", r, client_of(request))
    return r


@router.post("/{plan_id}/discard", status_code=204, summary="Discard a draft")
def discard(engine: EngineDep, conn: ConnDep, user: Planner, plan_id: int) -> Response:
    _plan_for(conn, user, plan_id)
    plans.discard(engine, plan_id)
    return Response(status_code=204)


@router.get("/{plan_id}/export.gpkg", summary="The plan as a GeoPackage (grids, buildings)")
def export_gpkg(conn: ConnDep, user: Planner, plan_id: int) -> Response:
    _plan_for(conn, user, plan_id)
    return Response(
        exports.to_gpkg(conn, plan_id),
        media_type="application/geopackage+sqlite3",
        headers={"Content-Disposition": f'attachment; filename="plan-{plan_id}.gpkg"'},
    )


@router.get("/{plan_id}/export.zip", summary="The plan as zipped Shapefiles (UTF-8, or GBK with a .cpg)")
def export_shp(
    conn: ConnDep, user: Planner, plan_id: int, encoding: Annotated[Literal["UTF-8", "GBK"], Query()] = "UTF-8"
) -> Response:
    _plan_for(conn, user, plan_id)
    if not conn.execute(sa.text("SELECT 1 FROM grid_plan WHERE id = :p"), {"p": plan_id}).scalar():
        raise NotFound(f"no plan {plan_id}")
    return Response(
        exports.to_shapefile_zip(conn, plan_id, encoding),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="plan-{plan_id}.zip"'},
    )
