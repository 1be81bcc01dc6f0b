"""Building cells that tile a community, and the adjacency graph between them.

Every "unit" (a building, or one part of a split tower) gets a cell. Cells are built per region:
each compound (小区) is a region, and the rest of the community (outside every compound) is one
more region; a region's cells are the Voronoi cells of its buildings' footprints (points sampled
along every footprint boundary, cells of one building merged), clipped to the region. Compound
walls therefore stop a cell from reaching across: buildings in different compounds meet only
along the wall itself. Each cell is then made to contain its footprint exactly, split along the
long axis for tower parts, and made connected (stray pieces join the neighbouring cell with which
they share the longest boundary). Regions without any building join their neighbours the same way.

Two units are adjacent when their cells share a boundary of positive length; the shared length is
the edge weight, and an edge across a compound wall is flagged ``wall``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

#: pieces smaller than this (m²) that touch nothing are float noise and dropped
NOISE_AREA = 1e-4
#: shared boundaries shorter than this (m) do not make two cells adjacent
MIN_SHARED = 1e-3
#: coordinates are snapped to this grid (m): boundaries that coincide up to float noise (a
#: compound wall on the community boundary) then coincide exactly, and no zero-width corridor
#: can hold two pieces of a cell together
PRECISION = 1e-6


@dataclass
class UnitSpec:
    """Input for one unit: its footprint, region and (for tower parts) the slice it takes."""

    footprint: BaseGeometry  # metric, polygonal
    region: int  # index into the regions list
    building: int  # index of the building the unit belongs to (parts share it)
    start: float = 0.0  # for a tower part: cumulative share along the long axis
    end: float = 1.0


@dataclass
class CellGraph:
    """Cells of all units (metric CRS) and their adjacency."""

    cells: np.ndarray  # shapely geometries, one per unit
    footprints: np.ndarray
    area: np.ndarray
    perimeter: np.ndarray
    edges_i: np.ndarray
    edges_j: np.ndarray
    edges_len: np.ndarray
    edges_wall: np.ndarray
    detached: list[int] = field(default_factory=list)  # units whose cell is not a single polygon
    missing: list[int] = field(default_factory=list)  # units without any footprint inside the domain

    def neighbours(self) -> list[dict[int, float]]:
        nb: list[dict[int, float]] = [{} for _ in range(len(self.cells))]
        for i, j, ln in zip(self.edges_i, self.edges_j, self.edges_len, strict=True):
            nb[int(i)][int(j)] = nb[int(i)].get(int(j), 0.0) + float(ln)
            nb[int(j)][int(i)] = nb[int(j)].get(int(i), 0.0) + float(ln)
        return nb


def largest_polygon(geom: BaseGeometry | None) -> BaseGeometry | None:
    """The largest polygon of a geometry (after ``make_valid``), or ``None`` when it has no area."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type == "Polygon" and geom.is_valid:
        return geom if geom.area > 0 else None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area > 0]
    more = [g for g in shapely.get_parts(geom) if g.geom_type in ("GeometryCollection", "MultiPolygon")]
    for g in more:
        parts.extend(p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and p.area > 0)
    if not parts:
        return None
    return max(parts, key=lambda p: p.area)


def polygonal(geom: BaseGeometry | None) -> BaseGeometry:
    """Keep only the polygonal parts of a geometry (may return an empty polygon)."""
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"]
    for g in shapely.get_parts(geom):
        if g.geom_type in ("MultiPolygon", "GeometryCollection"):
            parts.extend(p for p in shapely.get_parts(g) if p.geom_type == "Polygon")
    parts = [p for p in parts if p.area > 0]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts) if len(parts) > 1 else parts[0]


def _sample_points(fps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points along footprint boundaries (vertices, plus points on long edges: about 12 per
    footprint) and their owner index; a point shared by two footprints goes to the first one."""
    bnd = shapely.boundary(fps)
    spacing = np.maximum(shapely.length(bnd) / 6.0, 8.0)
    seg = shapely.segmentize(bnd, spacing)
    coords, owner = shapely.get_coordinates(seg, return_index=True)
    _, first = np.unique(np.round(coords, 6), axis=0, return_index=True)
    first.sort()
    return coords[first], owner[first]


def _region_cells(fps: list[BaseGeometry], region: BaseGeometry) -> list[BaseGeometry]:
    """Cells of the footprints ``fps`` inside ``region`` (before carving)."""
    n = len(fps)
    if n == 1:
        return [region]
    arr = np.array(fps, dtype=object)
    pts, owner = _sample_points(arr)
    missing = np.setdiff1d(np.arange(n), owner)
    if len(missing):
        extra = shapely.get_coordinates(shapely.point_on_surface(arr[missing]))
        extra = extra + 1e-3 * (1 + np.arange(len(missing)))[:, None]
        pts = np.vstack([pts, extra])
        owner = np.concatenate([owner, missing])
    if len(pts) < 2:
        return [region] + [shapely.Polygon()] * (n - 1)
    env = shapely.box(*region.buffer(10.0).bounds)
    # a tiny fixed jitter breaks the co-circular degeneracies of regular layouts (rows of
    # identical houses), which make GEOS return self-intersecting Voronoi polygons
    jitter = np.random.default_rng(len(pts)).uniform(-1e-4, 1e-4, pts.shape)
    vor = shapely.voronoi_polygons(shapely.multipoints(pts + jitter), extend_to=env, ordered=True)
    polys = np.asarray(shapely.get_parts(vor))
    bad = ~shapely.is_valid(polys)
    if bad.any():
        polys[bad] = [polygonal(shapely.make_valid(p)) for p in polys[bad]]
    out: list[BaseGeometry] = []
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(n + 1))
    for i in range(n):
        idx = order[bounds[i] : bounds[i + 1]]
        if len(idx) == 0:
            out.append(shapely.Polygon())
            continue
        sel = polys[idx]
        if len(sel) == 1:
            merged = sel[0]
        else:
            try:
                merged = shapely.coverage_union_all(sel)
            except shapely.errors.GEOSException:
                merged = shapely.union_all(sel)
        out.append(merged)
    cells = np.array(out, dtype=object)
    shapely.prepare(region)
    inside = shapely.contains_properly(region, cells)  # most cells need no clipping
    clipped = cells.copy()
    if (~inside).any():
        clipped[~inside] = shapely.intersection(cells[~inside], region)
    shapely.destroy_prepared(region)
    return list(clipped)


def _axis_strips(fp: BaseGeometry, cuts: list[float], far: float) -> list[BaseGeometry]:
    """Strips across the long axis of ``fp`` cutting it at cumulative shares ``cuts`` (0..1)."""
    rect = shapely.oriented_envelope(fp)
    xy = np.asarray(rect.exterior.coords)[:4]
    e1 = xy[1] - xy[0]
    e2 = xy[2] - xy[1]
    axis = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
    ln = float(np.hypot(*axis))
    if ln == 0:
        axis, ln = np.array([1.0, 0.0]), 1.0
    u = axis / ln
    v = np.array([-u[1], u[0]])
    c = np.asarray(fp.centroid.coords[0])
    proj = (shapely.get_coordinates(fp) - c) @ u
    tmin, tmax = float(proj.min()), float(proj.max())
    ts = [-far] + [tmin + (tmax - tmin) * s for s in cuts] + [far]
    strips = []
    for a, b in zip(ts[:-1], ts[1:], strict=True):
        corners = [
            c + a * u - far * v,
            c + b * u - far * v,
            c + b * u + far * v,
            c + a * u + far * v,
        ]
        strips.append(shapely.Polygon(corners))
    return strips


def _carve(cells: np.ndarray, fps: np.ndarray) -> np.ndarray:
    """Make cell ``i`` contain footprint ``i`` and no part of any other footprint (vectorised)."""
    out = cells.copy()
    tree = shapely.STRtree(fps)
    ci, fj = tree.query(cells, predicate="intersects")
    other = ci != fj
    ci, fj = ci[other], fj[other]
    intr: dict[int, list[int]] = {}
    if len(ci):
        pos = shapely.area(shapely.intersection(cells[ci], fps[fj])) > 0
        for i, j in zip(ci[pos], fj[pos], strict=True):
            intr.setdefault(int(i), []).append(int(j))
    for i, js in intr.items():
        out[i] = shapely.difference(out[i], shapely.union_all(fps[js]))
    need = ~shapely.contains(out, fps)
    if need.any():
        out[need] = shapely.union(out[need], fps[need])
    return out


def build_cells(units: list[UnitSpec], regions: list[BaseGeometry]) -> CellGraph:
    """Cells tiling the union of ``regions`` (disjoint polygons), one per unit, and their adjacency."""
    n = len(units)
    regions = [polygonal(shapely.set_precision(r, PRECISION)) if r is not None else None for r in regions]
    fps: list[BaseGeometry | None] = [None] * n
    # footprints inside their region, disjoint from earlier ones; tower parts share the building's
    by_building: dict[int, list[int]] = {}
    for k, u in enumerate(units):
        by_building.setdefault(u.building, []).append(k)
    bkeys = sorted(by_building)
    first = [units[by_building[b][0]] for b in bkeys]
    clipped = shapely.intersection(
        np.array([u.footprint for u in first], dtype=object),
        np.array([regions[u.region] for u in first], dtype=object),
    )
    bfp: dict[int, BaseGeometry | None] = {}
    for b, g in zip(bkeys, clipped, strict=True):
        bfp[b] = largest_polygon(g)
    # remove overlaps between footprints (first building wins)
    keys = [b for b in bkeys if bfp[b] is not None]
    if keys:
        geoms = np.array([bfp[b] for b in keys], dtype=object)
        tree = shapely.STRtree(geoms)
        li, lj = tree.query(geoms, predicate="overlaps")
        sel = li > lj
        over: dict[int, list[int]] = {}
        for i, j in zip(li[sel], lj[sel], strict=True):
            over.setdefault(int(i), []).append(int(j))
        for i in sorted(over):
            geoms[i] = largest_polygon(shapely.difference(geoms[i], shapely.union_all(geoms[over[i]])))
            bfp[keys[i]] = geoms[i]
        # a footprint inside another one (contained, not overlapping) loses its area too
        li, lj = tree.query(geoms, predicate="within")
        for i, j in zip(li, lj, strict=True):
            if i != j and bfp[keys[int(i)]] is not None and bfp[keys[int(j)]] is not None and i > j:
                bfp[keys[int(i)]] = None
    missing = [k for k in range(n) if bfp[units[k].building] is None]

    # Voronoi cells per region, per building
    cells: list[BaseGeometry] = [shapely.Polygon()] * n
    orphans: list[BaseGeometry] = []
    for r, region in enumerate(regions):
        if region is None or region.is_empty:
            continue
        bs = [b for b in bkeys if units[by_building[b][0]].region == r and bfp[b] is not None]
        if not bs:
            orphans.extend(shapely.get_parts(region))
            continue
        farr = np.array([bfp[b] for b in bs], dtype=object)
        rc = _carve(np.array(_region_cells(list(farr), region), dtype=object), farr)
        for b, cell in zip(bs, rc, strict=True):
            cell = polygonal(cell)
            ks = by_building[b]
            if len(ks) == 1:
                cells[ks[0]] = cell
                fps[ks[0]] = bfp[b]
                continue
            far = 10.0 * (1.0 + max(np.ptp(np.asarray(region.bounds).reshape(2, 2), axis=0)))
            cuts = [units[k].end for k in ks[:-1]]
            strips = _axis_strips(bfp[b], cuts, far)
            for k, strip in zip(ks, strips, strict=True):
                cells[k] = polygonal(shapely.intersection(cell, strip))
                fps[k] = largest_polygon(shapely.intersection(bfp[b], strip))

    detached: set[int] = set()
    for _round in range(3):
        # keep, per unit, the piece holding its footprint; the rest become orphans
        multi_now = shapely.get_num_geometries(np.array(cells, dtype=object)) > 1
        for k in range(n):
            if fps[k] is not None and not multi_now[k]:
                continue
            if fps[k] is None:
                if not cells[k].is_empty:
                    orphans.extend(shapely.get_parts(cells[k]))
                cells[k] = shapely.Polygon()
                if k not in missing:
                    missing.append(k)
                continue
            parts = list(shapely.get_parts(cells[k]))
            if len(parts) <= 1:
                continue
            inter = shapely.area(shapely.intersection(np.array(parts, dtype=object), fps[k]))
            keep = int(np.argmax(inter))
            if k in detached:
                continue  # a cell that had to take a cut-off area keeps all its parts
            cells[k] = parts[keep]
            orphans.extend(p for i, p in enumerate(parts) if i != keep)
        detached |= _absorb_orphans(cells, orphans)
        orphans = []
        # exact shared edges (no gaps, no overlaps, identical vertices on both sides)
        arr = np.array(cells, dtype=object)
        live = ~shapely.is_empty(arr)
        arr[live] = shapely.coverage_clean(arr[live])
        cells = list(arr)
        multi = [k for k in range(n) if shapely.get_num_geometries(cells[k]) > 1 and k not in detached]
        if not multi:
            break

    cells_arr = np.array(cells, dtype=object)
    ei, ej, el = adjacency(cells_arr)
    regs = np.array([u.region for u in units])
    wall = regs[ei] != regs[ej] if len(ei) else np.zeros(0, dtype=bool)
    return CellGraph(
        cells=cells_arr,
        footprints=np.array(fps, dtype=object),
        area=shapely.area(cells_arr),
        perimeter=shapely.length(cells_arr),
        edges_i=ei,
        edges_j=ej,
        edges_len=el,
        edges_wall=wall,
        detached=sorted(detached),
        missing=sorted(missing),
    )


def _absorb_orphans(cells: list[BaseGeometry], orphans: list[BaseGeometry]) -> set[int]:
    """Merge orphan pieces into the cell sharing the longest boundary with them (in place)."""
    pending = [o for o in orphans if o.area > 0]
    detached: set[int] = set()
    live = [k for k, c in enumerate(cells) if not c.is_empty]
    if not live:
        return detached
    while pending:
        arr = np.array([cells[k] for k in live], dtype=object)
        tree = shapely.STRtree(arr)
        oarr = np.array(pending, dtype=object)
        oi, ci = tree.query(oarr, predicate="intersects")
        best: dict[int, tuple[float, int]] = {}
        if len(oi):
            shared = _shared_length(oarr[oi], arr[ci])
            for o, c, s in zip(oi, ci, shared, strict=True):
                if s > MIN_SHARED and s > best.get(int(o), (0.0, -1))[0]:
                    best[int(o)] = (float(s), int(c))
        if not best:
            # nothing adjacent any more: drop noise, attach real pieces to the nearest cell
            for o in pending:
                if o.area < NOISE_AREA:
                    continue
                d = shapely.distance(arr, o)
                c = live[int(np.argmin(d))]
                cells[c] = polygonal(shapely.union(cells[c], o, grid_size=PRECISION))
                detached.add(c)
            break
        groups: dict[int, list[BaseGeometry]] = {}
        rest = []
        for o, piece in enumerate(pending):
            if o in best:
                groups.setdefault(live[best[o][1]], []).append(piece)
            else:
                rest.append(piece)
        for c, pieces in groups.items():
            cells[c] = polygonal(shapely.union_all([cells[c], *pieces], grid_size=PRECISION))
        pending = rest
    return detached


def _shared_length(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Length of the boundary shared by polygons ``a[i]`` and ``b[i]`` (vectorised)."""
    u = shapely.union(a, b)
    return (shapely.length(a) + shapely.length(b) - shapely.length(u)) / 2.0


def adjacency(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``i < j`` of cells sharing a boundary of positive length, with that length.

    The cells form a clean coverage (``shapely.coverage_clean``: shared edges have identical
    vertices on both sides), so a shared boundary is a set of identical segments: segments are
    matched exactly, which is fast and cannot report a contact that is only a point. A connected
    set of such cells therefore always unions into a single polygon.
    """
    z = np.zeros(0, dtype=int)
    ok = ~shapely.is_empty(cells)
    idx = np.flatnonzero(ok)
    if len(idx) < 2:
        return z, z, np.zeros(0)
    rings_per = shapely.get_num_interior_rings(cells[idx]) + 1
    lines = []
    owner = []
    for k, g in zip(idx, cells[idx], strict=True):
        for poly in shapely.get_parts(g):
            lines.append(poly.exterior)
            owner.append(k)
            for r in poly.interiors:
                lines.append(r)
                owner.append(k)
    del rings_per
    coords, li = shapely.get_coordinates(np.array(lines, dtype=object), return_index=True)
    same = li[:-1] == li[1:]
    a = coords[:-1][same]
    b = coords[1:][same]
    own = np.asarray(owner)[li[:-1][same]]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    p = np.where(swap[:, None], b, a)
    q = np.where(swap[:, None], a, b)
    seg = np.column_stack([p, q])
    length = np.hypot(q[:, 0] - p[:, 0], q[:, 1] - p[:, 1])
    keep = length > 0
    seg, own, length = seg[keep], own[keep], length[keep]
    order = np.lexsort((own, seg[:, 3], seg[:, 2], seg[:, 1], seg[:, 0]))
    seg, own, length = seg[order], own[order], length[order]
    dup = np.all(seg[1:] == seg[:-1], axis=1) & (own[1:] != own[:-1])
    i1 = own[:-1][dup]
    j1 = own[1:][dup]
    ln = length[1:][dup]
    lo_ = np.minimum(i1, j1)
    hi_ = np.maximum(i1, j1)
    if not len(lo_):
        return z, z, np.zeros(0)
    pairs, inv = np.unique(np.column_stack([lo_, hi_]), axis=0, return_inverse=True)
    tot = np.bincount(inv.ravel(), weights=ln, minlength=len(pairs))
    sel = tot > MIN_SHARED
    return pairs[sel, 0], pairs[sel, 1], tot[sel]
