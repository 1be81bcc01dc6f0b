"""A Hohhot-sized synthetic city for benchmarks: ~500 communities, ~2 million households.

The city is a road grid around the centre of Hohhot split into community tiles (bands of one or
two block rows cut into runs of one to three blocks), grouped into four districts by quadrant as
in the real city (回民区 north-west, 新城区 north-east, 玉泉区 south-west, 赛罕区 south-east) and
into streets of about ten communities. Codes and names are the real 街道 and 社区 codes of those
districts from the division file, in order; when the city needs more, codes are synthesised in the
same 12-digit pattern (next free street ``0xx`` / community ``001-199`` numbers) with invented names.

The old centre is mostly walk-ups, the outer rings mid-rises and towers; one community in eight is
an urban village (城中村) of bungalow lanes. Geometry is EPSG:4546 (metres).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer

from geo.synth import divisions
from geo.synth.dwellings import make_dwellings
from geo.synth.layout import CRS_PROJECTED, RoadGrid, area, random_grid
from geo.synth.names import community_name, organisation_name, short_community_name
from geo.synth.people import iter_persons
from geo.synth.plan import CommunitySpec, assemble, plan_community
from geo.synth.seeds import rng_for

CITY_NAME = "呼和浩特市"
#: the city centre (新华广场, about 111.67 E, 40.82 N)
CENTRE_LONLAT = (111.668, 40.818)
#: district code → quadrant (north?, east?)
#: planned dwellings per km² of community (roads included) by building age
DENSITY = {"old": 9000.0, "mixed": 13000.0, "new": 17000.0}
DISTRICT_QUADRANTS = {
    "150103": (True, False),
    "150102": (True, True),
    "150104": (False, False),
    "150105": (False, True),
}


@dataclass
class City:
    """The city's layers (EPSG:4546) and the address prefix of each community."""

    districts: pd.DataFrame  # code, name
    streets: pd.DataFrame  # code, name, district_code
    communities: gpd.GeoDataFrame  # code, name, street_code, district_code, geometry
    compounds: gpd.GeoDataFrame  # id, name, community_code, style, geometry
    buildings: (
        gpd.GeoDataFrame
    )  # id, number, name, floors, units, per_floor, dwellings, compound_id, community_code, use
    areas: dict[str, str]  # community code → 市区街道社区 prefix of standard addresses

    def dwellings(self, seed: int | np.random.Generator, *, with_address: bool = True) -> pd.DataFrame:
        """Every planned dwelling (about 2 million rows for 500 communities)."""
        names = dict(zip(self.compounds["id"], self.compounds["name"], strict=True))
        return make_dwellings(self.buildings, names, self.areas, rng_for(seed), with_address=with_address)

    def iter_persons(self, dwellings: pd.DataFrame, seed: int | np.random.Generator, chunk_size: int = 200_000):
        """Residents of ``dwellings``, one DataFrame per ``chunk_size`` dwellings."""
        return iter_persons(dwellings, seed, chunk_size=chunk_size)


def _tiles(n: int, n_cols: int, rng: np.random.Generator) -> list[list[tuple[int, int]]]:
    """Community tiles (lists of grid cells), west → east in bands north → south, ``n`` of them."""
    tiles: list[list[tuple[int, int]]] = []
    row = 0
    while len(tiles) < n:
        h = 1 if rng.random() < 0.3 else 2
        col = 0
        while col < n_cols and len(tiles) < n:
            w = int(rng.choice((1, 2, 3), p=(0.25, 0.45, 0.3)))
            w = min(w, n_cols - col)
            tiles.append([(row + r, col + c) for r in range(h) for c in range(w)])
            col += w
        row += h
    return tiles


def _bisect(idx: np.ndarray, pts: np.ndarray, k: int) -> list[np.ndarray]:
    """Split ``idx`` into ``k`` compact groups of near-equal size by recursive bisection."""
    if k <= 1:
        return [idx]
    k1 = k // 2
    axis = 0 if np.ptp(pts[idx, 0]) >= np.ptp(pts[idx, 1]) else 1
    order = idx[np.lexsort((pts[idx, 1 - axis], pts[idx, axis]))]
    cut = int(round(len(idx) * k1 / k))
    return _bisect(order[:cut], pts, k1) + _bisect(order[cut:], pts, k - k1)


def _codes_for(
    district: str,
    n_streets: int,
    per_street: list[int],
    rng: np.random.Generator,
    used_names: set[str],
) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(street code, street name, [(community code, name)…]) for a district, real codes first."""
    real_streets = [d for d in divisions.children(district + "000000") if d.level == "town" and d.code[6] in "04"]
    street_codes = [(d.code, d.name) for d in real_streets if d.code[6] == "0"] + [
        (d.code, d.name) for d in real_streets if d.code[6] == "4"
    ]
    taken = {d.code[6:9] for d in divisions.children(district + "000000")}
    k = 1
    while len(street_codes) < n_streets:
        while f"{k:03d}" in taken:
            k += 1
        taken.add(f"{k:03d}")
        name = community_name(rng, used_names).removesuffix("社区") + "街道"
        street_codes.append((f"{district}{k:03d}000", name))
    out = []
    for (code, name), need in zip(street_codes, per_street, strict=False):
        real = [d for d in divisions.children(code) if int(d.code[9:]) < 200]
        comms = [(d.code, short_community_name(d.name)) for d in real][:need]
        have = {d.code[9:] for d in divisions.children(code)}
        j = 1
        while len(comms) < need:
            while f"{j:03d}" in have:
                j += 1
            have.add(f"{j:03d}")
            comms.append((f"{code[:9]}{j:03d}", community_name(rng, used_names)))
        out.append((code, name, comms))
    return out


def generate_city(
    n_communities: int = 500,
    seed: int | np.random.Generator = 0,
    *,
    density_scale: float = 1.0,
) -> City:
    """A synthetic city of ``n_communities`` communities (EPSG:4546), deterministic for ``seed``.

    Household targets are densities per km² of community area (:data:`DENSITY`, times
    ``density_scale``), so a community holds about 4,000 households on average.
    """
    rng = rng_for(seed)
    grid_rng, tile_rng, code_rng, spec_rng, plan_rng = rng.spawn(5)
    cells_per = 3.5
    n_cols = max(2, int(np.ceil(np.sqrt(n_communities * cells_per))))
    n_rows = int(np.ceil(n_communities * cells_per / n_cols * 1.3)) + 2
    cx, cy = Transformer.from_crs("EPSG:4490", CRS_PROJECTED, always_xy=True).transform(*CENTRE_LONLAT)
    size = n_cols * 295.0
    grid: RoadGrid = random_grid(grid_rng, round(cx - size / 2), round(cy + size / 2), n_cols, n_rows)
    tiles = _tiles(n_communities, n_cols, tile_rng)
    used_rows = max(r for t in tiles for r, _ in t) + 1
    grid = RoadGrid(grid.xs, grid.ys[: used_rows + 1], grid.x_half, grid.y_half[: used_rows + 1])

    # tile centres, quadrants → districts, coarse cells → streets
    centres = np.array(
        [
            (
                (grid.xs[min(c for _, c in t)] + grid.xs[max(c for _, c in t) + 1]) / 2,
                (grid.ys[min(r for r, _ in t)] + grid.ys[max(r for r, _ in t) + 1]) / 2,
            )
            for t in tiles
        ]
    )
    mx, my = np.median(centres[:, 0]), np.median(centres[:, 1])
    east, north = centres[:, 0] >= mx, centres[:, 1] >= my
    district_of = np.array(
        [
            next(d for d, q in DISTRICT_QUADRANTS.items() if q == (bool(nn), bool(ee)))
            for nn, ee in zip(north, east, strict=True)
        ]
    )
    by_code = divisions.by_code()
    used_names = {
        short_community_name(x.name)
        for x in divisions.load()
        if x.code[:6] in DISTRICT_QUADRANTS and x.level == "village"
    }
    community_code = np.empty(len(tiles), dtype=object)
    community_nm = np.empty(len(tiles), dtype=object)
    street_code = np.empty(len(tiles), dtype=object)
    street_rows, district_rows = [], []
    for d in DISTRICT_QUADRANTS:
        idx = np.flatnonzero(district_of == d)
        if idx.size == 0:
            continue
        district_rows.append((d, by_code[d + "000000"].name))
        n_real = sum(1 for x in divisions.children(d + "000000") if x.level == "town" and x.code[6] in "04")
        k = min(idx.size, max(n_real, int(np.ceil(idx.size / 14))))
        groups = sorted(_bisect(idx, centres, k), key=lambda g: (-centres[g, 1].mean(), centres[g, 0].mean()))
        for (scode, sname, comms), members in zip(
            _codes_for(d, len(groups), [len(g) for g in groups], code_rng, used_names), groups, strict=True
        ):
            street_rows.append((scode, sname, d))
            members = sorted(members.tolist(), key=lambda i: (-centres[i, 1], centres[i, 0]))
            for i, (ccode, cname) in zip(members, comms, strict=True):
                community_code[i], community_nm[i], street_code[i] = ccode, cname, scode

    streets = pd.DataFrame(street_rows, columns=["code", "name", "district_code"])
    districts = pd.DataFrame(district_rows, columns=["code", "name"])
    street_name = dict(zip(streets["code"], streets["name"], strict=True))
    district_name = dict(zip(districts["code"], districts["name"], strict=True))

    # what each community holds: households, style by distance from the centre, urban villages
    dist = np.hypot(centres[:, 0] - cx, centres[:, 1] - cy) / (size / 2)
    specs = []
    tile_km2 = np.array([sum(area(grid.cell(r, c)) for r, c in t) for t in tiles]) / 1e6
    noise = spec_rng.lognormal(-(0.25**2) / 2, 0.25, len(tiles))
    for i, t in enumerate(tiles):
        u = spec_rng.random()
        bias = "old" if dist[i] + 0.2 * spec_rng.normal() < 0.35 else ("mixed" if dist[i] < 0.7 else "new")
        bungalows = 0
        if len(t) >= 4 and u < 0.22:
            bungalows = int(min(spec_rng.integers(1200, 3000), 440 * (len(t) - 1)))
            bias = "old"
        elif u < 0.5:
            bungalows = int(spec_rng.integers(80, 450))
        target = min(max(DENSITY[bias] * density_scale * tile_km2[i] * noise[i], 1000.0), 9000.0)
        place = community_nm[i].removesuffix("社区")
        specs.append(
            CommunitySpec(
                community_code[i],
                community_nm[i],
                t,
                target=int(target) + bungalows // 2,
                bungalows=bungalows,
                bias=bias,
                school=f"{place}小学" if spec_rng.random() < 0.4 else None,
                offices=tuple(organisation_name(spec_rng, place) for _ in range(int(spec_rng.integers(0, 3)))),
                big_tower=bool(bias != "old" and spec_rng.random() < 0.05),
                local=place,
                office_share=0.35,
            )
        )
    children = plan_rng.spawn(len(specs))
    compound_names: set[str] = set()
    plans = []
    for s, r in zip(specs, children, strict=True):
        compound_names.clear()  # compound names are unique within a community
        plans.append(plan_community(grid, s, r, compound_names))
    layers = assemble(grid, plans, compound_fmt="XQ{:05d}")
    comm = layers.communities
    comm["street_code"] = comm["code"].map(dict(zip(community_code, street_code, strict=True)))
    comm["district_code"] = comm["code"].str[:6]
    areas = {
        c: f"{CITY_NAME}{district_name[c[:6]]}{street_name[s]}{n}"
        for c, s, n in zip(comm["code"], comm["street_code"], comm["name"], strict=True)
    }
    return City(districts, streets, comm, layers.compounds, layers.buildings, areas)
