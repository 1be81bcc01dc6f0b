"""Street grids: road centre lines, the blocks between them and community polygons that tile.

Coordinates are metres in CGCS2000 / 3-degree Gauss-Krüger CM 111°E (EPSG:4546), x east, y north.
A grid has vertical road centre lines at ``xs`` (west → east) and horizontal ones at ``ys``
(north → south). Cell ``(row, col)`` is the rectangle between four centre lines; its block is the
cell minus half of each bordering road. Communities are unions of cells, so their boundaries run
along road centre lines and neighbours share edges exactly; every grid node on a boundary is kept
as a vertex, so shared edges have the same vertices on both sides (a valid polygon coverage).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon

Rect = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax

CRS_PROJECTED = "EPSG:4546"
CRS_GEOGRAPHIC = "EPSG:4490"

#: half widths of road classes (m): 主干道 40 m, 次干道 24 m, 支路 16 m
MAIN, SECONDARY, MINOR = 20.0, 12.0, 8.0


@dataclass(frozen=True)
class RoadGrid:
    xs: np.ndarray  # vertical centre lines, west → east (n_cols + 1)
    ys: np.ndarray  # horizontal centre lines, north → south (n_rows + 1)
    x_half: np.ndarray  # half widths of the vertical roads
    y_half: np.ndarray  # half widths of the horizontal roads

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ys) - 1, len(self.xs) - 1

    def cell(self, row: int, col: int) -> Rect:
        return (
            float(self.xs[col]),
            float(self.ys[row + 1]),
            float(self.xs[col + 1]),
            float(self.ys[row]),
        )

    def block(self, row: int, col: int) -> Rect:
        x0, y0, x1, y1 = self.cell(row, col)
        return (
            x0 + float(self.x_half[col]),
            y0 + float(self.y_half[row + 1]),
            x1 - float(self.x_half[col + 1]),
            y1 - float(self.y_half[row]),
        )

    def frontage(self, row: int, col: int, min_half: float = MAIN) -> tuple[str, ...]:
        """Sides of a block (``N``, ``S``, ``W``, ``E``) that face a road at least ``min_half`` wide."""
        sides = []
        if self.y_half[row] >= min_half:
            sides.append("N")
        if self.y_half[row + 1] >= min_half:
            sides.append("S")
        if self.x_half[col] >= min_half:
            sides.append("W")
        if self.x_half[col + 1] >= min_half:
            sides.append("E")
        return tuple(sides)


def make_grid(x0: float, y_top: float, widths: Iterable[float], heights: Iterable[float], x_half, y_half) -> RoadGrid:
    """A grid from the north-west corner, column widths (W→E) and row heights (N→S)."""
    xs = x0 + np.concatenate([[0.0], np.cumsum(np.asarray(list(widths), dtype=float))])
    ys = y_top - np.concatenate([[0.0], np.cumsum(np.asarray(list(heights), dtype=float))])
    return RoadGrid(xs, ys, np.asarray(x_half, dtype=float), np.asarray(y_half, dtype=float))


def random_grid(
    rng: np.random.Generator,
    x0: float,
    y_top: float,
    n_cols: int,
    n_rows: int,
    spacing: tuple[float, float] = (230.0, 360.0),
    main_every: int = 4,
) -> RoadGrid:
    """A city road grid: cell sizes drawn from ``spacing``, a main road about every ``main_every`` lines."""
    w = np.round(rng.uniform(*spacing, n_cols))
    h = np.round(rng.uniform(*spacing, n_rows))

    def halves(n: int) -> np.ndarray:
        out = np.where(rng.random(n + 1) < 0.45, SECONDARY, MINOR)
        offset = int(rng.integers(0, main_every))
        out[offset::main_every] = MAIN
        return out

    return make_grid(x0, y_top, w, h, halves(n_cols), halves(n_rows))


def _densify_ring(coords: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> list[tuple[float, float]]:
    """Insert every grid node lying inside an axis-parallel segment of ``coords``."""
    out: list[tuple[float, float]] = [(float(coords[0, 0]), float(coords[0, 1]))]
    for (ax, ay), (bx, by) in zip(coords[:-1], coords[1:], strict=True):
        if ay == by:
            lo, hi = sorted((ax, bx))
            mids = xs[(xs > lo) & (xs < hi)]
            mids = mids if bx > ax else mids[::-1]
            out.extend((float(x), float(ay)) for x in mids)
        elif ax == bx:
            lo, hi = sorted((ay, by))
            mids = ys[(ys > lo) & (ys < hi)]
            mids = np.sort(mids) if by > ay else np.sort(mids)[::-1]
            out.extend((float(ax), float(y)) for y in mids)
        out.append((float(bx), float(by)))
    return out


def cells_polygon(grid: RoadGrid, cells: Iterable[tuple[int, int]]) -> Polygon:
    """The union of grid cells as one polygon with all grid nodes on its boundary as vertices."""
    boxes = [shapely.box(*grid.cell(r, c)) for r, c in cells]
    merged = shapely.union_all(boxes)
    if merged.geom_type != "Polygon":
        raise ValueError("cells of one community must be edge-connected")
    merged = shapely.simplify(merged, 0)  # drop collinear vertices, then add grid nodes back
    xs, ys = np.sort(grid.xs), np.sort(grid.ys)
    shell = _densify_ring(np.asarray(merged.exterior.coords), xs, ys)
    holes = [_densify_ring(np.asarray(h.coords), xs, ys) for h in merged.interiors]
    poly = Polygon(shell, holes)
    return shapely.orient_polygons(poly) if hasattr(shapely, "orient_polygons") else poly


def shrink(rect: Rect, d: float) -> Rect:
    x0, y0, x1, y1 = rect
    return (x0 + d, y0 + d, x1 - d, y1 - d)


def width(rect: Rect) -> float:
    return rect[2] - rect[0]


def height(rect: Rect) -> float:
    return rect[3] - rect[1]


def area(rect: Rect) -> float:
    return max(0.0, width(rect)) * max(0.0, height(rect))


def split_rect(rect: Rect, fractions: Iterable[float], gap: float, vertical: bool) -> list[Rect]:
    """Cut ``rect`` into strips with ``gap`` between them; ``vertical`` cuts along x (strips side by side)."""
    fr = np.asarray(list(fractions), dtype=float)
    fr = fr / fr.sum()
    x0, y0, x1, y1 = rect
    total = (x1 - x0 if vertical else y1 - y0) - gap * (len(fr) - 1)
    out: list[Rect] = []
    pos = x0 if vertical else y1
    for f in fr:
        size = round(total * f, 1)
        if vertical:
            out.append((pos, y0, pos + size, y1))
            pos += size + gap
        else:
            out.append((x0, pos - size, x1, pos))
            pos -= size + gap
    # absorb rounding in the last strip
    if vertical:
        out[-1] = (out[-1][0], y0, x1, y1)
    else:
        out[-1] = (x0, y0, x1, out[-1][3])
    return out


def cut_side(rect: Rect, side: str, depth: float, gap: float = 0.0) -> tuple[Rect, Rect]:
    """Split off a strip of ``depth`` along ``side`` (N/S/W/E); returns (strip, rest)."""
    x0, y0, x1, y1 = rect
    if side == "N":
        return (x0, y1 - depth, x1, y1), (x0, y0, x1, y1 - depth - gap)
    if side == "S":
        return (x0, y0, x1, y0 + depth), (x0, y0 + depth + gap, x1, y1)
    if side == "W":
        return (x0, y0, x0 + depth, y1), (x0 + depth + gap, y0, x1, y1)
    if side == "E":
        return (x1 - depth, y0, x1, y1), (x0, y0, x1 - depth - gap, y1)
    raise ValueError(side)
