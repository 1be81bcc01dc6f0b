"""Grid polygons: the union of the cells of each grid's buildings.

The cells tile the community (minus dedicated grids) exactly, so the grid polygons do too; a grid
whose buildings are connected in the cell graph is a single polygon, because cells count as
adjacent only when their union is connected (see :func:`geo.balance.graph.adjacency`).
"""

from __future__ import annotations

import numpy as np
import shapely

from geo.balance.graph import PRECISION, polygonal


def grid_polygons(cells: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Union of ``cells`` per label ``0..k-1`` (valid polygons; empty when a label has no cell)."""
    out = np.empty(k, dtype=object)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    for g in range(k):
        idx = order[bounds[g] : bounds[g + 1]]
        parts = [c for c in cells[idx] if c is not None and not c.is_empty]
        if not parts:
            out[g] = shapely.Polygon()
            continue
        if len(parts) == 1:
            geom = parts[0]
        else:
            try:
                geom = shapely.coverage_union_all(np.array(parts, dtype=object))
            except shapely.errors.GEOSException:
                geom = shapely.union_all(parts, grid_size=PRECISION)
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        geom = polygonal(geom)
        out[g] = _drop_specks(geom)
    return out


def _drop_specks(geom, rel: float = 1e-9):
    """Remove float-noise parts (far below a square millimetre relative to the grid) of a multipolygon."""
    if geom.geom_type != "MultiPolygon":
        return geom
    parts = list(shapely.get_parts(geom))
    total = sum(p.area for p in parts)
    keep = [p for p in parts if p.area > max(1e-6, rel * total)]
    if len(keep) == len(parts) or not keep:
        return geom
    return keep[0] if len(keep) == 1 else shapely.MultiPolygon(keep)
