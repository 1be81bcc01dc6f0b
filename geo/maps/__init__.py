"""Maps of a grid, rendered from data (no database): the 以房找人 web map and the printable signboard.

* :func:`geo.maps.data.prepare` masks residents for the reader's role and counts every building;
* :func:`geo.maps.plan_map.render_grid_map` writes the standalone folium/Leaflet HTML page;
* :func:`geo.maps.signboard.render_signboard` draws the 网格公示牌 (PDF and PNG, matplotlib).

:mod:`geo.db.mapdata` reads what they need from PostGIS.
"""

from geo.maps.data import FULL_ROLES, ROLES, GridMapData, Worker, prepare
from geo.maps.plan_map import external_resources, render_grid_map
from geo.maps.style import BASEMAPS, MEASURES

__all__ = [
    "BASEMAPS",
    "FULL_ROLES",
    "MEASURES",
    "ROLES",
    "GridMapData",
    "Worker",
    "external_resources",
    "prepare",
    "render_grid_map",
]
