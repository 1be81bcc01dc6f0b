"""Communities as GeoJSON."""

from __future__ import annotations

import json
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import ConnDep
from geo.errors import InvalidInput

router = APIRouter(tags=["communities"])

COMMUNITIES_SQL = sa.text("""
SELECT json_build_object(
    'type', 'FeatureCollection',
    'features', coalesce(json_agg(json_build_object(
        'type', 'Feature', 'id', a.code,
        'properties', json_build_object('code', a.code, 'name', a.name, 'street_code', a.parent_code,
                                        'street', s.name),
        'geometry', ST_AsGeoJSON(a.geom, 7)::json) ORDER BY a.code), '[]'::json))
FROM admin_area a LEFT JOIN admin_area s ON s.code = a.parent_code
WHERE a.level = 'village' AND a.geom IS NOT NULL AND (CAST(:street AS text) IS NULL OR a.parent_code = :street)
""")


@router.get("/communities.geojson", summary="Community boundaries (GeoJSON, CGCS2000 ≈ WGS 84 lon/lat)")
def communities_geojson(
    conn: ConnDep,
    street: Annotated[str | None, Query(description="12-digit street code to filter by", pattern=r"^\d{12}$")] = None,
) -> Response:
    if street is not None and not street.isdigit():
        raise InvalidInput("street must be a 12-digit code")
    body = conn.execute(COMMUNITIES_SQL, {"street": street}).scalar_one()
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/geo+json")
