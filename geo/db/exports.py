"""Export a plan for QGIS: GeoPackage, or a zipped Shapefile (UTF-8, or GBK with a .cpg)."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.errors import InvalidInput, NotFound

GRIDS_SQL = """
SELECT g.code, g.name, g.kind, g.community_code, g.households,
       (SELECT count(DISTINCT a.building_id) FROM grid_assignment a WHERE a.grid_id = g.id) AS buildings,
       p.id AS plan_id, p.status AS plan_status, g.geom
FROM grid g JOIN grid_plan p ON p.id = g.plan_id WHERE p.id = :p ORDER BY g.code"""
ASSIGN_SQL = """
SELECT b.ext_id AS building_id, b.number, a.part, g.code AS grid_code, a.households, b.geom
FROM grid_assignment a JOIN grid g ON g.id = a.grid_id JOIN building b ON b.id = a.building_id
WHERE a.plan_id = :p ORDER BY b.ext_id, a.part"""


def plan_frames(conn: Connection, plan_id: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(grids, buildings with their grid) of a plan, in EPSG:4490."""
    if conn.execute(sa.text("SELECT 1 FROM grid_plan WHERE id = :p"), {"p": plan_id}).scalar() is None:
        raise NotFound(f"no plan {plan_id}")
    grids = gpd.read_postgis(sa.text(GRIDS_SQL), conn, geom_col="geom", params={"p": plan_id})
    buildings = gpd.read_postgis(sa.text(ASSIGN_SQL), conn, geom_col="geom", params={"p": plan_id})
    return grids, buildings


def to_gpkg(conn: Connection, plan_id: int) -> bytes:
    grids, buildings = plan_frames(conn, plan_id)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"plan-{plan_id}.gpkg"
        pyogrio.write_dataframe(grids, path, layer="grids", driver="GPKG", promote_to_multi=True)
        pyogrio.write_dataframe(buildings, path, layer="buildings", driver="GPKG", append=True, promote_to_multi=True)
        return path.read_bytes()


#: Shapefile field names are at most 10 bytes
SHP_FIELDS = {
    "community_code": "comm_code",
    "households": "households",
    "plan_status": "status",
    "building_id": "bldg_id",
    "grid_code": "grid_code",
}


def to_shapefile_zip(conn: Connection, plan_id: int, encoding: str = "UTF-8") -> bytes:
    """A zip with grids.shp and buildings.shp (+ .prj, .cpg)."""
    enc = encoding.upper()
    if enc not in ("UTF-8", "GBK"):
        raise InvalidInput("encoding must be UTF-8 or GBK")
    grids, buildings = plan_frames(conn, plan_id)
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, frame in (("grids", grids), ("buildings", buildings)):
            path = Path(tmp) / f"{name}.shp"
            pyogrio.write_dataframe(
                frame.rename(columns=SHP_FIELDS), path, driver="ESRI Shapefile", encoding=enc, promote_to_multi=True
            )
            for f in sorted(Path(tmp).glob(f"{name}.*")):
                zf.write(f, f.name)
    return buf.getvalue()
