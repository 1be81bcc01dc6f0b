"""Lay out one community: shops on main roads, bungalow lanes, a school, compounds, offices.

:func:`plan_community` turns a :class:`CommunitySpec` (its grid cells, household target and
features) into compounds and buildings; :func:`assemble` numbers everything and builds the
GeoDataFrames. Household targets are met by giving residential parcels budgets proportional to
what their style can hold; the parcels not needed for housing get offices, a market, or stay open
(parks, squares, yards), as in a real district.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.synth import buildings as bld
from geo.synth.layout import (
    CRS_PROJECTED,
    Rect,
    RoadGrid,
    area,
    cells_polygon,
    cut_side,
    height,
    split_rect,
    width,
)
from geo.synth.names import SHOP_NAMES, compound_name, organisation_name

STYLE_MIX = {
    "old": (("walkup", 0.75), ("midrise", 0.2), ("tower", 0.05)),
    "mixed": (("walkup", 0.4), ("midrise", 0.35), ("tower", 0.25)),
    "new": (("walkup", 0.05), ("midrise", 0.45), ("tower", 0.5)),
}


@dataclass
class CommunitySpec:
    code: str
    name: str  # as used in addresses, e.g. 新华社区
    cells: list[tuple[int, int]]
    target: int  # planned dwellings (residential slabs + bungalows)
    bungalows: int = 0
    bias: str = "old"
    shops: bool = True
    school: str | None = None
    offices: tuple[str, ...] = ()
    big_tower: bool = False
    vacant: bool = False
    local: str | None = None  # a place word for names (road or community)
    office_share: float = 0.5  # share of open parcels given to offices
    compound_max: int | None = None  # cap on the dwellings of one compound


@dataclass
class CompoundPlan:
    rect: Rect
    name: str
    style: str
    batch: dict[str, np.ndarray]


@dataclass
class CommunityPlan:
    spec: CommunitySpec
    compounds: list[CompoundPlan] = field(default_factory=list)
    loose: list[dict[str, np.ndarray]] = field(default_factory=list)  # buildings outside compounds
    vacant: list[Rect] = field(default_factory=list)
    open_space: list[Rect] = field(default_factory=list)

    @property
    def dwellings(self) -> int:
        n = sum(int((c.batch["floors"] * c.batch["units"] * c.batch["per_floor"]).sum()) for c in self.compounds)
        for b in self.loose:
            res = np.isin(b["use"], ("residential", "bungalow"))
            n += int((b["floors"] * b["units"] * b["per_floor"])[res].sum())
        return n


def _pick_style(rng: np.random.Generator, bias: str) -> str:
    names, p = zip(*STYLE_MIX[bias], strict=True)
    return str(names[int(rng.choice(len(names), p=np.asarray(p)))])


def _split_block(rect: Rect, rng: np.random.Generator) -> list[Rect]:
    """One to three parcels, cut across the longer side with 12 m lanes between them."""
    long_side = max(width(rect), height(rect))
    k = int(rng.choice((1, 2, 3), p=(0.3, 0.45, 0.25)))
    k = max(1, min(k, int(long_side // 90)))
    if k == 1:
        return [rect]
    return split_rect(rect, rng.uniform(0.7, 1.3, k), 12.0, vertical=width(rect) >= height(rect))


def _shop_names(spec: CommunitySpec, rng: np.random.Generator) -> list[str]:
    prefix = spec.local or spec.name.removesuffix("社区")
    order = rng.permutation(len(SHOP_NAMES))
    return [prefix + SHOP_NAMES[i] for i in order]


def _office_campus(rect: Rect, rng: np.random.Generator, name: str) -> dict[str, np.ndarray]:
    """One to three office buildings of one organisation (办公楼, or 1号办公楼, 2号办公楼…)."""
    k = 1 if area(rect) < 9000 else int(rng.integers(1, 4))
    parts = split_rect(rect, rng.uniform(0.8, 1.2, k), 0.0, vertical=width(rect) >= height(rect)) if k > 1 else [rect]
    batches = []
    for j, part in enumerate(parts):
        number = "办公楼" if k == 1 else f"{j + 1}号办公楼"
        batches.append(
            bld.single_building(
                part,
                rng,
                length=float(rng.uniform(30, 60)),
                depth=float(rng.uniform(14, 20)),
                floors=int(rng.integers(4, 13)),
                use="office",
                number=number,
                name=name,
            )
        )
    return bld.concat(batches)


def plan_community(
    grid: RoadGrid, spec: CommunitySpec, rng: np.random.Generator, used_names: set[str]
) -> CommunityPlan:
    """Place the community's buildings; ``used_names`` keeps compound names unique across calls."""
    plan = CommunityPlan(spec)
    shop_names = _shop_names(spec, rng)
    blocks = [(grid.block(r, c), grid.frontage(r, c)) for r, c in spec.cells]
    parcels: list[Rect] = []
    bungalows_left, next_house = spec.bungalows, 1
    for i in rng.permutation(len(blocks)):
        rect, fronts = blocks[i]
        if spec.shops and fronts and rng.random() < 0.75 and min(width(rect), height(rect)) > 140:
            side = fronts[int(rng.integers(0, len(fronts)))]
            strip, rect = cut_side(rect, side, 26.0, gap=4.0)
            plan.loose.append(bld.fill_shops(strip, rng, shop_names, along_x=side in "NS"))
        if bungalows_left > 0:
            batch, used = bld.fill_bungalows(rect, bungalows_left, rng, next_house)
            n = len(batch["cx"])
            plan.loose.append(batch)
            bungalows_left -= n
            next_house += n
            if used == rect:
                continue
            rect = (rect[0], rect[1], rect[2], used[1] - 6.0)
            if height(rect) < 60:
                continue
        parcels.extend(_split_block(rect, rng))

    mix_density = sum(p * bld.STYLE_DENSITY[s] for s, p in STYLE_MIX[spec.bias])
    housing_area = (spec.target - spec.bungalows) / mix_density
    if spec.school and len(parcels) >= 3:
        big = [p for p in parcels if area(p) >= 12000 and min(width(p), height(p)) >= 90]
        big = [p for p in big if sum(area(q) for q in parcels) - area(p) >= housing_area]
        if big:
            p = big[int(rng.integers(0, len(big)))]
            parcels.remove(p)
            north, south = split_rect(p, (0.45, 0.55), 0.0, vertical=False)
            west, east = split_rect(south, (0.4, 0.6), 0.0, vertical=True)
            plan.loose.append(
                bld.single_building(
                    north,
                    rng,
                    length=min(72.0, width(north) * 0.7),
                    depth=16.0,
                    floors=int(rng.choice((4, 5))),
                    use="school",
                    number="教学楼",
                    name=spec.school,
                )
            )
            plan.loose.append(
                bld.single_building(
                    west,
                    rng,
                    length=38.0,
                    depth=16.0,
                    floors=3,
                    use="school",
                    number="综合楼",
                    name=spec.school,
                )
            )
            plan.open_space.append(east)
    if spec.vacant and len(parcels) >= 3:
        mid = sorted((p for p in parcels if min(width(p), height(p)) >= 100), key=area)
        if mid:
            p = mid[len(mid) // 2]
            parcels.remove(p)
            plan.vacant.append(p)

    # residential parcels: enough capacity for the target with some slack
    target = spec.target - (spec.bungalows - bungalows_left)
    styles = [_pick_style(rng, spec.bias) for _ in parcels]
    cmax = float(spec.compound_max or 10**9)
    caps = [min(cmax, area(p) * bld.STYLE_DENSITY[s]) for p, s in zip(parcels, styles, strict=True)]
    chosen: list[int] = []
    total = 0.0
    for i in range(len(parcels)):
        if total >= target * 1.2:
            break
        chosen.append(i)
        total += caps[i]
    big_i = -1
    if spec.big_tower:
        wide = [i for i in chosen if width(parcels[i]) >= 120 and height(parcels[i]) >= 110]
        big_i = wide[0] if wide else -1
        if big_i >= 0:
            styles[big_i] = "tower"
            total += area(parcels[big_i]) * bld.STYLE_DENSITY["tower"] - caps[big_i]
            caps[big_i] = area(parcels[big_i]) * bld.STYLE_DENSITY["tower"]
    leftovers = [parcels[i] for i in range(len(parcels)) if i not in chosen]
    remaining, cap_left = float(target), total
    queue = list(chosen)
    while queue and remaining >= 24:
        i = queue.pop(0)
        share = remaining * caps[i] / cap_left if cap_left > 0 and queue else remaining
        cap_left -= caps[i]
        budget = int(round(share * rng.uniform(0.9, 1.1))) if queue else int(remaining)
        budget = min(budget, int(cmax))
        if i == big_i:
            budget = max(budget, 700)
        row_styles = None
        if styles[i] == "tower" and rng.random() < 0.4 and i != big_i:
            row_styles = ("tower", "midrise")
        batch, used = bld.fill_compound(
            parcels[i], styles[i], budget, rng, big_tower=(i == big_i), row_styles=row_styles
        )
        if len(batch["cx"]) == 0:
            leftovers.append(parcels[i])
            continue
        bld.number_compound(batch, rng)
        plan.compounds.append(
            CompoundPlan(used, compound_name(rng, styles[i], used_names, spec.local), styles[i], batch)
        )
        remaining -= float((batch["floors"] * batch["units"] * batch["per_floor"]).sum())
        if used != parcels[i]:
            rest = (parcels[i][0], parcels[i][1], parcels[i][2], used[1] - 4.0)
            if height(rest) >= 40:
                leftovers.append(rest)
        if not queue and remaining >= min(200.0, cmax / 4) and leftovers:
            # under target: turn the largest open parcel into housing too
            leftovers.sort(key=area)
            extra = leftovers.pop()
            parcels.append(extra)
            styles.append(_pick_style(rng, spec.bias))
            caps.append(min(cmax, area(extra) * bld.STYLE_DENSITY[styles[-1]]))
            cap_left += caps[-1]
            queue.append(len(parcels) - 1)

    # offices and markets on open parcels; the rest stays open (parks, squares, yards)
    leftovers.sort(key=lambda r: (-area(r), r))
    offices = list(spec.offices)
    place = spec.local or spec.name.removesuffix("社区")
    for r in leftovers:
        u = rng.random()
        if width(r) < 50 or height(r) < 40:
            plan.open_space.append(r)
        elif offices or u < spec.office_share:
            name = offices.pop(0) if offices else organisation_name(rng, place)
            plan.loose.append(_office_campus(r, rng, name))
        elif spec.shops and shop_names and u < spec.office_share + 0.2:
            name = shop_names.pop(0)
            plan.loose.append(
                bld.single_building(
                    r,
                    rng,
                    length=float(rng.uniform(30, 70)),
                    depth=float(rng.uniform(18, 30)),
                    floors=int(rng.integers(1, 5)),
                    use="commercial",
                    number=name,
                    name=name,
                )
            )
        else:
            plan.open_space.append(r)
    return plan


@dataclass
class Area:
    """GeoDataFrames (EPSG:4546) of a synthetic area."""

    communities: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    vacant: list[Rect] = field(default_factory=list)


def assemble(
    grid: RoadGrid,
    plans: list[CommunityPlan],
    *,
    compound_fmt: str = "XQ{:03d}",
    building_fmt: str = "B{:06d}",
    extra_community_cols: dict[str, list] | None = None,
) -> Area:
    """Number compounds (north-west first) and buildings, and build the three layers."""
    com_rows, cmp_rows, b_batches, b_comp, b_comm = [], [], [], [], []
    for plan in plans:
        com_rows.append((plan.spec.code, plan.spec.name, cells_polygon(grid, plan.spec.cells)))
    cmp_counter = 0
    for plan in sorted(plans, key=lambda p: p.spec.code):
        order = sorted(
            range(len(plan.compounds)),
            key=lambda i: (-plan.compounds[i].rect[3], plan.compounds[i].rect[0]),
        )
        for i in order:
            c = plan.compounds[i]
            cmp_counter += 1
            cid = compound_fmt.format(cmp_counter)
            cmp_rows.append((cid, c.name, plan.spec.code, c.style, shapely.box(*c.rect)))
            b_batches.append(c.batch)
            b_comp.append(np.full(len(c.batch["cx"]), cid, dtype=object))
            b_comm.append(np.full(len(c.batch["cx"]), plan.spec.code, dtype=object))
        for b in plan.loose:
            b_batches.append(b)
            b_comp.append(np.full(len(b["cx"]), "", dtype=object))
            b_comm.append(np.full(len(b["cx"]), plan.spec.code, dtype=object))
    communities = gpd.GeoDataFrame(
        pd.DataFrame(com_rows, columns=["code", "name", "geometry"]),
        geometry="geometry",
        crs=CRS_PROJECTED,
    )
    if extra_community_cols:
        for k, v in extra_community_cols.items():
            communities[k] = v
    communities = communities.sort_values("code", ignore_index=True)
    compounds = gpd.GeoDataFrame(
        pd.DataFrame(cmp_rows, columns=["id", "name", "community_code", "style", "geometry"]),
        geometry="geometry",
        crs=CRS_PROJECTED,
    )
    batch = bld.concat(b_batches)
    n = len(batch["cx"])
    floors = batch["floors"].astype(np.int64)
    units = batch["units"].astype(np.int64)
    per_floor = batch["per_floor"].astype(np.int64)
    use = batch["use"]
    housing = np.isin(use, ("residential", "bungalow"))
    buildings = gpd.GeoDataFrame(
        {
            "id": [building_fmt.format(k) for k in range(1, n + 1)],
            "number": batch["number"],
            "name": batch["name"],
            "floors": floors,
            "units": units,
            "per_floor": np.where(housing, per_floor, 0),
            "dwellings": np.where(housing, floors * units * per_floor, 0),
            "compound_id": np.concatenate(b_comp) if b_comp else np.array([], dtype=object),
            "community_code": np.concatenate(b_comm) if b_comm else np.array([], dtype=object),
            "use": use,
        },
        geometry=bld.footprints(batch),
        crs=CRS_PROJECTED,
    )
    vacant = [r for p in plans for r in p.vacant]
    return Area(communities, compounds, buildings, vacant)
