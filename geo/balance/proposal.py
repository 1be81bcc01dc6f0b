"""The public entry point: :func:`propose` grids for one community, :func:`propose_many` for many.

Pipeline for one community (all geometry in a metric CRS, returned in the input CRS):

1. Dedicated grids (专属网格) are cut out of the community; buildings inside them are left out.
2. Regions: each compound clipped to the community is a region, the rest is one more region.
3. Buildings above the band's maximum are split by stairwell units (:mod:`geo.balance.towers`).
4. Cells tile the community and give the adjacency graph (:mod:`geo.balance.graph`).
5. Compounds of at most the band's maximum are contracted into one vertex (never split);
   buildings of larger compounds stay separate, tagged with their compound.
6. The graph is partitioned (:mod:`geo.balance.partition`), grids without households are merged
   into a neighbour, grid polygons are the unions of cells (:mod:`geo.balance.polygons`).
7. Codes (:mod:`geo.balance.codes`), metrics and the explanation.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from geo.balance import explain as ex
from geo.balance.codes import assign_codes, check_community_code
from geo.balance.graph import UnitSpec, build_cells, largest_polygon, polygonal
from geo.balance.metrics import inertia_compactness, polsby_popper
from geo.balance.partition import choose_k, components, solve
from geo.balance.polygons import grid_polygons
from geo.balance.repair import Problem
from geo.balance.towers import band_deviation, plan_split
from geo.errors import InvalidInput

ID_COLUMNS = ("id", "building_id")
HOUSEHOLD_COLUMNS = ("households", "dwellings")
COMMUNITY_CODE_COLUMNS = ("code", "community_code")
COMPOUND_ID_COLUMNS = ("id", "compound_id")


@dataclass(frozen=True)
class BalanceParams:
    """Settings of the balancing engine.

    ``min_households``/``max_households`` is the band, ``target`` the preferred grid size.
    ``seed`` makes results reproducible; ``restarts`` is the number of METIS starts per connected
    part, ``trees`` the spanning trees tried per recombination, ``exact_max`` the largest graph
    (vertices) handed to the exhaustive search when the heuristic misses the band, with
    ``exact_budget`` candidate sets at most; ``polish`` runs a final compactness pass.
    """

    min_households: int = 300
    max_households: int = 500
    target: int = 400
    seed: int = 0
    restarts: int = 2
    trees: int = 3
    exact_max: int = 40
    exact_budget: int = 20000
    polish: bool = True

    def __post_init__(self) -> None:
        lo, hi, t = self.min_households, self.max_households, self.target
        if not (0 < lo <= t <= hi):
            raise InvalidInput(f"the band needs 0 < min ≤ target ≤ max, got {lo} ≤ {t} ≤ {hi}")
        if self.restarts < 1 or self.trees < 0:
            raise InvalidInput("restarts must be ≥ 1 and trees ≥ 0")


@dataclass
class Proposal:
    """A proposed division of one or more communities into grids.

    ``grids``: GeoDataFrame (code, community_code, households, buildings, in_band, reason,
    polsby_popper, inertia_compactness, contiguous, geometry) in the buildings' CRS; ``reason``
    is "" for a grid in the band, else the reason code explaining why (see
    :mod:`geo.balance.explain`).
    ``assignment``: DataFrame (building_id, grid_code, units, households, note) — one row per
    building, or per part of a split building; ``units`` is "" for a whole building; ``note`` is
    "" or one of ``no_households``, ``dedicated``, ``outside_community``; ``cell`` is the unit's
    cell (its share of the community: the grid polygons are unions of cells).
    ``communities``: one row per community (see :meth:`summary`), with ``reasons`` (codes) and
    ``explanation`` (sentences).
    """

    grids: gpd.GeoDataFrame
    assignment: pd.DataFrame
    communities: pd.DataFrame

    SUMMARY_COLUMNS = (
        "community_code",
        "households",
        "grids",
        "min",
        "median",
        "max",
        "in_band_share",
        "compounds_split",
        "households_moved",
        "kept_share",
        "reasons",
    )

    def summary(self) -> pd.DataFrame:
        """One row per community: sizes, share of grids in band, compounds split, stability, reasons."""
        df = self.communities.loc[:, list(self.SUMMARY_COLUMNS)].copy()
        df["reasons"] = df["reasons"].map(lambda r: ",".join(r))
        return df

    def summary_text(self, explanations: bool = True) -> str:
        """The summary table as text, followed by each community's explanation."""
        lines = [self.summary().to_string(index=False)]
        if explanations:
            for _, row in self.communities.iterrows():
                lines.append(f"\n{row['community_code']}: {row['explanation']}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary_text()

    @classmethod
    def concat(cls, proposals: Iterable[Proposal]) -> Proposal:
        """One proposal holding all the given ones (same CRS expected)."""
        ps = list(proposals)
        if not ps:
            return cls(
                _empty_grids(None),
                _empty_assignment(),
                pd.DataFrame(columns=list(cls.SUMMARY_COLUMNS)),
            )
        crs = ps[0].grids.crs
        grids = gpd.GeoDataFrame(pd.concat([p.grids for p in ps], ignore_index=True), geometry="geometry", crs=crs)
        return cls(
            grids,
            pd.concat([p.assignment for p in ps], ignore_index=True),
            pd.concat([p.communities for p in ps], ignore_index=True),
        )


# --------------------------------------------------------------------------------------------
# input checks


def _pick(columns: Iterable[str], names: Iterable[str]) -> str | None:
    cols = {c.lower(): c for c in columns}
    for n in names:
        if n.lower() in cols:
            return cols[n.lower()]
    return None


def _check_gdf(gdf: object, what: str) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InvalidInput(f"{what} must be a GeoDataFrame, got {type(gdf).__name__}")
    if gdf.crs is None:
        raise InvalidInput(f"{what} have no CRS; set one (e.g. EPSG:4490 for CGCS2000) before balancing")
    return gdf


def _normalise_buildings(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    b = _check_gdf(buildings, "buildings")
    idc = _pick(b.columns, ID_COLUMNS)
    hhc = _pick(b.columns, HOUSEHOLD_COLUMNS)
    if idc is None:
        raise InvalidInput("buildings need an 'id' column")
    if hhc is None:
        raise InvalidInput("buildings need a 'households' column (dwellings with residents)")
    out = gpd.GeoDataFrame({"id": b[idc].to_numpy()}, geometry=b.geometry.to_numpy(), crs=b.crs)
    hh = pd.to_numeric(b[hhc], errors="coerce").fillna(0)
    if (hh < 0).any():
        bad = b.loc[hh < 0, idc].tolist()[:5]
        raise InvalidInput(f"negative households in buildings {bad}")
    out["households"] = hh.round().astype(int).to_numpy()
    for col, names in (
        ("community_code", ("community_code",)),
        ("compound_id", ("compound_id",)),
        ("units", ("units",)),
        ("floors", ("floors",)),
    ):
        c = _pick(b.columns, names)
        if c is None:
            out[col] = None
        elif col in ("units", "floors"):
            out[col] = pd.to_numeric(b[c], errors="coerce").to_numpy()
        else:
            out[col] = b[c].to_numpy()
    if out["id"].isna().any():
        raise InvalidInput("some buildings have no id")
    dup = out["id"][out["id"].duplicated()].tolist()
    if dup:
        raise InvalidInput(f"duplicate building ids: {dup[:5]}")
    if out.geometry.isna().any() or out.geometry.is_empty.any():
        bad = out.loc[out.geometry.isna() | out.geometry.is_empty, "id"].tolist()[:5]
        raise InvalidInput(f"buildings without geometry: {bad}")
    return out


def _community_geom(community, community_code, crs) -> tuple[str, gpd.GeoSeries]:
    if isinstance(community, gpd.GeoDataFrame):
        c = _check_gdf(community, "communities")
        col = _pick(c.columns, COMMUNITY_CODE_COLUMNS)
        if community_code is not None and col is not None:
            c = c[c[col].astype(str) == str(community_code)]
        if len(c) != 1:
            raise InvalidInput(f"expected one community, got {len(c)} (pass community_code to pick one)")
        code = community_code if community_code is not None else (c[col].iloc[0] if col else None)
        return check_community_code(code), c.geometry
    if isinstance(community, gpd.GeoSeries):
        if community.crs is None:
            raise InvalidInput("the community has no CRS")
        if len(community) != 1:
            raise InvalidInput("expected one community geometry")
        return check_community_code(community_code), community
    if isinstance(community, BaseGeometry):
        return check_community_code(community_code), gpd.GeoSeries([community], crs=crs)
    raise InvalidInput("community must be a GeoDataFrame, GeoSeries or shapely geometry")


def metric_crs(geoms: gpd.GeoSeries) -> CRS:
    """The CRS to compute in: the data's own when it is projected in metres, else the UTM zone
    (WGS 84 datum, which CGCS2000 matches at metre level) holding the data's centre."""
    crs = CRS.from_user_input(geoms.crs)
    if (
        crs.is_projected
        and crs.axis_info
        and all((a.unit_name or "").lower() in ("metre", "meter", "m") for a in crs.axis_info)
    ):
        return crs
    lon, lat = _centre_lonlat(geoms)
    return _utm(int((lon + 180.0) // 6.0) % 60 + 1, lat >= 0)


def _centre_lonlat(geoms: gpd.GeoSeries) -> tuple[float, float]:
    x0, y0, x1, y1 = geoms.total_bounds
    pt = gpd.GeoSeries([shapely.Point((x0 + x1) / 2, (y0 + y1) / 2)], crs=geoms.crs).to_crs(4326)
    return float(pt.x.iloc[0]), float(pt.y.iloc[0])


@functools.lru_cache(maxsize=128)
def _utm(zone: int, north: bool) -> CRS:
    return CRS.from_epsg((32600 if north else 32700) + zone)


def _existing_lookup(existing) -> dict[tuple[str, str], str]:
    """Normalise ``existing`` to ``{(building_id, units): grid_code}`` (units "" = whole building)."""
    out: dict[tuple[str, str], str] = {}
    if existing is None:
        return out
    if isinstance(existing, pd.DataFrame):
        bc = _pick(existing.columns, ("building_id", "id"))
        gc = _pick(existing.columns, ("grid_code", "code"))
        uc = _pick(existing.columns, ("units",))
        if bc is None or gc is None:
            raise InvalidInput("existing assignment needs building_id and grid_code columns")
        for _, r in existing.iterrows():
            if pd.isna(r[gc]) or str(r[gc]) == "":
                continue
            u = "" if uc is None or pd.isna(r[uc]) else str(r[uc])
            out[(str(r[bc]), u)] = str(r[gc])
        return out
    items = existing.items() if isinstance(existing, (Mapping, pd.Series)) else existing
    for k, v in items:
        if v is None or (isinstance(v, float) and math.isnan(v)) or str(v) == "":
            continue
        out[(str(k), "")] = str(v)
    return out


# --------------------------------------------------------------------------------------------
# one community


@dataclass
class _Unit:
    row: int  # index into the buildings frame
    part: str
    households: int
    pinned: bool


@dataclass
class _Result:
    grids: pd.DataFrame  # without geometry, plus metric geometry column
    assignment: pd.DataFrame
    community: dict
    geoms: list = field(default_factory=list)


def propose(
    buildings: gpd.GeoDataFrame,
    community: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry,
    existing: pd.Series | pd.DataFrame | Mapping | None = None,
    params: BalanceParams = BalanceParams(),  # noqa: B008 - frozen dataclass
    compounds: gpd.GeoDataFrame | None = None,
    dedicated: gpd.GeoDataFrame | None = None,
    issued_codes: Iterable[str] | None = None,
    *,
    community_code: str | None = None,
) -> Proposal:
    """Propose grids for one community.

    Parameters
    ----------
    buildings
        Footprints with ``id``, ``households`` (or ``dwellings``), optional ``community_code``
        (rows of other communities are ignored), ``compound_id``, ``units`` and ``floors``. Any
        CRS, but one must be set.
    community
        A one-row GeoDataFrame with a ``code`` (or ``community_code``) column, or a geometry (in
        the buildings' CRS) together with ``community_code``.
    existing
        The current assignment for a re-balance: ``building_id -> grid_code`` (dict or Series) or
        a DataFrame with ``building_id``, ``grid_code`` and optionally ``units`` (split parts).
    compounds
        Compound (小区) polygons with an ``id`` (or ``compound_id``) column. Their boundaries are
        walls; a building belongs to the compound holding most of its footprint. Without them, the
        buildings' ``compound_id`` attribute groups buildings (no walls).
    dedicated
        Dedicated grids (专属网格) drawn by a planner: their area and the buildings inside are
        left out. An optional ``code`` column reports the buildings' dedicated grid, and those
        codes count as issued.
    issued_codes
        Every grid code ever issued (any community); new grids get sequences above them.

    Returns a :class:`Proposal` in the buildings' CRS. Raises :class:`~geo.errors.InvalidInput`
    for unusable input (no CRS, no ids, duplicate ids, negative households, bad community code).
    """
    b = _normalise_buildings(buildings)
    code, comm = _community_geom(community, community_code, b.crs)
    if b["community_code"].notna().any():
        b = b[b["community_code"].astype(str) == code].reset_index(drop=True)
    comm = comm.to_crs(b.crs) if comm.crs != b.crs else comm
    metric = metric_crs(comm)
    cm = None
    if compounds is not None:
        cgdf = _check_gdf(compounds, "compounds").to_crs(b.crs)
        idc = _pick(cgdf.columns, COMPOUND_ID_COLUMNS)
        ids = cgdf[idc].to_numpy() if idc else cgdf.index.to_numpy()
        cm = gpd.GeoDataFrame({"id": ids}, geometry=cgdf.geometry.to_numpy(), crs=b.crs)
    dm = None
    if dedicated is not None:
        dgdf = _check_gdf(dedicated, "dedicated grids").to_crs(b.crs)
        cc = _pick(dgdf.columns, ("community_code",))
        if cc is not None:
            dgdf = dgdf[dgdf[cc].astype(str) == code]
        gc = _pick(dgdf.columns, ("code", "grid_code"))
        dm = gpd.GeoDataFrame(
            {"code": dgdf[gc].astype(str).to_numpy() if gc else [""] * len(dgdf)},
            geometry=dgdf.geometry.to_numpy(),
            crs=b.crs,
        )
    src = CRS.from_user_input(b.crs)
    layout = _project_layout(_layout(code, comm.iloc[0], dm, cm, _grid_size(src)), src, metric)
    bm = b.to_crs(metric)
    res = _propose_metric(code, layout, bm, _existing_lookup(existing), set(issued_codes or ()), params)
    grids = gpd.GeoDataFrame(res.grids, geometry=list(res.geoms), crs=metric).to_crs(b.crs)
    assignment = res.assignment
    if "cell" in assignment.columns and len(assignment):
        assignment = assignment.copy()
        assignment["cell"] = gpd.GeoSeries(assignment["cell"].to_numpy(), crs=metric).to_crs(b.crs).to_numpy()
    return Proposal(grids, assignment, pd.DataFrame([res.community]))


#: boundaries are densified to this spacing (m) before reprojection, so that an edge that is
#: straight in the input CRS stays (to well under a millimetre) where it was after the round trip
DENSIFY_M = 5.0


def _grid_size(crs: CRS) -> float:
    """About 0.01 mm in the units of ``crs`` (overlay precision in the input CRS)."""
    if crs.is_geographic:
        return 1e-5 / 111_320.0
    factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return 1e-5 / (factor or 1.0)


def _to_metric(gs: gpd.GeoSeries, metric: CRS) -> gpd.GeoSeries:
    """Reproject polygons to the metric CRS, densifying them first in their own CRS."""
    src = CRS.from_user_input(gs.crs)
    if src == metric:
        return gs
    if src.is_geographic:
        step = DENSIFY_M / 111_320.0
    else:
        factor = src.axis_info[0].unit_conversion_factor if src.axis_info else 1.0
        step = DENSIFY_M / (factor or 1.0)
    dense = gpd.GeoSeries(shapely.segmentize(gs.to_numpy(), step), index=gs.index, crs=gs.crs)
    return dense.to_crs(metric)


def _empty_grids(crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "code": pd.Series([], dtype=object),
            "community_code": pd.Series([], dtype=object),
            "households": pd.Series([], dtype=int),
            "buildings": pd.Series([], dtype=int),
            "in_band": pd.Series([], dtype=bool),
            "reason": pd.Series([], dtype=object),
            "polsby_popper": pd.Series([], dtype=float),
            "inertia_compactness": pd.Series([], dtype=float),
            "contiguous": pd.Series([], dtype=bool),
        },
        geometry=gpd.GeoSeries([], crs=crs),
        crs=crs,
    )


def _empty_assignment() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "building_id": pd.Series([], dtype=object),
            "grid_code": pd.Series([], dtype=object),
            "units": pd.Series([], dtype=object),
            "households": pd.Series([], dtype=int),
            "note": pd.Series([], dtype=object),
            "cell": pd.Series([], dtype=object),
        }
    )


@dataclass
class _Layout:
    """The community cut into regions: compounds (walls) and the rest; dedicated grids left out."""

    domain: BaseGeometry  # community minus dedicated grids
    dedicated: list[BaseGeometry]
    dedicated_codes: list[str]
    regions: list[BaseGeometry]  # compounds (in id order), then the rest of the domain last
    region_ids: list[object]  # compound ids, None for the rest
    has_compounds: bool


def _layout(
    code: str,
    comm: BaseGeometry,
    dedicated: gpd.GeoDataFrame | None,
    compounds: gpd.GeoDataFrame | None,
    grid: float = 0.0,
) -> _Layout:
    """Overlay community, dedicated grids and compounds (all in one CRS, any CRS).

    Done in the input CRS and only then projected, so that boundaries shared by two layers
    (a compound wall on the community boundary) stay exactly shared after projection. ``grid``
    is the precision of the overlays (snap rounding, about 0.01 mm): float noise cannot leave
    a zero-width corridor between the parts of a community cut by a dedicated grid.
    """
    comm = polygonal(shapely.make_valid(comm) if not comm.is_valid else comm)
    if comm.is_empty:
        raise InvalidInput(f"community {code} has an empty or invalid boundary")
    tiny = 1e-9 * comm.area
    ded_geoms: list[BaseGeometry] = []
    ded_codes: list[str] = []
    if dedicated is not None and len(dedicated):
        for g, c in zip(dedicated.geometry, dedicated["code"], strict=True):
            if g is None or g.is_empty:
                continue
            gi = polygonal(shapely.intersection(polygonal(shapely.make_valid(g)), comm, grid_size=grid))
            if gi.area > tiny:
                ded_geoms.append(gi)
                ded_codes.append(c)
    domain = comm
    if ded_geoms:
        domain = polygonal(shapely.difference(comm, shapely.union_all(ded_geoms), grid_size=grid))
    regions: list[BaseGeometry] = []
    region_ids: list[object] = []
    rest = domain
    has = compounds is not None and len(compounds) > 0
    if has:
        taken = shapely.Polygon()
        order = sorted(range(len(compounds)), key=lambda i: str(compounds["id"].iloc[i]))
        for i in order:
            g = compounds.geometry.iloc[i]
            if g is None or g.is_empty:
                continue
            gi = polygonal(shapely.intersection(polygonal(shapely.make_valid(g)), domain, grid_size=grid))
            if not taken.is_empty:
                gi = polygonal(shapely.difference(gi, taken, grid_size=grid))
            if gi.area <= tiny:
                continue
            regions.append(gi)
            region_ids.append(compounds["id"].iloc[i])
            taken = shapely.union(taken, gi, grid_size=grid)
        if not taken.is_empty:
            rest = polygonal(shapely.difference(domain, taken, grid_size=grid))
    regions.append(rest)
    region_ids.append(None)
    return _Layout(domain, ded_geoms, ded_codes, regions, region_ids, has)


def _project_layout(lay: _Layout, src: CRS, metric: CRS) -> _Layout:
    def proj(geoms: list[BaseGeometry]) -> list[BaseGeometry]:
        if not geoms:
            return []
        out = _to_metric(gpd.GeoSeries(geoms, crs=src), metric).to_numpy()
        bad = ~shapely.is_valid(out)
        if bad.any():
            out[bad] = [polygonal(shapely.make_valid(g)) for g in out[bad]]
        return list(out)

    domain = _open(proj([lay.domain])[0])
    regions = [polygonal(shapely.intersection(_open(r), domain)) for r in proj(lay.regions)]
    return _Layout(
        domain,
        proj(lay.dedicated),
        list(lay.dedicated_codes),
        regions,
        list(lay.region_ids),
        lay.has_compounds,
    )


#: slivers narrower than twice this (m) are dropped from the community and its regions: a
#: dedicated grid or compound drawn a hair inside the community boundary must not leave a
#: corridor that connects what it separates
SLIVER_M = 0.01


def _open(geom: BaseGeometry) -> BaseGeometry:
    """Morphological opening by :data:`SLIVER_M` (square corners kept), never adding area."""
    if geom.is_empty:
        return geom
    opened = shapely.buffer(shapely.buffer(geom, -SLIVER_M, join_style="mitre"), SLIVER_M, join_style="mitre")
    return polygonal(shapely.intersection(opened, geom))


def _propose_metric(
    code: str,
    layout: _Layout,
    b: gpd.GeoDataFrame,
    existing: dict[tuple[str, str], str],
    issued: set[str],
    params: BalanceParams,
) -> _Result:
    lo, hi, target = params.min_households, params.max_households, params.target
    reasons: list[ex.Reason] = []
    domain = layout.domain
    ded_geoms, ded_codes = layout.dedicated, layout.dedicated_codes
    reserved = {c for c in ded_codes if c}
    regions, region_cid = list(layout.regions), list(layout.region_ids)
    outside_region = len(regions) - 1
    has_compounds = layout.has_compounds

    # 2. buildings: footprints, dedicated, outside
    geoms = np.array(b.geometry.to_numpy(), dtype=object)
    is_pt = shapely.get_type_id(geoms) == 0
    if is_pt.any():
        geoms[is_pt] = shapely.buffer(geoms[is_pt], 4.0, cap_style="square")
    simple = (shapely.get_type_id(geoms) == 3) & shapely.is_valid(geoms)
    geoms = np.array(
        [g if ok else (largest_polygon(g) if g is not None else None) for g, ok in zip(geoms, simple, strict=True)],
        dtype=object,
    )
    nb = len(b)
    note = np.array([""] * nb, dtype=object)
    ded_code = np.array([""] * nb, dtype=object)
    hh = b["households"].to_numpy().astype(int)
    if ded_geoms:
        reps = shapely.point_on_surface(geoms)
        for g, c in zip(ded_geoms, ded_codes, strict=True):
            inside = shapely.contains(g, reps) & (note == "")
            note[inside] = "dedicated"
            ded_code[inside] = c
    fp_in = np.array([None] * nb, dtype=object)
    todo = np.array([not note[i] and geoms[i] is not None for i in range(nb)], dtype=bool)
    for i in np.flatnonzero(~todo):
        if geoms[i] is None and not note[i]:
            note[i] = "outside_community"
    if todo.any():
        inside = shapely.contains_properly(domain, geoms[todo])
        clipped = np.where(inside, geoms[todo], None)
        cut = ~inside
        if cut.any():
            part = shapely.intersection(geoms[todo][cut], domain)
            clipped[cut] = [largest_polygon(g) for g in part]
        fp_in[todo] = clipped
        for i in np.flatnonzero(todo):
            if fp_in[i] is None:
                note[i] = "outside_community"

    ok_rows = [i for i in range(nb) if fp_in[i] is not None]
    region_of = np.full(nb, outside_region, dtype=int)
    if len(regions) > 1 and ok_rows:
        rarr = np.array(regions, dtype=object)
        tree = shapely.STRtree(rarr)
        farr = np.array([fp_in[i] for i in ok_rows], dtype=object)
        qi, qr = tree.query(farr, predicate="intersects")
        if len(qi):
            areas = shapely.area(shapely.intersection(farr[qi], rarr[qr]))
            best: dict[int, tuple[float, int]] = {}
            for i, r, a in zip(qi, qr, areas, strict=True):
                if a > best.get(int(i), (-1.0, -1))[0]:
                    best[int(i)] = (float(a), int(r))
            for i, (a, r) in best.items():
                if a > 0:
                    region_of[ok_rows[i]] = r
    compound_of = np.array([None] * nb, dtype=object)
    if has_compounds:
        for i in ok_rows:
            compound_of[i] = region_cid[region_of[i]]
    else:
        attr = b["compound_id"].to_numpy()
        for i in ok_rows:
            v = attr[i]
            if v is not None and not (isinstance(v, float) and math.isnan(v)) and str(v) != "":
                compound_of[i] = v
    comp_hh: dict[object, int] = {}
    for i in ok_rows:
        if compound_of[i] is not None:
            comp_hh[compound_of[i]] = comp_hh.get(compound_of[i], 0) + int(hh[i])

    # 4. units (towers split)
    units: list[_Unit] = []
    specs: list[UnitSpec] = []
    split_info: list[tuple[int, object]] = []
    units_col = b["units"].to_numpy()
    floors_col = b["floors"].to_numpy()
    for i in ok_rows:
        u = units_col[i]
        f = floors_col[i]
        plan = plan_split(
            int(hh[i]),
            lo,
            hi,
            target,
            int(u) if u is not None and not pd.isna(u) and u > 0 else None,
            int(f) if f is not None and not pd.isna(f) and f > 0 else None,
        )
        pinned = plan.is_split or plan.reason == "over_band_not_split"
        if plan.reason != "whole":
            split_info.append((i, plan))
        for part in plan.parts:
            units.append(_Unit(i, part.label, part.households, pinned))
            specs.append(UnitSpec(fp_in[i], int(region_of[i]), i, part.start, part.end))

    # 5. cells and graph
    if specs:
        cg = build_cells(specs, regions)
        unbrs = cg.neighbours()
    else:
        cg = None
        unbrs = []
    nu = len(units)
    missing = set(cg.missing) if cg is not None else set()
    # atoms: small compounds contracted (per connected piece), everything else alone
    atom_of = np.full(nu, -1, dtype=int)
    atoms: list[list[int]] = []
    disconnected_compounds: list[object] = []
    by_comp: dict[object, list[int]] = {}
    for k, un in enumerate(units):
        if k in missing:
            continue
        c = compound_of[un.row]
        if c is not None and comp_hh.get(c, 0) <= hi:
            by_comp.setdefault(c, []).append(k)
        else:
            atom_of[k] = len(atoms)
            atoms.append([k])
    for c in sorted(by_comp, key=str):
        pieces = components(nu, unbrs, by_comp[c])
        if len(pieces) > 1 and sum(1 for p in pieces if sum(units[k].households for k in p) > 0) > 1:
            disconnected_compounds.append(c)
        for p in pieces:
            for k in p:
                atom_of[k] = len(atoms)
            atoms.append(p)
    na = len(atoms)
    large = sorted({c for c, h in comp_hh.items() if h > hi}, key=str)
    large_idx = {c: j for j, c in enumerate(large)}
    weight = np.zeros(na, dtype=int)
    area = np.zeros(na)
    perim = np.zeros(na)
    group = np.full(na, -1, dtype=int)
    pinned = np.zeros(na, dtype=bool)
    anbrs: list[dict[int, float]] = [{} for _ in range(na)]
    awall: list[set[int]] = [set() for _ in range(na)]
    for a, ks in enumerate(atoms):
        for k in ks:
            weight[a] += units[k].households
            area[a] += cg.area[k]
            perim[a] += cg.perimeter[k]
            pinned[a] |= units[k].pinned
            c = compound_of[units[k].row]
            if c in large_idx:
                group[a] = large_idx[c]
    if cg is not None:
        for i, j, ln, wall in zip(cg.edges_i, cg.edges_j, cg.edges_len, cg.edges_wall, strict=True):
            ai, aj = atom_of[i], atom_of[j]
            if ai < 0 or aj < 0:
                continue
            if ai == aj:
                perim[ai] -= 2 * ln
                continue
            anbrs[ai][aj] = anbrs[ai].get(aj, 0.0) + float(ln)
            anbrs[aj][ai] = anbrs[aj].get(ai, 0.0) + float(ln)
            if wall:
                awall[ai].add(aj)
                awall[aj].add(ai)

    # old labels (re-balance)
    unit_old: list[str | None] = []
    for un in units:
        bid = str(b["id"].iloc[un.row])
        unit_old.append(existing.get((bid, un.part)) or existing.get((bid, "")))
    old_codes = sorted({c for c in unit_old if c})
    old_idx = {c: i for i, c in enumerate(old_codes)}
    rebalance = bool(old_codes)
    aold = None
    if rebalance:
        aold = np.full(na, -1, dtype=int)
        for a, ks in enumerate(atoms):
            votes: dict[str, float] = {}
            for k in ks:
                c = unit_old[k]
                if c:
                    votes[c] = votes.get(c, 0.0) + units[k].households + 1e-3
            if votes:
                aold[a] = old_idx[min(votes, key=lambda c: (-votes[c], c))]

    pb = Problem(
        weight=weight,
        area=area,
        perim=perim,
        nbrs=anbrs,
        group=group,
        pinned=pinned,
        wall=awall,
        old=aold,
    )
    labels, info = solve(
        pb,
        lo,
        hi,
        target,
        seed=params.seed,
        restarts=params.restarts,
        trees=params.trees,
        exact_max=params.exact_max,
        exact_budget=params.exact_budget,
        polish=params.polish,
    )

    # unit labels; grids without households merge into a neighbour
    ulab = np.full(nu, -1, dtype=int)
    for a, ks in enumerate(atoms):
        for k in ks:
            ulab[k] = labels[a]
    ulab = _merge_empty_grids(ulab, units, cg, missing)
    # compact labels
    present = sorted({int(x) for x in ulab if x >= 0})
    remap = {g: i for i, g in enumerate(present)}
    k = len(present)
    for u in range(nu):
        if ulab[u] >= 0:
            ulab[u] = remap[int(ulab[u])]

    # 6. polygons
    if k == 0:
        polys = np.array([domain], dtype=object)
        k = 1
        empty_community = True
    else:
        polys = grid_polygons(cg.cells, ulab, k)
        empty_community = False
    # units without a cell (missing) and buildings outside: nearest grid
    centroid_tree = shapely.STRtree(polys)
    for u in missing:
        fp = specs[u].footprint
        ulab[u] = int(centroid_tree.nearest(fp)) if fp is not None else 0
    gh = np.zeros(k, dtype=int)
    for u in range(nu):
        if ulab[u] >= 0:
            gh[ulab[u]] += units[u].households
    outside_rows = [i for i in range(nb) if note[i] == "outside_community"]
    outside_lab = {}
    for i in outside_rows:
        g = geoms[i]
        outside_lab[i] = int(centroid_tree.nearest(g)) if g is not None else 0
        gh[outside_lab[i]] += int(hh[i])

    # 7. codes
    xy = shapely.get_coordinates(shapely.centroid(polys))
    kept: dict[int, dict[str, int]] | None = None
    if rebalance:
        kept = {}
        for u in range(nu):
            c = unit_old[u]
            if c and ulab[u] >= 0:
                kept.setdefault(int(ulab[u]), {})
                kept[int(ulab[u])][c] = kept[int(ulab[u])].get(c, 0) + units[u].households
    codes = assign_codes(
        code,
        xy,
        domain.bounds[3] if not domain.is_empty else 0.0,
        domain.area,
        kept,
        issued,
        reserved,
    )

    # assignment
    rows = []
    ids = b["id"].to_numpy()
    for u, un in enumerate(units):
        rows.append(
            (
                ids[un.row],
                codes[ulab[u]],
                un.part,
                un.households,
                "" if un.households > 0 else "no_households",
                cg.cells[u] if cg is not None else None,
            )
        )
    for i in range(nb):
        if note[i] == "dedicated":
            rows.append((ids[i], ded_code[i], "", int(hh[i]), "dedicated", None))
        elif note[i] == "outside_community":
            rows.append((ids[i], codes[outside_lab[i]], "", int(hh[i]), "outside_community", None))
    # ``cell``: the unit's share of the community (metric CRS here; the caller's CRS in a Proposal)
    assignment = pd.DataFrame(rows, columns=["building_id", "grid_code", "units", "households", "note", "cell"])
    if not len(assignment):
        assignment = _empty_assignment()

    # grid table
    nbuild = np.zeros(k, dtype=int)
    seen_b: set[tuple[int, int]] = set()
    for u, un in enumerate(units):
        key = (int(ulab[u]), un.row)
        if key not in seen_b:
            seen_b.add(key)
            nbuild[ulab[u]] += 1
    for g in outside_lab.values():
        nbuild[g] += 1
    contiguous = np.ones(k, dtype=bool)
    for g in range(k):
        members = [u for u in range(nu) if ulab[u] == g and u not in missing]
        if len(members) > 1 and len(components(nu, unbrs, members)) > 1:
            contiguous[g] = False
        if polys[g].geom_type != "Polygon":
            contiguous[g] = False
    in_band = (gh >= lo) & (gh <= hi)
    grids = pd.DataFrame(
        {
            "code": codes,
            "community_code": code,
            "households": gh,
            "buildings": nbuild,
            "in_band": in_band,
            "polsby_popper": polsby_popper(polys),
            "inertia_compactness": inertia_compactness(polys),
            "contiguous": contiguous,
        }
    )
    order = np.argsort(codes, kind="stable")
    grids = grids.iloc[order].reset_index(drop=True)
    polys = polys[order]

    # 8. explanation
    total = int(sum(un.households for un in units) + sum(int(hh[i]) for i in outside_rows))
    grid_reason: dict[int, str] = {}
    reasons.extend(
        _explain(
            grid_reason=grid_reason,
            code=code,
            params=params,
            total=total,
            pb=pb,
            labels=labels,
            atoms=atoms,
            units=units,
            ulab=ulab,
            codes=codes,
            gh=gh,
            info=info,
            split_info=split_info,
            ids=ids,
            comp_hh=comp_hh,
            compound_of=compound_of,
            large=large,
            disconnected_compounds=disconnected_compounds,
            note=note,
            cg=cg,
            empty_community=empty_community,
        )
    )
    by_code = {codes[g]: r for g, r in grid_reason.items()}
    grids.insert(grids.columns.get_loc("in_band") + 1, "reason", [by_code.get(c, "") for c in grids["code"]])
    moved = 0
    with_old = 0
    retired: list[str] = []
    if rebalance:
        for u, un in enumerate(units):
            c = unit_old[u]
            if c:
                with_old += un.households
                if codes[ulab[u]] != c:
                    moved += un.households
        retired = sorted(set(old_codes) - set(codes))
        new_codes = sorted(set(codes) - set(old_codes))
        kept_codes = len(set(codes) & set(old_codes))
        share = 1.0 - moved / with_old if with_old else 1.0
        reasons.append(
            ex.Reason(
                "rebalance",
                f"Re-balance: {ex.fmt_hh(with_old - moved)} of {ex.fmt_hh(with_old)} households ({share:.0%}) "
                f"keep their grid; {kept_codes} grid code(s) kept"
                + (f", new: {', '.join(new_codes)}" if new_codes else "")
                + (f", retired (never reused): {', '.join(retired)}" if retired else "")
                + ".",
            )
        )
    sizes = grids["households"].to_numpy()
    split_compounds = 0
    for c in large:
        gs = {int(ulab[u]) for u in range(nu) if compound_of[units[u].row] == c and units[u].households > 0}
        if len(gs) > 1:
            split_compounds += 1
    community = {
        "community_code": code,
        "households": total,
        "grids": int(k),
        "min": int(sizes.min()) if len(sizes) else 0,
        "median": float(np.median(sizes)) if len(sizes) else 0.0,
        "max": int(sizes.max()) if len(sizes) else 0,
        "in_band_share": float(np.mean(in_band)) if len(sizes) else 0.0,
        "compounds_split": split_compounds,
        "households_moved": int(moved),
        "kept_share": (1.0 - moved / with_old) if with_old else float("nan"),
        "codes_retired": retired,
        "reasons": [r.code for r in reasons],
        "explanation": " ".join(r.text for r in reasons) if reasons else "All grids are within the band.",
        "params": asdict(params),
    }
    return _Result(grids=grids, assignment=assignment, community=community, geoms=list(polys))


def _merge_empty_grids(ulab: np.ndarray, units: list[_Unit], cg, missing: set[int]) -> np.ndarray:
    """Merge grids without households into the neighbour sharing the longest boundary."""
    ulab = ulab.copy()
    nu = len(units)
    if nu == 0:
        return ulab
    for _ in range(nu):
        hh: dict[int, int] = {}
        for u in range(nu):
            if ulab[u] >= 0:
                hh[int(ulab[u])] = hh.get(int(ulab[u]), 0) + units[u].households
        empty = sorted(g for g, h in hh.items() if h == 0)
        if not empty or len(hh) == len(empty):
            if empty and len(hh) > 1:
                # nothing has households: one grid for everything
                for u in range(nu):
                    ulab[u] = empty[0]
            break
        changed = False
        for g in empty:
            shared: dict[int, float] = {}
            for i, j, ln in zip(cg.edges_i, cg.edges_j, cg.edges_len, strict=True):
                gi, gj = int(ulab[i]), int(ulab[j])
                if gi == g and gj != g:
                    shared[gj] = shared.get(gj, 0.0) + ln
                elif gj == g and gi != g:
                    shared[gi] = shared.get(gi, 0.0) + ln
            if shared:
                h = max(shared, key=lambda x: (shared[x], -x))
                ulab[ulab == g] = h
                changed = True
                break
        if not changed:
            # isolated areas without households: join the nearest grid with households
            g = empty[0]
            mine = [u for u in range(nu) if ulab[u] == g]
            others = [u for u in range(nu) if ulab[u] != g and hh.get(int(ulab[u]), 0) > 0]
            if not others:
                break
            geom = shapely.union_all([cg.cells[u] for u in mine])
            d = shapely.distance(np.array([cg.cells[u] for u in others], dtype=object), geom)
            h = int(ulab[others[int(np.argmin(d))]])
            ulab[ulab == g] = h
    return ulab


def _explain(**kw) -> list[ex.Reason]:
    code = kw["code"]
    params: BalanceParams = kw["params"]
    lo, hi, target = params.min_households, params.max_households, params.target
    band = ex.band_text(lo, hi)
    total = kw["total"]
    pb: Problem = kw["pb"]
    labels = kw["labels"]
    units: list[_Unit] = kw["units"]
    ulab = kw["ulab"]
    codes = kw["codes"]
    gh = kw["gh"]
    info = kw["info"]
    ids = kw["ids"]
    note = kw["note"]
    cg = kw["cg"]
    out: list[ex.Reason] = []
    grid_reason = kw["grid_reason"]
    if kw["empty_community"] or total == 0:
        out.append(ex.Reason("no_households", "The community has no households; one grid covers it."))
        for g in range(len(codes)):
            grid_reason[g] = "no_households"
        return out
    ks = choose_k(total, lo, hi, target)
    if total < lo:
        out.append(
            ex.Reason(
                "under_band_total",
                f"The community has only {ex.fmt_hh(total)} households, fewer than the band's minimum of {lo}; "
                f"it forms a single grid.",
            )
        )
    elif band_deviation(total / ks[0], lo, hi) > 0:
        k0 = ks[0]
        alt = k0 + 1 if total / k0 > hi else max(1, k0 - 1)
        out.append(
            ex.Reason(
                "band_infeasible_total",
                f"{ex.fmt_hh(total)} households cannot be divided into grids of {band}: "
                f"{k0} grid(s) would hold about {ex.fmt_hh(total / k0)} each, {alt} about "
                f"{ex.fmt_hh(total / alt)}; the proposal uses the split closest to the band.",
            )
        )
    # towers
    for i, plan in kw["split_info"]:
        h = sum(p.households for p in plan.parts)
        if plan.reason == "over_band_not_split":
            out.append(
                ex.Reason(
                    "tower_not_split",
                    f"Building {ids[i]} holds {ex.fmt_hh(h)} households, above the maximum of {hi}, but splitting it "
                    f"would leave parts further outside the band; it is one grid of its own.",
                )
            )
            continue
        parts = "; ".join(
            f"{'units ' if p.label and p.label[0].isdigit() else ''}{p.label}: {ex.fmt_hh(p.households)}"
            for p in plan.parts
        )
        rc = {"units": "tower_split", "floors": "tower_split_floors"}.get(plan.reason, "tower_split_estimated")
        how = {
            "units": "by stairwell units",
            "floors": "by floors, because a single unit holds more than the maximum",
        }.get(plan.reason, "evenly, because neither units nor floors are known")
        extra = (
            " (number of units estimated at two dwellings per floor)"
            if plan.units_estimated and plan.reason != "households"
            else ""
        )
        if any(not lo <= pt.households <= hi for pt in plan.parts):
            extra += f"; no split fits {band}, this one comes closest"
        out.append(
            ex.Reason(
                rc,
                f"Building {ids[i]} holds {ex.fmt_hh(h)} households, above the maximum of {hi}; it is split {how} "
                f"into {len(plan.parts)} grids of its own ({parts}){extra}.",
            )
        )
    # compounds
    for c in kw["large"]:
        ch = kw["comp_hh"][c]
        gs = {
            int(ulab[u]) for u in range(len(units)) if kw["compound_of"][units[u].row] == c and units[u].households > 0
        }
        need = math.ceil(ch / hi)
        if len(gs) > need:
            out.append(
                ex.Reason(
                    "compound_extra_split",
                    f"Compound {c} ({ex.fmt_hh(ch)} households) is above the maximum and is split into {len(gs)} grids "
                    f"({need} would be the fewest) so that grids stay within {band} and contiguous.",
                )
            )
        elif len(gs) > 1:
            out.append(
                ex.Reason(
                    "compound_split",
                    f"Compound {c} ({ex.fmt_hh(ch)} households) is above the maximum of {hi} and is split along its "
                    f"buildings into {len(gs)} grids, the fewest possible.",
                )
            )
    for c in kw["disconnected_compounds"]:
        out.append(
            ex.Reason(
                "compound_disconnected",
                f"The buildings of compound {c} do not form one connected area (cut by a dedicated grid or other "
                f"compounds), so its separate parts may belong to different grids.",
            )
        )
    # out-of-band grids
    comps = components(pb.n, pb.nbrs)
    comp_of = {}
    for ci, comp in enumerate(comps):
        for v in comp:
            comp_of[v] = ci
    atoms = kw["atoms"]
    unit_atom = {}
    for a, ks_ in enumerate(atoms):
        for k in ks_:
            unit_atom[k] = a
    done_comp: set[int] = set()
    for g in range(len(codes)):
        if lo <= gh[g] <= hi:
            continue
        us = [u for u in range(len(units)) if ulab[u] == g]
        comp_ids = {comp_of[unit_atom[u]] for u in us if u in unit_atom}
        pinned_grid = any(units[u].pinned for u in us)
        ctot = sum(int(pb.weight[v]) for ci in comp_ids for v in comps[ci])
        side = "below" if gh[g] < lo else "above"
        what = f"Grid {codes[g]} holds {ex.fmt_hh(gh[g])} households, {side} the band of {band}"
        if total < lo or band_deviation(total / ks[0], lo, hi) > 0:
            grid_reason[g] = "under_band_total" if total < lo else "band_infeasible_total"
            continue  # already explained at community level
        if pinned_grid:
            plans = dict(kw["split_info"])
            whole = any(plans.get(units[u].row) and plans[units[u].row].reason == "over_band_not_split" for u in us)
            grid_reason[g] = "tower_not_split" if whole else "tower_split"
            continue  # explained by the tower reasons
        if comp_ids and comp_ids <= done_comp:
            grid_reason[g] = "isolated_part"
            continue
        if (
            len(comps) > 1
            and comp_ids
            and all(ci not in done_comp for ci in comp_ids)
            and (ctot < lo or band_deviation(ctot / choose_k(ctot, lo, hi, target)[0], lo, hi) > 0)
        ):
            done_comp |= comp_ids
            grid_reason[g] = "isolated_part"
            part_atoms = {v for ci in comp_ids for v in comps[ci]}
            kpart = max(1, len({int(labels[v]) for v in part_atoms if pb.weight[v] > 0}))
            out.append(
                ex.Reason(
                    "isolated_part",
                    f"{what}: its part of the community ({ex.fmt_hh(ctot)} households) is cut off from the rest "
                    f"(by a dedicated grid, a wall or the boundary) and cannot be divided into grids of {band}; "
                    f"{kpart} grid(s) of about {ex.fmt_hh(ctot / kpart)} households come closest to the band.",
                )
            )
            continue
        if any(unit_atom.get(u) in info.infeasible for u in us):
            grid_reason[g] = "band_infeasible_layout"
            out.append(
                ex.Reason(
                    "band_infeasible_layout",
                    f"{what}: an exhaustive search over all contiguous arrangements that keep compounds of at most "
                    f"{hi} households whole showed that the sizes and layout of the buildings here do not allow every "
                    f"grid to be within {band}.",
                )
            )
        else:
            big = [
                v
                for v in range(pb.n)
                if labels[v] >= 0 and any(unit_atom.get(u) == v for u in us) and pb.weight[v] > hi - lo
            ]
            because = (
                f" (it contains indivisible blocks of {', '.join(ex.fmt_hh(pb.weight[v]) for v in big)} households)"
                if big
                else ""
            )
            grid_reason[g] = "band_not_reached"
            out.append(
                ex.Reason(
                    "band_not_reached",
                    f"{what}{because}; no contiguous arrangement within the band was found around it.",
                )
            )
    zero = sum(1 for un in units if un.households == 0)
    if zero:
        out.append(
            ex.Reason(
                "no_household_buildings",
                f"{zero} building(s) without households (shops, schools, …) are attached to a neighbouring grid "
                f"so that the grids cover the community; they do not count towards the band.",
            )
        )
    nded = int(np.sum(note == "dedicated"))
    if nded:
        out.append(
            ex.Reason(
                "dedicated_excluded",
                f"{nded} building(s) inside dedicated grids (专属网格) are left out; the dedicated grids' area is not "
                f"part of any proposed grid.",
            )
        )
    nout = int(np.sum(note == "outside_community"))
    if nout:
        out.append(
            ex.Reason(
                "outside_community",
                f"{nout} building(s) carry community code {code} but lie outside its boundary; they are assigned to "
                f"the nearest grid (check the data).",
            )
        )
    if cg is not None and cg.detached:
        out.append(
            ex.Reason(
                "detached_area",
                "Part of the community has no buildings and is cut off from the rest; it joins the nearest grid, "
                "which therefore has more than one part.",
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# many communities


def _task(args) -> tuple[str, Proposal | None, str | None]:
    code, kwargs = args
    try:
        return code, propose(**kwargs), None
    except Exception as exc:  # noqa: BLE001 - reported per community
        return code, None, f"{type(exc).__name__}: {exc}"


def propose_many(
    buildings: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    existing: pd.Series | pd.DataFrame | Mapping | None = None,
    params: BalanceParams = BalanceParams(),  # noqa: B008
    compounds: gpd.GeoDataFrame | None = None,
    dedicated: gpd.GeoDataFrame | None = None,
    issued_codes: Iterable[str] | None = None,
    *,
    jobs: int = 1,
    progress: Callable[[int, int, str], None] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Proposal]:
    """Propose grids for every community in ``communities`` (a ``code`` column), in parallel.

    Buildings are matched to communities by their ``community_code`` column when present, else by
    location (representative point). ``jobs`` worker processes (``0``/``None``: one per CPU);
    ``progress(done, total, code)`` is called in this process after each community. A community
    that fails is skipped; its error message is stored in ``errors`` when a dict is given, and an
    :class:`InvalidInput` is raised when every community fails.
    Returns ``{community_code: Proposal}`` in code order; ``Proposal.concat`` joins them.
    """
    b = _normalise_buildings(buildings)
    comms = _check_gdf(communities, "communities")
    col = _pick(comms.columns, COMMUNITY_CODE_COLUMNS)
    if col is None:
        raise InvalidInput("communities need a 'code' column")
    comms = comms.to_crs(b.crs)
    codes = [check_community_code(c) for c in comms[col]]
    if len(set(codes)) != len(codes):
        raise InvalidInput("duplicate community codes")
    if b["community_code"].isna().all():
        reps = b.geometry.representative_point()
        idx_b, idx_c = comms.sindex.query(reps, predicate="within")
        cc = np.array([None] * len(b), dtype=object)
        cc[idx_b] = np.array(codes, dtype=object)[idx_c]
        b["community_code"] = cc
    b["community_code"] = b["community_code"].astype(str)
    groups = {k: g for k, g in b.groupby("community_code", sort=False)}  # noqa: C416 - dict(groupby) fails on pandas 3
    cmp_ = compounds.to_crs(b.crs) if compounds is not None else None
    ded = dedicated.to_crs(b.crs) if dedicated is not None else None
    issued = set(issued_codes or ())
    ex_lookup = existing
    tasks = []
    for code, geom in zip(codes, comms.geometry, strict=True):
        bs = groups.get(code)
        if bs is None:
            bs = b.iloc[0:0]
        cg = None
        if cmp_ is not None:
            hit = cmp_.sindex.query(geom, predicate="intersects")
            cg = cmp_.iloc[hit]
        dg = None
        if ded is not None:
            dcol = _pick(ded.columns, ("community_code",))
            dg = (
                ded[ded[dcol].astype(str) == code] if dcol else ded.iloc[ded.sindex.query(geom, predicate="intersects")]
            )
        sub_existing = None
        if ex_lookup is not None:
            sub_existing = _subset_existing(ex_lookup, set(map(str, bs["id"])))
        kwargs = {
            "buildings": bs,
            "community": geom,
            "community_code": code,
            "existing": sub_existing,
            "params": params,
            "compounds": cg,
            "dedicated": dg,
            "issued_codes": issued,
        }
        tasks.append((code, kwargs))
    out: dict[str, Proposal] = {}
    failures: dict[str, str] = {}
    total = len(tasks)
    done = 0
    workers = jobs if jobs and jobs > 0 else (os.cpu_count() or 1)
    if workers == 1 or total <= 1:
        for t in tasks:
            code, prop, err = _task(t)
            done += 1
            if prop is not None:
                out[code] = prop
            else:
                failures[code] = err or "failed"
            if progress:
                progress(done, total, code)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            # largest communities first, so that no long one is left alone at the end
            order = sorted(tasks, key=lambda t: -len(t[1]["buildings"]))
            futs = [pool.submit(_task, t) for t in order]
            for fut in as_completed(futs):
                code, prop, err = fut.result()
                done += 1
                if prop is not None:
                    out[code] = prop
                else:
                    failures[code] = err or "failed"
                if progress:
                    progress(done, total, code)
    if errors is not None:
        errors.update(failures)
    if failures and not out:
        first = next(iter(sorted(failures.items())))
        raise InvalidInput(f"no community could be balanced; {first[0]}: {first[1]}")
    return {c: out[c] for c in sorted(out)}


def _subset_existing(existing, ids: set[str]):
    if isinstance(existing, pd.DataFrame):
        bc = _pick(existing.columns, ("building_id", "id"))
        if bc is None:
            raise InvalidInput("existing assignment needs building_id and grid_code columns")
        return existing[existing[bc].astype(str).isin(ids)]
    items = existing.items() if isinstance(existing, (Mapping, pd.Series)) else existing
    return {k: v for k, v in items if str(k) in ids}
