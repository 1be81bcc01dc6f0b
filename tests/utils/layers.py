"""Small hand-made layers around real Hohhot division codes, written as planners send them."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from pyproj import Transformer
from shapely.geometry import Polygon, box

COMMUNITY = "150102003001"  # 新华社区居委会, 中山东路街道, 新城区
NEIGHBOUR = "150102003002"  # 迎宾南路社区居委会
ORIGIN = (
    111.6850,
    40.8150,
)  # lon/lat (WGS 84 ≈ CGCS2000) of the first building's south-west corner
GK = "EPSG:4546"  # CGCS2000 3-degree Gauss-Krüger, CM 111°E


def to_gk(lon: float, lat: float) -> tuple[float, float]:
    return Transformer.from_crs("EPSG:4326", GK, always_xy=True).transform(lon, lat)


def communities() -> gpd.GeoDataFrame:
    """Two adjacent 1 km × 1 km communities in Gauss-Krüger metres, Chinese field names."""
    x, y = to_gk(*ORIGIN)
    return gpd.GeoDataFrame(
        {"代码": [COMMUNITY, NEIGHBOUR], "名称": ["新华社区", "迎宾南路社区"]},
        geometry=[
            box(x - 500, y - 500, x + 500, y + 500),
            box(x + 500, y - 500, x + 1500, y + 500),
        ],
        crs=GK,
    )


def buildings(n: int = 6) -> gpd.GeoDataFrame:
    """``n`` valid slabs in a row inside the first community; the first has its SW corner at ORIGIN."""
    x, y = to_gk(*ORIGIN)
    geoms = [box(x + i * 40, y, x + i * 40 + 30, y + 12) for i in range(n)]
    return gpd.GeoDataFrame(
        {
            "编号": [f"B{i:04d}" for i in range(n)],
            "楼号": [f"{i + 1}号楼" for i in range(n)],
            "名称": ["幸福小区" + f"{i + 1}号楼" for i in range(n)],
            "层数": [6] * n,
            "单元数": [3] * n,
            "户数": [36] * n,
            "用途": ["住宅"] * n,
        },
        geometry=geoms,
        crs=GK,
    )


def bowtie(x: float, y: float) -> Polygon:
    """A self-intersecting footprint that make_valid turns into two triangles."""
    return Polygon([(x, y), (x + 20, y + 20), (x + 20, y), (x, y + 20)])


def write_shp(frame: gpd.GeoDataFrame, path: Path, encoding: str = "GBK", cpg: bool = True) -> Path:
    frame.to_file(path, encoding=encoding, engine="pyogrio")
    if not cpg:
        path.with_suffix(".cpg").unlink(missing_ok=True)
    return path
