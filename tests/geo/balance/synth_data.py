"""Small synthetic communities for the balancing tests (and the benchmark's fallback generator).

Coordinates are built in UTM zone 49N (EPSG:32649, around Hohhot) and returned in CGCS2000
(EPSG:4490) by default, so every test also exercises the CRS round trip.

A community is a rectangle cut into blocks by roads; each block is one of:
    ``slabs``      a walled compound (小区) of 5-7 storey or 11-18 storey slabs, 2 dwellings per floor per unit
    ``towers``     a walled compound of high-rise towers (2-3 units, 18-33 floors, 2-4 dwellings per floor)
    ``bungalows``  平房 houses of 1-3 households, no compound
    ``open``       a school or shops (no households), no compound
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

X0, Y0 = 430_000.0, 4_520_000.0
WORK_CRS = "EPSG:32649"


@dataclass
class Community:
    code: str
    buildings: gpd.GeoDataFrame
    community: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    dedicated: gpd.GeoDataFrame | None = None


class _Builder:
    def __init__(self, code: str, rng: np.random.Generator, x0: float, y0: float):
        self.code = code
        self.rng = rng
        self.x0, self.y0 = x0, y0
        self.rows: list[dict] = []
        self.compounds: list[dict] = []

    def building(self, geom, households: int, units=None, floors=None, compound=None, use="residential"):
        bid = f"{self.code}-B{len(self.rows) + 1:04d}"
        self.rows.append(
            {
                "id": bid,
                "households": int(households),
                "units": units,
                "floors": floors,
                "community_code": self.code,
                "compound_id": compound,
                "use": use,
                "geometry": geom,
            }
        )
        return bid

    def compound(self, geom) -> str:
        cid = f"{self.code}-C{len(self.compounds) + 1:02d}"
        self.compounds.append({"id": cid, "community_code": self.code, "geometry": geom})
        return cid

    # --- block fillers -------------------------------------------------------------------
    def slabs(self, x0, y0, x1, y1, high: bool | None = None, max_hh: int | None = None):
        rng = self.rng
        cid = self.compound(shapely.box(x0 + 2, y0 + 2, x1 - 2, y1 - 2))
        high = bool(rng.random() < 0.3) if high is None else high
        floors = int(rng.choice([11, 18])) if high else int(rng.choice([5, 6, 7]))
        row_gap = 34.0 if high else 26.0
        y = y0 + 10
        total = 0
        while y + 12 <= y1 - 8:
            x = x0 + 10
            while x + 36 <= x1 - 8:
                length = float(min(rng.uniform(36, 66), x1 - 8 - x))
                units = max(2, int(round(length / 14)))
                hh = units * floors * 2
                if max_hh is not None and total + hh > max_hh:
                    break
                self.building(shapely.box(x, y, x + length, y + 12), hh, units, floors, cid)
                total += hh
                x += length + 12
            y += row_gap
        return cid, total

    def towers(self, x0, y0, x1, y1, big: bool = False):
        rng = self.rng
        cid = self.compound(shapely.box(x0 + 2, y0 + 2, x1 - 2, y1 - 2))
        y = y0 + 12
        made_big = False
        while y + 20 <= y1 - 10:
            x = x0 + 12
            while x + 32 <= x1 - 10:
                if big and not made_big:
                    units, floors, per = 6, 30, 5  # 900 households
                    geom = shapely.box(x, y, x + 60, y + 18) if x + 60 <= x1 - 10 else shapely.box(x, y, x + 32, y + 20)
                    made_big = True
                else:
                    units, floors, per = (
                        int(rng.integers(2, 4)),
                        int(rng.integers(18, 34)),
                        int(rng.integers(2, 4)),
                    )
                    geom = shapely.box(x, y, x + 30, y + 18)
                self.building(geom, units * floors * per, units, floors, cid)
                x += geom.bounds[2] - geom.bounds[0] + 22
            y += 48
        return cid

    def bungalows(self, x0, y0, x1, y1):
        rng = self.rng
        for y in np.arange(y0 + 6, y1 - 14, 15.0):
            for x in np.arange(x0 + 6, x1 - 16, 14.0):
                if rng.random() < 0.15:
                    continue
                jx, jy = rng.uniform(-1.5, 1.5, 2)
                self.building(
                    shapely.box(x + jx, y + jy, x + jx + 10, y + jy + 8),
                    int(rng.integers(1, 4)),
                    1,
                    1,
                )

    def open_block(self, x0, y0, x1, y1):
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        self.building(shapely.box(cx - 30, cy - 18, cx + 30, cy + 18), 0, use="school")
        self.building(shapely.box(x0 + 8, y0 + 8, x0 + 38, y0 + 20), 0, use="commercial")


def _finish(b: _Builder, outline, crs_out: str, dedicated=None) -> Community:
    bld = gpd.GeoDataFrame(b.rows, geometry="geometry", crs=WORK_CRS)
    comps = gpd.GeoDataFrame(
        b.compounds or {"id": [], "community_code": [], "geometry": []},
        geometry="geometry",
        crs=WORK_CRS,
    )
    comm = gpd.GeoDataFrame({"code": [b.code], "name": ["test"]}, geometry=[outline], crs=WORK_CRS)
    ded = None
    if dedicated is not None:
        ded = gpd.GeoDataFrame(dedicated, geometry="geometry", crs=WORK_CRS).to_crs(crs_out)
    return Community(b.code, bld.to_crs(crs_out), comm.to_crs(crs_out), comps.to_crs(crs_out), ded)


def make_community(
    seed: int,
    code: str = "150102001001",
    nx: int = 3,
    ny: int = 2,
    block: tuple[float, float] = (170.0, 150.0),
    crs_out: str = "EPSG:4490",
    big_tower: bool = False,
    x0: float = X0,
    y0: float = Y0,
) -> Community:
    """A random community of ``nx × ny`` blocks (roads 14 m wide between blocks)."""
    rng = np.random.default_rng(seed)
    b = _Builder(code, rng, x0, y0)
    road = 14.0
    bw, bh = block
    kinds = rng.choice(["slabs", "towers", "bungalows", "open"], size=nx * ny, p=[0.5, 0.22, 0.18, 0.10])
    if big_tower and "towers" not in kinds:
        kinds[0] = "towers"
    big_done = False
    for j in range(ny):
        for i in range(nx):
            bx0 = x0 + road / 2 + i * (bw + road)
            by0 = y0 + road / 2 + j * (bh + road)
            kind = kinds[j * nx + i]
            if kind == "slabs":
                b.slabs(bx0, by0, bx0 + bw, by0 + bh)
            elif kind == "towers":
                b.towers(bx0, by0, bx0 + bw, by0 + bh, big=big_tower and not big_done)
                big_done = True
            elif kind == "bungalows":
                b.bungalows(bx0, by0, bx0 + bw, by0 + bh)
            else:
                b.open_block(bx0, by0, bx0 + bw, by0 + bh)
    outline = shapely.box(x0, y0, x0 + nx * (bw + road), y0 + ny * (bh + road))
    # a slightly irregular boundary: cut a corner
    cut = shapely.Polygon([(x0, y0), (x0 + 25, y0), (x0, y0 + 25)])
    outline = outline.difference(cut)
    return _finish(b, outline, crs_out)


def tiny_community(code: str = "150102001002", crs_out: str = "EPSG:4490") -> Community:
    """220 households in four slabs and a shop: below the band."""
    b = _Builder(code, np.random.default_rng(0), X0, Y0)
    cid = b.compound(shapely.box(X0 + 5, Y0 + 5, X0 + 145, Y0 + 95))
    for k, hh in enumerate([60, 60, 50, 50]):
        x = X0 + 15 + (k % 2) * 65
        y = Y0 + 15 + (k // 2) * 40
        b.building(shapely.box(x, y, x + 50, y + 12), hh, 3, 5, cid)
    b.building(shapely.box(X0 + 160, Y0 + 20, X0 + 180, Y0 + 40), 0, use="commercial")
    return _finish(b, shapely.box(X0, Y0, X0 + 200, Y0 + 100), crs_out)


def corner_compound_community(code: str = "150102001003", crs_out: str = "EPSG:4490") -> Community:
    """A compound of 540 households in a corner, cut off from the rest by a dedicated school grid.

    The rest of the community (bungalows and slabs) holds about 1,200 households.
    """
    b = _Builder(code, np.random.default_rng(3), X0, Y0)
    # corner compound: 9 slabs of 60 households = 540
    cid = b.compound(shapely.box(X0 + 2, Y0 + 2, X0 + 158, Y0 + 148))
    for r in range(3):
        for c in range(3):
            x, y = X0 + 12 + c * 48, Y0 + 12 + r * 45
            b.building(shapely.box(x, y, x + 40, y + 12), 60, 3, 5, cid)
    # rest: slabs to the east
    for r in range(3):
        for c in range(4):
            x, y = X0 + 230 + c * 60, Y0 + 12 + r * 45
            cid2 = None
            b.building(shapely.box(x, y, x + 48, y + 12), 100, 4, 6, cid2)
    outline = shapely.box(X0, Y0, X0 + 480, Y0 + 150)
    school = shapely.box(X0 + 160, Y0 - 5, X0 + 215, Y0 + 155)  # drawn over the boundary
    b.building(shapely.box(X0 + 170, Y0 + 40, X0 + 205, Y0 + 100), 0, use="school")
    ded = [{"code": code + "901", "community_code": code, "name": "school", "geometry": school}]
    return _finish(b, outline, crs_out, dedicated=ded)


def tower_community(code: str = "150102001004", crs_out: str = "EPSG:4490") -> Community:
    """A 900-household slab tower (6 units) beside ordinary slabs."""
    b = _Builder(code, np.random.default_rng(4), X0, Y0)
    b.building(shapely.box(X0 + 20, Y0 + 40, X0 + 110, Y0 + 58), 900, 6, 30)
    for r in range(2):
        for c in range(4):
            x, y = X0 + 140 + c * 55, Y0 + 20 + r * 50
            b.building(shapely.box(x, y, x + 44, y + 12), 100, 4, 6)
    return _finish(b, shapely.box(X0, Y0, X0 + 380, Y0 + 120), crs_out)
