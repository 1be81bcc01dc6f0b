"""OGC API – Features (Part 1: core, GeoJSON) for communities, compounds, grids and buildings.

QGIS and GDAL (``ogrinfo OAPIF:http://host/ogc``) load these collections. Coordinates are
CRS84 (CGCS2000 ≈ WGS 84, lon/lat). No personal data is in any collection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.deps import ConnDep
from geo.errors import InvalidInput, NotFound

router = APIRouter(prefix="/ogc", tags=["OGC API Features"])
GEOJSON = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@dataclass(frozen=True)
class Collection:
    title: str
    description: str
    source: str  # FROM … WHERE … (trusted SQL, no user input)
    id_col: str
    properties: str  # json_build_object arguments


COLLECTIONS: dict[str, Collection] = {
    "communities": Collection(
        "社区 Communities",
        "Community boundaries with their official 12-digit codes",
        "admin_area t LEFT JOIN admin_area s ON s.code = t.parent_code WHERE t.level = 'village' AND t.geom IS NOT NULL",
        "t.code",
        "'code', t.code, 'name', t.name, 'street_code', t.parent_code, 'street', s.name",
    ),
    "compounds": Collection(
        "小区 Compounds",
        "Walled residential compounds",
        "compound t WHERE true",
        "t.id::text",
        "'compound_id', t.ext_id, 'name', t.name, 'community_code', t.community_code",
    ),
    "grids": Collection(
        "网格 Grids",
        "Grids of the active plans: 15-digit code, name, kind and households",
        "grid t JOIN grid_plan p ON p.id = t.plan_id AND p.status = 'active' WHERE true",
        "t.code",
        "'code', t.code, 'name', t.name, 'kind', t.kind, 'community_code', t.community_code, "
        "'households', t.households, 'plan_id', t.plan_id",
    ),
    "buildings": Collection(
        "楼栋 Buildings",
        "Building footprints: number, floors, units, planned dwellings (no residents)",
        "building t WHERE true",
        "t.ext_id",
        "'building_id', t.ext_id, 'number', t.number, 'name', t.name, 'floors', t.floors, 'units', t.units, "
        "'planned_dwellings', t.planned_dwellings, 'use', t.use, 'community_code', t.community_code",
    ),
}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _json(body: Any, media: str = "application/json") -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), media_type=media)


def bbox_query(
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat (CRS84)")] = None,
) -> tuple[float, float, float, float] | None:
    """Parse ``bbox`` into four floats or raise InvalidInput."""
    if bbox is None:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in bbox.split(","))
    except ValueError:
        raise InvalidInput(f"bbox must be four numbers minLon,minLat,maxLon,maxLat, got {bbox!r}") from None
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise InvalidInput(f"bbox {bbox} is not a lon/lat box with min ≤ max")
    return x0, y0, x1, y1


def _collection(name: str) -> Collection:
    c = COLLECTIONS.get(name)
    if c is None:
        raise NotFound(f"no collection {name!r}; collections are {', '.join(COLLECTIONS)}")
    return c


def _describe(conn: Any, name: str, c: Collection, base: str) -> dict[str, Any]:
    ext = conn.execute(
        sa.text(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            f"(SELECT ST_Extent(t.geom) AS e FROM {c.source}) x"
        )
    ).one()
    extent = {
        "spatial": {
            "bbox": [[round(v, 7) for v in ext]] if ext[0] is not None else [[-180, -90, 180, 90]],
            "crs": CRS84,
        }
    }
    return {
        "id": name,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": extent,
        "links": [
            {"href": f"{base}/collections/{name}", "rel": "self", "type": "application/json"},
            {"href": f"{base}/collections/{name}/items", "rel": "items", "type": GEOJSON},
        ],
    }


@router.get("", summary="Landing page")
def landing(request: Request) -> Response:
    base = _base(request)
    root = str(request.base_url).rstrip("/")
    return _json(
        {
            "title": "GridMap",
            "description": "Communities, compounds, grids and buildings",
            "links": [
                {"href": base, "rel": "self", "type": "application/json"},
                {
                    "href": f"{root}/openapi.json",
                    "rel": "service-desc",
                    "type": "application/vnd.oai.openapi+json;version=3.0",
                },
                {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json"},
                {"href": f"{base}/collections", "rel": "data", "type": "application/json"},
            ],
        }
    )


@router.get("/conformance", summary="Conformance classes")
def conformance() -> Response:
    return _json(
        {
            "conformsTo": [
                "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
                "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
                "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
            ]
        }
    )


@router.get("/collections", summary="The feature collections")
def collections(conn: ConnDep, request: Request) -> Response:
    base = _base(request)
    return _json(
        {
            "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
            "collections": [_describe(conn, n, c, base) for n, c in COLLECTIONS.items()],
        }
    )


@router.get("/collections/{name}", summary="One collection")
def collection(conn: ConnDep, name: str, request: Request) -> Response:
    return _json(_describe(conn, name, _collection(name), _base(request)))


@router.get("/collections/{name}/items", summary="Features of a collection (GeoJSON, paged)")
def items(
    conn: ConnDep,
    name: str,
    request: Request,
    bbox: Annotated[tuple[float, float, float, float] | None, Depends(bbox_query)],
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    c = _collection(name)
    where = "" if bbox is None else " AND t.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)"
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if bbox:
        params.update(x0=bbox[0], y0=bbox[1], x1=bbox[2], y1=bbox[3])
    matched = conn.execute(sa.text(f"SELECT count(*) FROM {c.source}{where}"), params).scalar_one()
    features = conn.execute(
        sa.text(f"""
        SELECT coalesce(json_agg(f), '[]'::json) FROM (
            SELECT json_build_object('type', 'Feature', 'id', {c.id_col},
                                     'properties', json_build_object({c.properties}),
                                     'geometry', ST_AsGeoJSON(t.geom, 7)::json) AS f
            FROM {c.source}{where} ORDER BY {c.id_col} LIMIT :limit OFFSET :offset) x"""),
        params,
    ).scalar_one()
    base = f"{_base(request)}/collections/{name}/items"
    extra = "" if bbox is None else "&bbox=" + ",".join(str(v) for v in bbox)
    links = [{"href": f"{base}?limit={limit}&offset={offset}{extra}", "rel": "self", "type": GEOJSON}]
    if offset + limit < matched:
        links.append({"href": f"{base}?limit={limit}&offset={offset + limit}{extra}", "rel": "next", "type": GEOJSON})
    return _json(
        {
            "type": "FeatureCollection",
            "numberMatched": matched,
            "numberReturned": len(features),
            "features": features,
            "links": links,
        },
        GEOJSON,
    )


@router.get("/collections/{name}/items/{fid}", summary="One feature")
def item(conn: ConnDep, name: str, fid: str) -> Response:
    c = _collection(name)
    f = conn.execute(
        sa.text(f"""
        SELECT json_build_object('type', 'Feature', 'id', {c.id_col}, 'properties', json_build_object({c.properties}),
                                 'geometry', ST_AsGeoJSON(t.geom, 7)::json)
        FROM {c.source} AND {c.id_col} = :fid"""),
        {"fid": fid},
    ).scalar()
    if f is None:
        raise NotFound(f"no feature {fid} in {name}")
    return _json(f, GEOJSON)
