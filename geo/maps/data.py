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
    b["label"] = [
        building_label(_none(n), _none(nm), u, i)
        for n, nm, u, i in zip(b["number"], b["name"], b["use"], b["building_id"], strict=True)
    ]
    b["title"] = [
        building_title(_none(n), _none(nm), _none(c), i)
        for n, nm, c, i in zip(b["number"], b["name"], b["compound"], b["building_id"], strict=True)
    ]

    d = dwellings.copy()
    d["building_id"] = d["building_id"].astype(str)
    d["dwelling_id"] = d["dwelling_id"].astype(str)
    d = d[d["building_id"].isin(set(b["building_id"]))]
    title_of = dict(zip(b["building_id"], b["title"], strict=True))
    d["address"] = [
        dwelling_address(title_of[bid], u, _int(unit), str(room))
        for bid, u, unit, room in zip(d["building_id"], d["use"], d["unit"], d["room"], strict=True)
    ]

    p = persons.copy()
    p["dwelling_id"] = p["dwelling_id"].astype(str)
    p = p[p["dwelling_id"].isin(set(d["dwelling_id"]))]
    if "age" not in p.columns:
        births = p["birth_date"] if "birth_date" in p.columns else pd.Series([None] * len(p), index=p.index)
        p["age"] = [age_on(x, today) for x in births]
    tags = [list(t) if isinstance(t, list | tuple | np.ndarray) else [] for t in p.get("care_tags", [None] * len(p))]
    out = pd.DataFrame(
        {
            "person_id": p["person_id"].astype(str).values
            if "person_id" in p.columns
            else np.arange(len(p)).astype(str),
            "dwelling_id": p["dwelling_id"].values,
            "name": [n if full else mask_name(n) for n in p["name"].fillna("")],
            "sex": p["sex"].values if "sex" in p.columns else None,
            "age": [_int(a) for a in p["age"]],
            "relation": p["relation"].values if "relation" in p.columns else None,
            "residence_type": p["residence_type"].values if "residence_type" in p.columns else None,
            "care_tags": tags,
            "phone": [mask_phone(x) if _none(x) else None for x in p.get("phone", [None] * len(p))],
            "id_masked": [mask(x) if full and _none(x) else None for x in p.get("id_masked", [None] * len(p))],
        }
    )

    # counts: per dwelling, then per building
    per_dw = out.groupby("dwelling_id").agg(
        residents=("person_id", "size"), care=("care_tags", lambda s: sum(1 for t in s if t))
    )
    d["residents"] = d["dwelling_id"].map(per_dw["residents"]).fillna(0).astype(int)
    d["occupied"] = d["residents"] > 0
    dw_building = dict(zip(d["dwelling_id"], d["building_id"], strict=True))
    hh = d[d["use"] != "commercial"]
    stats = pd.DataFrame(
        {
            "dwellings": d.groupby("building_id").size(),
            "households": hh.groupby("building_id").size(),
            "occupied": hh.groupby("building_id")["occupied"].sum(),
            "residents": d.groupby("building_id")["residents"].sum(),
        }
    )
    care_people = out[[bool(t) for t in out["care_tags"]]]
    stats["care"] = care_people["dwelling_id"].map(dw_building).value_counts()
    stats = stats.reindex(b["building_id"]).fillna(0).astype(int)
    for col in stats.columns:
        b[col] = stats[col].values
    groups: dict[str, Counter] = {bid: Counter() for bid in b["building_id"]}
    for did, t in zip(care_people["dwelling_id"], care_people["care_tags"], strict=True):
        groups[dw_building[did]].update(t)
    b["groups"] = [dict(sorted(groups[bid].items(), key=lambda kv: (-kv[1], kv[0]))) for bid in b["building_id"]]
    with np.errstate(divide="ignore", invalid="ignore"):
        b["occupancy"] = np.where(b["households"] > 0, b["occupied"] / b["households"].clip(lower=1), np.nan)
        b["care_share"] = np.where(b["residents"] > 0, b["care"] / b["residents"].clip(lower=1), np.nan)

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
