"""Read queries behind the API: point lookup, grid figures, 楼盘表, search, drill-down figures."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo import ids
from geo.db import prepared
from geo.db.access import PREFIX_LEN, building_parts, present_person, require_people_role, scope_of
from geo.db.audit import audit
from geo.db.copy import sql
from geo.db.users import User
from geo.errors import InvalidInput, NotFound, PermissionDenied

_LOCATE = prepared.from_file("gridmap_locate", "q_locate", (("lon", "float8"), ("lat", "float8")))


def locate(conn: Connection, lon: float, lat: float) -> dict[str, Any]:
    """Community, grid and grid worker at a point (CGCS2000 ≈ WGS 84 lon/lat)."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"({lon}, {lat}) is not a lon/lat position")
    row = _LOCATE.execute(conn, {"lon": lon, "lat": lat}).first()
    if row is None:
        raise NotFound(f"no community at ({lon:.6f}, {lat:.6f})")
    return dict(row._mapping)


def grid_json(conn: Connection, code: str, plan: int | None = None) -> str:
    """A grid's boundary (GeoJSON) and figures, the active plan's unless ``plan`` is given, as the
    JSON text PostgreSQL renders (the API passes it through unparsed)."""
    if not re.fullmatch(r"\d{15}", code):
        raise InvalidInput(f"a grid code has 15 digits, got {code!r}")
    text = _GRID_JSON.execute(conn, {"code": code, "plan": plan}).scalar()
    if text is None:
        raise NotFound(f"no grid {code}" + (f" in plan {plan}" if plan else " in an active plan"))
    return text


_GRID_JSON = prepared.from_file(
    "gridmap_grid_json", "q_grid", (("code", "text"), ("plan", "integer")), "SELECT row_to_json(q)::text FROM ({}) AS q"
)


def building_table(
    conn: Connection, user: User, building: str, *, client: str | None = None, keys: Any = None
) -> dict[str, Any]:
    """A building's 楼盘表: units × floors, each dwelling with its residents, masked for the user."""
    require_people_role(user)
    parts = building_parts(conn, user, building)
    rows = conn.execute(sa.text(sql("q_building_table")), {"building": building, "parts": parts}).all()
    head = rows[0]
    dwellings: dict[int, dict[str, Any]] = {}
    for r in rows:
        if r.dwelling_pk is None:
            continue
        d = dwellings.setdefault(
            r.dwelling_pk,
            {
                "dwelling_id": r.dwelling_id,
                "unit": r.unit,
                "floor": r.floor,
                "room": r.room,
                "use": r.dwelling_use,
                "address": r.address,
                "residents": [],
            },
        )
        if r.person_pk is not None:
            d["residents"].append(present_person(r, user, keys))
    units: dict[int, dict[int, list[dict[str, Any]]]] = {}
    for d in dwellings.values():
        units.setdefault(d["unit"] or 1, {}).setdefault(d["floor"] or 1, []).append(d)
    table = [
        {
            "unit": u,
            "floors": [
                {"floor": f, "dwellings": sorted(ds, key=lambda x: x["room"])}
                for f, ds in sorted(floors.items(), reverse=True)
            ],
        }
        for u, floors in sorted(units.items())
    ]
    residents = sum(len(d["residents"]) for d in dwellings.values())
    audit(conn, user, "read", f"building/{building}/table", {"residents": residents, "parts": parts}, client)
    return {
        "building_id": head.building_id,
        "number": head.number,
        "name": head.name,
        "compound": head.compound,
        "floors": head.floors,
        "units": head.units,
        "use": head.use,
        "community_code": head.community_code,
        "restricted_to_parts": parts,
        "dwellings": len(dwellings),
        "residents": residents,
        "table": table,
    }


_FW = str.maketrans("０１２３４５６７８９－—＃", "0123456789--#")
_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _cn_number(text: str) -> str:
    """三号楼 → 3号楼, 十二栋 → 12栋 (numbers up to 99)."""

    def conv(m: re.Match[str]) -> str:
        s = m.group(0)
        if "十" in s:
            a, _, b = s.partition("十")
            return str((_CN_DIGITS.get(a, 1) if a else 1) * 10 + (_CN_DIGITS.get(b, 0) if b else 0))
        return "".join(str(_CN_DIGITS[c]) for c in s)

    return re.sub(r"[零一二两三四五六七八九十]+(?=[号栋幢#座单层楼室])", conv, text)


def parse_address_query(q: str) -> dict[str, Any]:
    """Tolerant parse of what people type: '3号楼2单元501', '幸福小区3-2-501', '３栋２单元５０１'."""
    s = _cn_number(re.sub(r"\s+", "", q).translate(_FW))
    out: dict[str, Any] = {"text": s}
    m = re.search(r"(\d+)-(\d+)-(\d+)", s)
    if m:
        out.update(building=m.group(1), unit=int(m.group(2)), room=m.group(3))
        out["place"] = s[: m.start()]
        return out
    if b := re.search(r"(\d+|[A-Za-z])\s*(?:号楼|号|栋|幢|#楼|#|座)", s):
        out["building"] = b.group(1)
    if u := re.search(r"(\d+)\s*单元", s):
        out["unit"] = int(u.group(1))
    if r := re.search(r"(?:单元|-)(\d{3,4})(?:室|号)?$", s) or re.search(r"(\d{3,4})\s*室", s):
        out["room"] = r.group(1).lstrip("0") or r.group(1)
    first = min([x.start() for x in (b, u) if x] or [len(s)])
    out["place"] = s[:first]
    return out


def search_addresses(
    conn: Connection, user: User, q: str, *, limit: int = 20, client: str | None = None
) -> list[dict[str, Any]]:
    """Dwellings matching a typed address within the caller's scope, best first."""
    require_people_role(user)
    p = parse_address_query(q)
    if not any(k in p for k in ("building", "unit", "room")) and len(p["place"]) < 2:
        raise InvalidInput("type at least a compound name or a building/unit/room, e.g. 幸福小区3-2-501")
    scope = scope_of(conn, user)
    rows = conn.execute(
        sa.text("""
        SELECT d.ext_id AS dwelling_id, d.address, d.unit, d.floor, d.room, b.ext_id AS building_id, b.number,
               c.name AS compound, b.community_code,
               (SELECT array_agg(g.code) FROM grid_assignment a JOIN grid_plan pl ON pl.id = a.plan_id
                AND pl.status = 'active' JOIN grid g ON g.id = a.grid_id
                WHERE a.building_id = b.id AND (a.part = '' OR part_covers(a.part, d.unit, d.floor))) AS grids
        FROM dwelling d JOIN building b ON b.id = d.building_id LEFT JOIN compound c ON c.id = b.compound_id
        WHERE (CAST(:place AS text) = '' OR c.name LIKE '%' || :place || '%' OR d.address LIKE '%' || :place || '%')
          AND (CAST(:building AS text) IS NULL OR b.number = :building || '号楼' OR b.number = :building
               OR b.number LIKE :building || '号%' OR b.number LIKE '%' || :building || '座')
          AND (CAST(:unit AS int) IS NULL OR d.unit = :unit)
          AND (CAST(:room AS text) IS NULL OR ltrim(d.room, '0') = :room)
        ORDER BY c.name, b.number, d.unit, d.room
        LIMIT 500"""),
        {"place": p["place"], "building": p.get("building"), "unit": p.get("unit"), "room": p.get("room")},
    ).all()
    out = [
        dict(r._mapping)
        for r in rows
        if scope.covers_community(r.community_code) or any(g in scope.grids for g in (r.grids or []))
    ][:limit]
    audit(conn, user, "search", "addresses", {"q": q, "results": len(out)}, client)
    return out


def search_persons(
    conn: Connection, user: User, q: str, *, keys: Any, limit: int = 20, client: str | None = None
) -> list[dict[str, Any]]:
    """Residents by name (within scope) or by ID number (exact, through the keyed hash).

    An ID number that belongs to someone outside the caller's scope is a 403, not an empty list.
    """
    require_people_role(user)
    q = q.strip()
    scope = scope_of(conn, user)
    by_id = re.fullmatch(r"[\d０-９]{15,17}[\dXx０-９]?", q) is not None
    params: dict[str, Any] = {"limit": 500}
    if by_id:
        try:
            parsed = ids.parse(q)
        except ids.InvalidIdNumber as exc:
            raise InvalidInput(f"not a valid ID number: {exc}") from None
        where = "p.id_hash = :h"
        params["h"] = keys.id_hash(parsed.value)
    else:
        if len(q) < 2:
            raise InvalidInput("type at least two characters of a name")
        where = "p.name LIKE :name"
        params["name"] = q + "%"
    rows = conn.execute(
        sa.text(f"""
        SELECT p.id AS person_pk, p.name AS person_name, p.sex, p.birth_date, p.phone, p.residence_type, p.relation,
               p.care_tags, p.id_masked, p.id_cipher, d.ext_id AS dwelling_id, d.address, d.unit, d.floor, d.room,
               b.ext_id AS building_id, b.number, b.community_code,
               (SELECT array_agg(g.code) FROM grid_assignment a JOIN grid_plan pl ON pl.id = a.plan_id
                AND pl.status = 'active' JOIN grid g ON g.id = a.grid_id
                WHERE a.building_id = b.id AND (a.part = '' OR part_covers(a.part, d.unit, d.floor))) AS grids
        FROM person p LEFT JOIN dwelling d ON d.id = p.dwelling_id LEFT JOIN building b ON b.id = d.building_id
        WHERE p.status = 'active' AND {where}
        ORDER BY p.name, p.birth_date LIMIT :limit"""),
        params,
    ).all()

    def visible(r: Any) -> bool:
        if scope.everything:
            return True
        if r.community_code is None:  # not linked to a dwelling: only city-wide roles see them
            return False
        return scope.covers_community(r.community_code) or any(g in scope.grids for g in (r.grids or []))

    seen = [r for r in rows if visible(r)]
    if by_id and rows and not seen:
        audit(conn, user, "denied", "persons", {"q": ids.mask(q)}, client)
        raise PermissionDenied("this person lives outside your scope")
    out = []
    for r in seen[:limit]:
        person = present_person(r, user, keys)
        person.update(
            dwelling_id=r.dwelling_id, address=r.address, building_id=r.building_id, grids=list(r.grids or [])
        )
        out.append(person)
    audit(conn, user, "search", "persons", {"q": ids.mask(q) if by_id else q, "results": len(out)}, client)
    return out


def children(conn: Connection, code: str) -> dict[str, Any]:
    """一屏统览: an area and the figures of its children (a community's children are its grids)."""
    area = conn.execute(
        sa.text("SELECT code, name, level, parent_code FROM admin_area WHERE code = :c"), {"c": code}
    ).first()
    if area is None:
        raise NotFound(f"no division code {code}")
    if area.level == "village":
        rows = conn.execute(sa.text(sql("q_community_grids")), {"code": code}).all()
    else:
        child_len = {"province": 4, "city": 6, "county": 9, "town": 12}[area.level]
        rows = conn.execute(
            sa.text(sql("q_children")), {"code": code, "prefix": code[: PREFIX_LEN[area.level]], "child_len": child_len}
        ).all()
    kids = [dict(r._mapping) for r in rows]
    persons = _link_rate(conn, code[: PREFIX_LEN[area.level]])
    return {
        "code": area.code,
        "name": area.name,
        "level": area.level,
        "parent_code": area.parent_code,
        "grids": sum(k["grids"] for k in kids),
        "households": sum(k["households"] for k in kids),
        "residents": sum(k["residents"] for k in kids),
        **persons,
        "children": [k for k in kids if k["households"] or k["grids"]] or kids,
        "as_of": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _link_rate(conn: Connection, prefix: str) -> dict[str, Any]:
    """人房关联率 of an area: linked residents / residents known to live there (linked ones, plus
    unlinked ones whose recorded community is in the area, where the sync recorded it)."""
    linked = conn.execute(
        sa.text(
            "SELECT count(*) FROM person p JOIN dwelling d ON d.id = p.dwelling_id JOIN building b ON b.id = d.building_id "
            "WHERE p.status = 'active' AND b.community_code LIKE :p || '%'"
        ),
        {"p": prefix},
    ).scalar_one()
    has_col = conn.execute(
        sa.text(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'person' AND column_name = 'community_code'"
        )
    ).scalar()
    unlinked = 0
    if has_col:
        unlinked = conn.execute(
            sa.text(
                "SELECT count(*) FROM person WHERE status = 'active' AND dwelling_id IS NULL "
                "AND community_code LIKE :p || '%'"
            ),
            {"p": prefix},
        ).scalar_one()
    elif len(prefix) <= 4:  # city-wide: every unlinked resident counts
        unlinked = conn.execute(
            sa.text("SELECT count(*) FROM person WHERE status = 'active' AND dwelling_id IS NULL")
        ).scalar_one()
    total = linked + unlinked
    return {
        "linked_residents": linked,
        "unlinked_residents": unlinked,
        "link_rate": round(linked / total, 4) if total else None,
    }
