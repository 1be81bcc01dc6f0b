"""What a grid's map shows, masked for the reader's role; pure (no database).

:func:`prepare` takes plain frames (as :mod:`geo.db.mapdata` reads them, or as a test makes them),
applies the role's masking *once*, computes every building's counts and returns a
:class:`GridMapData` that the renderers (:mod:`geo.maps.plan_map`, :mod:`geo.maps.signboard`) draw
without further checks.

Masking by role:

* ``admin``, ``planner``, ``worker``: residents' names in full, ID numbers masked (``id_masked``);
* ``viewer`` (and ``sync``): names masked (``张*明``), no ID number at all;
* every role: residents' phones masked (``138****5678``), birth dates reduced to an age; the grid
  worker's own public phone (the one on the signboard) is shown in full.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InvalidInput
from geo.ids import mask, mask_name, mask_phone

FULL_ROLES = frozenset({"admin", "planner", "worker"})
ROLES = FULL_ROLES | {"viewer", "sync"}

BUILDING_COLUMNS = ("building_id", "number", "name", "compound", "floors", "units", "use", "part")
DWELLING_COLUMNS = ("dwelling_id", "building_id", "unit", "floor", "room", "use")
PERSON_COLUMNS = ("person_id", "dwelling_id", "name", "sex", "relation", "residence_type", "care_tags")


@dataclass(frozen=True, slots=True)
class Worker:
    name: str
    phone: str | None
    role: str = "worker"  # "worker" | "head"

    @property
    def title(self) -> str:
        return "网格长" if self.role == "head" else "网格员"


@dataclass
class GridMapData:
    """A grid, its neighbours, its buildings with counts, their dwellings and residents (masked)."""

    code: str
    name: str
    role: str
    boundary: Any  # shapely (Multi)Polygon, lon/lat (EPSG:4490 ≈ WGS 84)
    neighbours: gpd.GeoDataFrame  # code, name, geometry
    buildings: gpd.GeoDataFrame  # BUILDING_COLUMNS + label, title, counts, geometry
    dwellings: pd.DataFrame  # DWELLING_COLUMNS + address (short), residents, occupied
    persons: (
        pd.DataFrame
    )  # person_id, dwelling_id, name, sex, age, relation, residence_type, care_tags, phone, id_masked
    workers: list[Worker] = field(default_factory=list)
    community_code: str = ""
    community_name: str = ""
    street_name: str = ""
    kind: str = "basic"

    @property
    def masked(self) -> bool:
        return self.role not in FULL_ROLES

    @property
    def households(self) -> int:
        return int(self.buildings["households"].sum()) if len(self.buildings) else 0

    @property
    def residents(self) -> int:
        return int(self.buildings["residents"].sum()) if len(self.buildings) else 0

    @property
    def care(self) -> int:
        return int(self.buildings["care"].sum()) if len(self.buildings) else 0

    @property
    def worker(self) -> Worker | None:
        """The grid worker shown on the title and the signboard (a 网格员 before a 网格长)."""
        return self.workers[0] if self.workers else None


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; use one of {', '.join(sorted(ROLES))}")
    return role


def short_community(name: str) -> str:
    """``新华社区居委会`` → ``新华社区``."""
    for suffix in ("居民委员会", "村民委员会", "居委会", "村委会"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def grid_title(code: str, name: str | None, community_name: str) -> str:
    """The grid's display name: its own, else ``<community>第N网格`` from the code's sequence."""
    if name:
        return name
    seq = int(code[-3:]) if code[-3:].isdigit() else 0
    return f"{short_community(community_name)}第{seq}网格" if community_name else f"第{seq}网格"


def age_on(birth: Any, today: dt.date) -> int | None:
    if birth is None or (isinstance(birth, float) and np.isnan(birth)) or birth is pd.NaT:
        return None
    if isinstance(birth, pd.Timestamp):
        birth = birth.date()
    if isinstance(birth, str):
        birth = dt.date.fromisoformat(birth[:10])
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _none(v: Any) -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def _int(v: Any) -> int | None:
    v = _none(v)
    return None if v is None else int(v)


def building_label(number: str | None, name: str | None, use: str, ext_id: str) -> str:
    """The short label drawn on a building: ``3号楼``; a bungalow's ``平房区12号`` becomes ``12号``."""
    label = number or name or ext_id
    if use == "bungalow" and label and "区" in label and label.endswith("号"):
        label = label.rsplit("区", 1)[1]
    return label


def building_title(number: str | None, name: str | None, compound: str | None, ext_id: str) -> str:
    """The building's full name: ``长青家园3号楼``, ``迎宾饭店``."""
    if name:
        return name
    if number:
        return f"{compound or ''}{number}"
    return ext_id


def dwelling_address(title: str, use: str, unit: int | None, room: str) -> str:
    """The short address of a dwelling inside the grid: ``长青家园3号楼2单元501室``."""
    if use == "bungalow" or unit is None:
        return title if room in ("", "1") else f"{title}{room}室"
    return f"{title}{unit}单元{room}室"


def prepare(
    *,
    code: str,
    role: str,
    boundary: Any,
    buildings: gpd.GeoDataFrame,
    dwellings: pd.DataFrame,
    persons: pd.DataFrame,
    neighbours: gpd.GeoDataFrame | None = None,
    workers: list[Worker] | list[dict] | None = None,
    name: str | None = None,
    community_code: str = "",
    community_name: str = "",
    street_name: str = "",
    kind: str = "basic",
    today: dt.date | None = None,
) -> GridMapData:
    """Mask ``persons`` for ``role``, count every building and return what the renderers draw.

    ``buildings``: building_id, number, name, compound, floors, units, use (part optional), geometry.
    ``dwellings``: dwelling_id, building_id, unit, floor, room, use.
    ``persons``: person_id, dwelling_id, name, sex, birth_date (or age), relation, residence_type,
    care_tags (list), phone, id_masked; only the grid's own residents, active ones.
    """
    check_role(role)
    today = today or dt.date.today()
    full = role in FULL_ROLES

    b = buildings.copy()
    for col in ("number", "name", "compound", "part"):
        if col not in b.columns:
            b[col] = None
    b["building_id"] = b["building_id"].astype(str)
    b["part"] = b["part"].fillna("").astype(str)
    cols = {c: [_none(v) for v in b[c].tolist()] for c in ("number", "name", "compound", "use", "building_id")}
    b["label"] = [
        building_label(n, nm, u, i)
        for n, nm, u, i in zip(cols["number"], cols["name"], cols["use"], cols["building_id"], strict=True)
    ]
    b["title"] = [
        building_title(n, nm, c, i)
        for n, nm, c, i in zip(cols["number"], cols["name"], cols["compound"], cols["building_id"], strict=True)
    ]

    d = dwellings.copy()
    d["building_id"] = d["building_id"].astype(str)
    d["dwelling_id"] = d["dwelling_id"].astype(str)
    d = d[d["building_id"].isin(set(b["building_id"]))]
    title_of = dict(zip(b["building_id"], b["title"], strict=True))
    d["address"] = [
        dwelling_address(title_of[bid], u, _int(unit), str(room))
        for bid, u, unit, room in zip(
            d["building_id"].tolist(), d["use"].tolist(), d["unit"].tolist(), d["room"].tolist(), strict=True
        )
    ]

    p = persons.copy()
    p["dwelling_id"] = p["dwelling_id"].astype(str)
    p = p[p["dwelling_id"].isin(set(d["dwelling_id"]))]
    if "age" not in p.columns:
        births = p["birth_date"] if "birth_date" in p.columns else pd.Series([None] * len(p), index=p.index)
        p["age"] = [age_on(x, today) for x in births.tolist()]
    n = len(p)

    def col(name: str) -> list:
        return [_none(v) for v in p[name].tolist()] if name in p.columns else [None] * n

    tags = [list(t) if isinstance(t, list | tuple | np.ndarray) else [] for t in col("care_tags")]
    out = pd.DataFrame(
        {
            "person_id": [str(x) for x in col("person_id")] if "person_id" in p.columns else [str(i) for i in range(n)],
            "dwelling_id": p["dwelling_id"].tolist(),
            "name": [(x or "") if full else mask_name(x or "") for x in col("name")],
            "sex": col("sex"),
            "age": [None if a is None else int(a) for a in col("age")],
            "relation": col("relation"),
            "residence_type": col("residence_type"),
            "care_tags": tags,
            "phone": [mask_phone(x) if x else None for x in col("phone")],
            "id_masked": [mask(x) if full and x else None for x in col("id_masked")],
        },
        dtype=object,
    )

    # counts: per dwelling, then per building (plain Python: a grid has a few hundred dwellings)
    residents_of = Counter(out["dwelling_id"].tolist())
    dw_ids = d["dwelling_id"].tolist()
    dw_bid = d["building_id"].tolist()
    dw_use = d["use"].tolist()
    d["residents"] = [residents_of.get(i, 0) for i in dw_ids]
    d["occupied"] = d["residents"] > 0
    building_of = dict(zip(dw_ids, dw_bid, strict=True))
    bids = b["building_id"].tolist()
    count = {k: dict.fromkeys(bids, 0) for k in ("dwellings", "households", "occupied", "residents", "care")}
    for did, bid, use in zip(dw_ids, dw_bid, dw_use, strict=True):
        r = residents_of.get(did, 0)
        count["dwellings"][bid] += 1
        count["residents"][bid] += r
        if use != "commercial":
            count["households"][bid] += 1
            count["occupied"][bid] += r > 0
    groups: dict[str, Counter] = {bid: Counter() for bid in bids}
    for did, t in zip(out["dwelling_id"].tolist(), tags, strict=True):
        if t:
            count["care"][building_of[did]] += 1
            groups[building_of[did]].update(t)
    for k, v in count.items():
        b[k] = [v[bid] for bid in bids]
    b["groups"] = [dict(sorted(groups[bid].items(), key=lambda kv: (-kv[1], kv[0]))) for bid in bids]
    hh = np.array([count["households"][bid] for bid in bids], dtype=float)
    occ = np.array([count["occupied"][bid] for bid in bids], dtype=float)
    res = np.array([count["residents"][bid] for bid in bids], dtype=float)
    care = np.array([count["care"][bid] for bid in bids], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        b["occupancy"] = np.where(hh > 0, occ / np.maximum(hh, 1), np.nan)
        b["care_share"] = np.where(res > 0, care / np.maximum(res, 1), np.nan)

    if neighbours is None:
        neighbours = gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs=buildings.crs)
    ws: list[Worker] = []
    for w in workers or []:
        ws.append(w if isinstance(w, Worker) else Worker(w["name"], w.get("phone"), w.get("role", "worker")))
    ws.sort(key=lambda w: w.role != "worker")
    if isinstance(boundary, gpd.GeoSeries | gpd.GeoDataFrame):
        boundary = shapely.union_all(boundary.geometry.values)
    return GridMapData(
        code=code,
        name=grid_title(code, name, community_name),
        role=role,
        boundary=boundary,
        neighbours=neighbours,
        buildings=b,
        dwellings=d.reset_index(drop=True),
        persons=out,
        workers=ws,
        community_code=community_code,
        community_name=short_community(community_name),
        street_name=street_name,
        kind=kind,
    )
