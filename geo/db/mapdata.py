"""What a grid's map and signboard need, read from PostGIS, masked for the reader's role.

:func:`read_grid_map` reads one grid of the active plan (or of a given plan): its boundary, the
outlines of the grids around it, its buildings and, for each, the dwellings that belong to this grid
(a tower split by stairwell units or floors between grids contributes only its own part here) with
their active residents. Residents go through :func:`geo.maps.data.prepare`, which masks them for the
role. ID numbers are never read, only ``id_masked`` (and only for roles that see names).

:func:`grid_map_html` is what the API serves at ``/grids/{code}/map``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geo.crs import STORAGE_CRS
from geo.errors import InvalidInput, NotFound
from geo.maps.data import FULL_ROLES, GridMapData, Worker, check_role, grid_title, prepare
from geo.maps.plan_map import render_grid_map
from geo.maps.style import Basemap

if TYPE_CHECKING:
    from geo.maps.signboard import Signboard

_CODE = re.compile(r"^[0-9]{15}$")


@contextmanager
def _connection(conn_or_engine: Connection | Engine) -> Iterator[Connection]:
    if isinstance(conn_or_engine, Engine):
        # one snapshot for the several reads of a map (a plan approved meanwhile cannot mix in)
        with conn_or_engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            yield conn
    else:
        yield conn_or_engine


def _geom(wkb: Any) -> Any:
    return None if wkb is None else shapely.from_wkb(bytes(wkb))


# -- which grids ----------------------------------------------------------------------------------------
def grid_codes(
    conn: Connection, *, grid: str | None = None, community: str | None = None, all_: bool = False
) -> list[str]:
    """Codes of the active grids to draw: one grid, a community's or every one."""
    if sum(x is not None and x is not False for x in (grid, community, all_ or None)) != 1:
        raise InvalidInput("give exactly one of --grid CODE, --community CODE or --all")
    q = "SELECT g.code FROM grid g JOIN grid_plan p ON p.id = g.plan_id WHERE p.status = 'active'"
    params: dict[str, Any] = {}
    if grid:
        q += " AND g.code = :g"
        params["g"] = grid
    elif community:
        q += " AND g.community_code = :c"
        params["c"] = community
    codes = [c.strip() for c in conn.execute(sa.text(q + " ORDER BY g.code"), params).scalars()]
    if not codes:
        what = f"grid {grid}" if grid else f"community {community}" if community else "the database"
        raise NotFound(f"no active grid in {what}; balance and approve a plan first")
    return codes


# -- one grid -------------------------------------------------------------------------------------------
def _grid_row(conn: Connection, code: str, plan_id: int | None) -> Any:
    if not _CODE.match(code or ""):
        raise InvalidInput(f"a grid code has 15 digits, got {code!r}")
    where = "g.plan_id = :plan" if plan_id is not None else "p.status = 'active'"
    row = conn.execute(
        sa.text(
            "SELECT g.id, g.plan_id, g.code, g.name, g.kind, g.community_code, a.name AS community_name, "
            "coalesce(s.name, '') AS street_name, ST_AsBinary(g.geom) AS geom "
            "FROM grid g JOIN grid_plan p ON p.id = g.plan_id JOIN admin_area a ON a.code = g.community_code "
            f"LEFT JOIN admin_area s ON s.code = a.parent_code WHERE g.code = :code AND {where}"
        ),
        {"code": code, "plan": plan_id},
    ).first()
    if row is None:
        raise NotFound(f"no grid {code}" + (f" in plan {plan_id}" if plan_id is not None else " in an active plan"))
    return row


def _neighbours(conn: Connection, grid: Any) -> gpd.GeoDataFrame:
    """Grids of the same plan and active grids of other communities that touch (or nearly touch) the grid."""
    rows = conn.execute(
        sa.text(
            "SELECT n.code, n.name, n.community_code, a.name AS community_name, ST_AsBinary(n.geom) AS geom "
            "FROM grid g JOIN grid n ON n.id <> g.id AND n.geom && ST_Expand(g.geom, 0.0001) "
            "AND ST_DWithin(n.geom, g.geom, 0.00002) "
            "JOIN grid_plan p ON p.id = n.plan_id JOIN admin_area a ON a.code = n.community_code "
            "WHERE g.id = :gid AND (n.plan_id = g.plan_id OR (p.status = 'active' AND n.community_code <> g.community_code)) "
            "ORDER BY n.code"
        ),
        {"gid": grid.id},
    ).all()
    return gpd.GeoDataFrame(
        {
            "code": [r.code for r in rows],
            "name": [grid_title(r.code, r.name, r.community_name) for r in rows],
        },
        geometry=[_geom(r.geom) for r in rows],
        crs=STORAGE_CRS,
    )


def _workers(conn: Connection, code: str) -> list[Worker]:
    rows = conn.execute(
        sa.text(
            "SELECT name, phone, role FROM grid_worker WHERE grid_code = :c AND active "
            "ORDER BY role = 'worker' DESC, id"
        ),
        {"c": code},
    ).all()
    return [Worker(r.name, r.phone, r.role) for r in rows]


def _parse_part(label: str) -> list[tuple[int, int | None, int | None]]:
    """A part label (``1-2``, ``3:1-12``, ``2:13-24,3``) as (unit, first floor, last floor) runs."""
    runs: list[tuple[int, int | None, int | None]] = []
    for seg in label.split(","):
        seg = seg.strip()
        if ":" in seg:
            u, fl = seg.split(":", 1)
            lo, _, hi = fl.partition("-")
            runs.append((int(u), int(lo), int(hi or lo)))
        else:
            lo, _, hi = seg.partition("-")
            runs.extend((u, None, None) for u in range(int(lo), int(hi or lo) + 1))
    return runs


def dwellings_of_parts(dwellings: pd.DataFrame, parts: pd.DataFrame) -> pd.DataFrame:
    """The dwellings that belong to the given parts of their buildings.

    ``dwellings``: building_id, unit, floor, room, use, …; ``parts``: building_id, part (this grid's
    parts), all_parts (every part label of that building in the plan, in order) and
    part_households (their households). A whole building (part ``""``) keeps every dwelling; a
    ``#k/n`` part (neither units nor floors known) takes the k-th run of the building's dwellings,
    ordered by unit, floor and room, sized by the parts' households.
    """
    keep = []
    for bid, group in dwellings.groupby("building_id", sort=False):
        mine = parts[parts["building_id"] == bid]
        labels = [str(x) for x in mine["part"]]
        if not labels or "" in labels:
            keep.append(group)
            continue
        unit = group["unit"].fillna(1).astype(int)
        floor = group["floor"].fillna(1).astype(int)
        mask = pd.Series(False, index=group.index)
        for label in labels:
            if label.startswith("#"):
                row = mine[mine["part"] == label].iloc[0]
                order = group.assign(_u=unit, _f=floor).sort_values(["_u", "_f", "room"]).index
                homes = [i for i in order if group.at[i, "use"] != "commercial"]
                sizes = list(row["part_households"])
                k = list(row["all_parts"]).index(label)
                start = sum(sizes[:k])
                chosen = set(homes[start : start + sizes[k]])
                if k == 0:  # premises go with the first part
                    chosen |= {i for i in order if group.at[i, "use"] == "commercial"}
                mask |= group.index.isin(chosen)
                continue
            for u, lo, hi in _parse_part(label):
                sel = unit == u
                if lo is not None:
                    sel &= floor.between(lo, hi)
                mask |= sel
        keep.append(group[mask])
    if not keep:
        return dwellings.iloc[0:0]
    return pd.concat(keep)


def read_grid_map(
    conn: Connection,
    code: str,
    role: str,
    *,
    plan_id: int | None = None,
    people: bool = True,
    today: dt.date | None = None,
) -> GridMapData:
    """Everything the map of grid ``code`` shows, masked for ``role``.

    ``plan_id``: a draft's grid instead of the active one. ``people=False`` reads no personal data
    at all (names, phones, tags): the buildings' counts only, for the public signboard.
    """
    check_role(role)
    g = _grid_row(conn, code, plan_id)
    bframe = pd.read_sql(
        sa.text(
            "SELECT b.id AS pk, b.ext_id AS building_id, b.number, b.name, c.name AS compound, b.floors, b.units, "
            "b.use, a.part, "
            "(SELECT array_agg(o.part ORDER BY o.part) FROM grid_assignment o "
            " WHERE o.plan_id = a.plan_id AND o.building_id = a.building_id) AS all_parts, "
            "(SELECT array_agg(o.households ORDER BY o.part) FROM grid_assignment o "
            " WHERE o.plan_id = a.plan_id AND o.building_id = a.building_id) AS part_households, "
            "ST_AsBinary(b.geom) AS geom "
            "FROM grid_assignment a JOIN building b ON b.id = a.building_id "
            "LEFT JOIN compound c ON c.id = b.compound_id WHERE a.grid_id = :gid ORDER BY b.ext_id, a.part"
        ),
        conn,
        params={"gid": g.id},
    )
    pks = [int(x) for x in bframe["pk"].unique()]
    dw = pd.read_sql(
        sa.text(
            "SELECT d.id AS dwelling_id, d.building_id, d.unit, d.floor, d.room, d.use FROM dwelling d "
            "WHERE d.building_id = ANY(:b)"
        ),
        conn,
        params={"b": pks},
    )
    split = bframe[bframe["part"].astype(str) != ""]
    if len(split):  # towers split between grids: keep only this grid's part of each
        parts = split[["pk", "part", "all_parts", "part_households"]].rename(columns={"pk": "building_id"})
        ordered = [
            sorted(zip((str(x) for x in a), hh, strict=True), key=lambda t: _part_key(t[0]))
            for a, hh in zip(parts["all_parts"], parts["part_households"], strict=True)
        ]
        parts["all_parts"] = [[label for label, _ in o] for o in ordered]
        parts["part_households"] = [[h for _, h in o] for o in ordered]
        whole = dw[~dw["building_id"].isin(set(parts["building_id"]))]
        dw = pd.concat([whole, dwellings_of_parts(dw[dw["building_id"].isin(set(parts["building_id"]))], parts)])
    # one row per building: parts of the same building in this grid are shown as one
    if bframe["pk"].duplicated().any():
        bframe = (
            bframe.groupby("pk", sort=False)
            .agg({**{c: "first" for c in bframe.columns if c not in ("pk", "part")}, "part": lambda s: ",".join(s)})
            .reset_index()
        )
    b = gpd.GeoDataFrame(
        bframe.drop(columns=["geom", "all_parts", "part_households"]),
        geometry=shapely.from_wkb([bytes(x) for x in bframe["geom"]]),
        crs=STORAGE_CRS,
    )
    ext_of = dict(zip(b["pk"], b["building_id"], strict=True))
    dw["building_id"] = dw["building_id"].map(ext_of)
    ids = [int(x) for x in dw["dwelling_id"]]
    if people:
        full = role in FULL_ROLES
        persons = pd.read_sql(
            sa.text(
                "SELECT p.id AS person_id, p.dwelling_id, p.name, p.sex, p.birth_date, p.phone, p.residence_type, "
                f"p.relation, p.care_tags, {'p.id_masked' if full else 'NULL AS id_masked'} "
                "FROM person p WHERE p.dwelling_id = ANY(:d) AND p.status = 'active' "
                "ORDER BY p.dwelling_id, p.relation <> '户主', p.birth_date, p.id"
            ),
            conn,
            params={"d": ids},
        )
    else:  # counts only: every resident as an anonymous row, care tags reduced to a flag
        persons = pd.read_sql(
            sa.text(
                "SELECT p.id AS person_id, p.dwelling_id, '' AS name, "
                "CASE WHEN cardinality(p.care_tags) > 0 THEN ARRAY['重点人群'] ELSE ARRAY[]::text[] END AS care_tags "
                "FROM person p WHERE p.dwelling_id = ANY(:d) AND p.status = 'active'"
            ),
            conn,
            params={"d": ids},
        )
        for col in ("sex", "birth_date", "phone", "residence_type", "relation", "id_masked"):
            persons[col] = None
    return prepare(
        code=g.code,
        role=role if people else "viewer",
        boundary=_geom(g.geom),
        buildings=b.drop(columns=["pk"]),
        dwellings=dw,
        persons=persons,
        neighbours=_neighbours(conn, g),
        workers=_workers(conn, g.code),
        name=g.name,
        community_code=g.community_code,
        community_name=g.community_name,
        street_name=g.street_name,
        kind=g.kind,
        today=today,
    )


def _part_key(label: str) -> tuple:
    if label.startswith("#"):
        k, _, n = label[1:].partition("/")
        return (0, int(k), 0)
    first = re.match(r"\d+", label)
    return (1, int(first.group()) if first else 0, label)


def grid_map_html(
    conn_or_engine: Connection | Engine,
    code: str,
    role: str,
    measure: str = "occupancy",
    basemap: str | Basemap | None = None,
    *,
    plan_id: int | None = None,
    tk: str | None = None,
    assets_url: str | None = None,
) -> str:
    """The standalone HTML 以房找人 map of grid ``code`` for a reader with ``role``.

    Raises NotFound (no such active grid), InvalidInput (bad code, role, measure or basemap).
    """
    with _connection(conn_or_engine) as conn:
        data = read_grid_map(conn, code, role, plan_id=plan_id)
    return render_grid_map(data, measure, basemap, tk=tk, assets_url=assets_url)


def grid_signboard(
    conn_or_engine: Connection | Engine,
    code: str,
    base_url: str,
    *,
    size: str = "A3",
    pdf: str | Path | None = None,
    png: str | Path | None = None,
    dpi: int = 150,
) -> Signboard:
    """Draw the 网格公示牌 of active grid ``code`` into ``pdf`` and/or ``png`` (no personal data is read)."""
    from geo.maps.signboard import render_signboard

    with _connection(conn_or_engine) as conn:
        data = read_grid_map(conn, code, "viewer", people=False)
    return render_signboard(data, base_url, size=size, pdf=pdf, png=png, dpi=dpi)
