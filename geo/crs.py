"""Coordinate reference systems: the storage CRS, metric CRSs for measuring, and GCJ-02.

GridMap stores every geometry in CGCS2000 geographic coordinates (EPSG:4490), the national
datum that government GIS and Tianditu use; it agrees with WGS 84 to within a metre or so, so
GPS and OpenStreetMap data need no datum shift. GCJ-02, the obfuscated datum of Amap (高德) and
Tencent maps, is converted with the published approximation below (accurate to ~1 m in China).
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
from pyproj import CRS

STORAGE_CRS = "EPSG:4490"
STORAGE_SRID = 4490


def metric_crs_for(frame: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """A projected CRS in metres suited to ``frame``: its own when projected, else a UTM zone."""
    crs = CRS.from_user_input(frame.crs)
    if crs.is_projected:
        return crs
    return frame.to_crs("EPSG:4326").estimate_utm_crs() if not frame.empty else CRS.from_epsg(32649)


_A = 6378245.0
_EE = 0.00669342162296594323


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * math.pi) + 320 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    )
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * math.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon, lat):  # noqa: ANN001, ANN201
    """WGS 84 → GCJ-02 (arrays or scalars); points outside China are returned unchanged."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    out = _out_of_china(lon, lat)
    return np.where(out, lon, lon + dlon), np.where(out, lat, lat + dlat)


def gcj02_to_wgs84(lon, lat, iterations: int = 3):  # noqa: ANN001, ANN201
    """GCJ-02 → WGS 84 by fixed-point iteration (error well under 0.1 m after 3 rounds)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wlon, wlat = lon.copy(), lat.copy()
    for _ in range(iterations):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        wlon, wlat = wlon - (glon - lon), wlat - (glat - lat)
    return wlon, wlat
