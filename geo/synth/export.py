"""Write synthetic layers the way planners receive them: GBK shapefiles with Chinese field names.

Field names are at most 10 bytes in GBK (five Chinese characters); text is written in GBK with a
``.cpg`` file saying so; the CRS is written to a ``.prj``. Output is byte-for-byte reproducible:
features are written in id order and the DBF "last update" date is fixed.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from geo.synth.buildings import USES_ZH

ENCODING = "GBK"
#: the DBF header date written into every .dbf (GDAL would write today's date otherwise)
DBF_DATE = "2024-06-30"

COMMUNITY_FIELDS = {"code": "代码", "name": "名称"}
COMPOUND_FIELDS = {"id": "编号", "name": "名称", "community_code": "社区代码"}
BUILDING_FIELDS = {
    "id": "编号",
    "number": "楼号",
    "name": "名称",
    "floors": "层数",
    "units": "单元数",
    "dwellings": "户数",
    "compound_id": "小区编号",
    "community_code": "社区代码",
    "use": "用途",
}


def _check_field_names(names) -> None:
    for n in names:
        if len(n.encode(ENCODING)) > 10:
            raise ValueError(f"shapefile field name {n!r} is longer than 10 bytes in {ENCODING}")


def write_shapefile(frame: gpd.GeoDataFrame, path: str | Path) -> None:
    """Write ``frame`` as a GBK shapefile (with .cpg and .prj), deterministically."""
    path = Path(path)
    _check_field_names([c for c in frame.columns if c != frame.geometry.name])
    for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        path.with_suffix(ext).unlink(missing_ok=True)
    pyogrio.write_dataframe(
        frame,
        path,
        driver="ESRI Shapefile",
        encoding=ENCODING,
        layer_options={"DBF_DATE_LAST_UPDATE": DBF_DATE, "RESIZE": "YES"},
    )


def communities_frame(communities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = communities.sort_values("code")[["code", "name", "geometry"]].rename(columns=COMMUNITY_FIELDS)
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry="geometry", crs=communities.crs)


def compounds_frame(compounds: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = compounds.sort_values("id")[["id", "name", "community_code", "geometry"]].rename(columns=COMPOUND_FIELDS)
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry="geometry", crs=compounds.crs)


def buildings_frame(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Buildings with the planners' Chinese field names and use values (住宅, 平房, 商业…)."""
    b = buildings.sort_values("id").reset_index(drop=True)
    out = pd.DataFrame(
        {
            "编号": b["id"],
            "楼号": b["number"].fillna(""),
            "名称": b["name"].fillna(""),
            "层数": b["floors"],
            "单元数": b["units"],
            "户数": b["dwellings"],
            "小区编号": b["compound_id"].fillna(""),
            "社区代码": b["community_code"].fillna(""),
            "用途": b["use"].map(lambda u: USES_ZH.get(u, u)),
        }
    )
    return gpd.GeoDataFrame(out, geometry=b.geometry.values, crs=buildings.crs)


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """UTF-8 CSV with a header and ``\\n`` line ends."""
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
