"""Shape and balance measures of grid polygons.

Polsby-Popper: ``4 pi A / P²`` (1 for a disk, ~0.785 for a square, small for long or ragged shapes).

Normalised moment of inertia: ``A² / (2 pi J)`` where ``J`` is the polar second moment of area
about the centroid (1 for a disk, ~0.955 for a square); it measures how far the area lies from the
centre, and is less sensitive to ragged boundaries than Polsby-Popper.
"""

from __future__ import annotations

import math

import numpy as np
import shapely


def polsby_popper(geoms: np.ndarray) -> np.ndarray:
    a = shapely.area(geoms)
    p = shapely.length(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(p > 0, 4 * math.pi * a / (p * p), 0.0)
    return out


def _ring_moments(xy: np.ndarray) -> tuple[float, float, float, float]:
    """Signed area, first moments and polar second moment (about origin) of a closed ring."""
    x, y = xy[:-1, 0], xy[:-1, 1]
    x1, y1 = xy[1:, 0], xy[1:, 1]
    cr = x * y1 - x1 * y
    a = cr.sum() / 2.0
    sx = ((x + x1) * cr).sum() / 6.0
    sy = ((y + y1) * cr).sum() / 6.0
    ixx = ((y * y + y * y1 + y1 * y1) * cr).sum() / 12.0
    iyy = ((x * x + x * x1 + x1 * x1) * cr).sum() / 12.0
    return a, sx, sy, ixx + iyy


def inertia_compactness(geoms: np.ndarray) -> np.ndarray:
    """``A² / (2 pi J)`` per (multi)polygon, ``J`` about the centroid."""
    out = np.zeros(len(geoms))
    for k, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        c = np.asarray(g.centroid.coords[0])
        A = 0.0
        J = 0.0
        for poly in shapely.get_parts(g):
            if poly.geom_type != "Polygon":
                continue
            rings = [np.asarray(poly.exterior.coords) - c] + [np.asarray(r.coords) - c for r in poly.interiors]
            for i, xy in enumerate(rings):
                a, _sx, _sy, j = _ring_moments(xy)
                sign = 1.0 if i == 0 else -1.0
                # exterior counted positive, holes negative, whatever the ring orientation
                s = sign * (1.0 if a >= 0 else -1.0)
                A += s * a
                J += s * j
        out[k] = A * A / (2 * math.pi * J) if J > 0 else 0.0
    return out
