"""Independent checks of a proposal's hard rules (used by several test modules)."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.balance.graph import adjacency

REL = 1e-6


def check_tiling(proposal, community_gdf, dedicated=None) -> None:
    """Grid polygons are valid single polygons and tile the community (minus dedicated) exactly."""
    grids = proposal.grids
    assert grids.crs == community_gdf.crs
    geoms = grids.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    assert (shapely.get_type_id(geoms) == 3).all(), "every grid is a single Polygon"
    target = community_gdf.geometry.iloc[0]
    if dedicated is not None and len(dedicated):
        target = target.difference(shapely.union_all(dedicated.to_crs(community_gdf.crs).geometry.to_numpy()))
    union = shapely.union_all(geoms)
    area = target.area
    assert shapely.symmetric_difference(union, target).area <= REL * area, "no gaps"
    assert shapely.area(geoms).sum() - union.area <= REL * area, "no overlaps"


def check_assignment(proposal, buildings, lo: int = 300, hi: int = 500) -> None:
    """Every building appears; households add up; grids' counts match the assignment."""
    a = proposal.assignment
    ids = set(buildings["id"])
    assert set(a["building_id"]) == ids
    whole = a[a["units"] == ""]
    assert not whole["building_id"].duplicated().any(), "a whole building is in exactly one grid"
    parts = a[a["units"] != ""]
    assert set(parts["building_id"]).isdisjoint(set(whole["building_id"]))
    per_building = a.groupby("building_id")["households"].sum()
    expected = buildings.set_index("id")["households"]
    assert (per_building.reindex(expected.index) == expected).all()
    counted = a[a["note"] != "dedicated"].groupby("grid_code")["households"].sum()
    g = proposal.grids.set_index("code")["households"]
    pd.testing.assert_series_equal(counted.sort_index(), g.sort_index(), check_names=False, check_dtype=False)
    assert (proposal.grids["in_band"] == proposal.grids["households"].between(lo, hi)).all()


def check_contains_buildings(proposal, buildings) -> None:
    """Each grid polygon contains the footprints of its buildings (whole buildings)."""
    a = proposal.assignment
    whole = a[(a["units"] == "") & (a["note"] == "")]
    fp = buildings.set_index("id").geometry
    grid = proposal.grids.set_index("code").geometry
    g = grid.reindex(whole["grid_code"]).to_numpy()
    f = fp.reindex(whole["building_id"]).to_numpy()
    outside = shapely.area(shapely.difference(f, g))
    assert (outside <= 1e-6 * shapely.area(f)).all()


def check_contiguity(proposal) -> None:
    """Contiguity in the building graph: each grid's cells form one connected set."""
    a = proposal.assignment
    cells = a["cell"].to_numpy() if "cell" in a.columns else None
    assert proposal.grids["contiguous"].all()
    if cells is None:
        return
    ok = np.array([c is not None and not c.is_empty for c in cells])
    sub = a[ok].reset_index(drop=True)
    gs = gpd.GeoSeries(list(sub["cell"]), crs=proposal.grids.crs)
    arr = gs.to_crs(gs.estimate_utm_crs()).to_numpy()  # shared lengths are measured in metres
    ei, ej, _ = adjacency(arr)
    lab = sub["grid_code"].to_numpy()
    for code, idx in sub.groupby("grid_code").groups.items():
        members = {int(i) for i in idx}
        if len(members) == 1:
            continue
        seen = {next(iter(members))}
        stack = list(seen)
        nb: dict[int, list[int]] = {}
        for i, j in zip(ei, ej, strict=True):
            if lab[i] == code and lab[j] == code:
                nb.setdefault(int(i), []).append(int(j))
                nb.setdefault(int(j), []).append(int(i))
        while stack:
            x = stack.pop()
            for y in nb.get(x, []):
                if y not in seen:
                    seen.add(y)
                    stack.append(y)
        assert seen == members, f"grid {code} is not connected in the building graph"


def connected_partitions(n: int, edges: list[tuple[int, int]]):
    """Every partition of ``range(n)`` into connected blocks (brute force, small ``n``)."""
    nb = {i: set() for i in range(n)}
    for i, j in edges:
        nb[i].add(j)
        nb[j].add(i)

    def connected(block: list[int]) -> bool:
        s = set(block)
        seen = {block[0]}
        stack = [block[0]]
        while stack:
            x = stack.pop()
            for y in nb[x]:
                if y in s and y not in seen:
                    seen.add(y)
                    stack.append(y)
        return seen == s

    def rec(rest: list[int]):
        if not rest:
            yield []
            return
        first, others = rest[0], rest[1:]
        for k in range(len(others) + 1):
            for combo in itertools.combinations(others, k):
                block = [first, *combo]
                if not connected(block):
                    continue
                remaining = [x for x in others if x not in combo]
                for tail in rec(remaining):
                    yield [block, *tail]

    yield from rec(list(range(n)))
