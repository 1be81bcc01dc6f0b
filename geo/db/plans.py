"""Grid plans in the database: balance into drafts, edit, validate, diff, approve, discard.

A plan holds one community's grids. Exactly one plan per community is active; approving a draft
retires the active plan in the same transaction (it stays queryable), and a draft made against an
active plan that has since changed cannot be approved (conflict). Codes of approved grids go into
``grid_code_registry`` so that a retired code is never issued again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geo.balance import BalanceParams, Proposal, propose_many
from geo.crs import STORAGE_CRS
from geo.db.copy import copy_rows, sql
from geo.errors import Conflict, InvalidInput, NotFound

Progress = Callable[[int, int, str], None]


# -- scope ------------------------------------------------------------------------------------------
def community_codes(
    conn: Connection, *, community: str | None = None, street: str | None = None, all_: bool = False
) -> list[str]:
    """Codes of the communities to balance (those with a boundary)."""
    if sum(x is not None and x is not False for x in (community, street, all_ or None)) != 1:
        raise InvalidInput("give exactly one of --community CODE, --street CODE or --all")
    q = "SELECT code FROM admin_area WHERE level = 'village' AND geom IS NOT NULL"
    params: dict[str, Any] = {}
    if community:
        q += " AND code = :c"
        params["c"] = community
    elif street:
        q += " AND parent_code = :s"
        params["s"] = street
    codes = list(conn.execute(sa.text(q + " ORDER BY code"), params).scalars())
    if not codes:
        what = f"community {community}" if community else f"street {street}" if street else "the database"
        raise NotFound(f"no community with a boundary in {what}; import communities first")
    return codes


# -- inputs -----------------------------------------------------------------------------------------
def load_inputs(conn: Connection, codes: list[str]) -> dict[str, Any]:
    """Everything the balancer needs for ``codes``, read from the database (EPSG:4490)."""
    buildings = gpd.read_postgis(sa.text(sql("balance_buildings")), conn, geom_col="geom", params={"codes": codes})
    buildings = buildings.rename_geometry("geometry")
    communities = gpd.read_postgis(
        sa.text("SELECT code, geom FROM admin_area WHERE code = ANY(:codes) ORDER BY code"),
        conn,
        geom_col="geom",
        params={"codes": codes},
    ).rename_geometry("geometry")
    compounds = gpd.read_postgis(
        sa.text("SELECT ext_id AS id, name, geom FROM compound WHERE community_code = ANY(:codes)"),
        conn,
        geom_col="geom",
        params={"codes": codes},
    ).rename_geometry("geometry")
    dedicated = gpd.read_postgis(
        sa.text(
            "SELECT g.code, g.community_code, g.name, g.geom FROM grid g JOIN grid_plan p ON p.id = g.plan_id "
            "WHERE p.status = 'active' AND g.kind = 'dedicated' AND g.community_code = ANY(:codes)"
        ),
        conn,
        geom_col="geom",
        params={"codes": codes},
    ).rename_geometry("geometry")
    existing = pd.read_sql(sa.text(sql("balance_existing")), conn, params={"codes": codes})
    issued = set(
        conn.execute(
            sa.text(
                "SELECT code FROM grid_code_registry WHERE community_code = ANY(:codes) "
                "UNION SELECT g.code FROM grid g JOIN grid_plan p ON p.id = g.plan_id "
                "WHERE p.status IN ('active', 'retired') AND g.community_code = ANY(:codes)"
            ),
            {"codes": codes},
        ).scalars()
    )
    active = dict(
        conn.execute(
            sa.text(
                "SELECT community_code, id FROM grid_plan WHERE status = 'active' AND community_code = ANY(:codes)"
            ),
            {"codes": codes},
        ).all()
    )
    return {
        "buildings": buildings,
        "communities": communities,
        "compounds": compounds,
        "dedicated": dedicated,
        "existing": existing,
        "issued": issued,
        "active": active,
    }


# -- balance ----------------------------------------------------------------------------------------
def balance(
    engine: Engine,
    codes: list[str],
    *,
    rebalance: bool = False,
    params: BalanceParams | None = None,
    jobs: int = 1,
    created_by: str | None = None,
    progress: Progress | None = None,
    errors: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Propose grids for ``codes`` and store one draft plan per community; returns their summaries."""
    params = params or BalanceParams()
    with engine.connect() as conn:
        inp = load_inputs(conn, codes)
    if inp["buildings"].empty:
        raise InvalidInput("no buildings in these communities; import buildings first")
    # re-balance: communities with an active plan start from it; the others get a fresh proposal
    existing = inp["existing"] if rebalance and not inp["existing"].empty else None
    dedicated = inp["dedicated"] if not inp["dedicated"].empty else None
    proposals = propose_many(
        inp["buildings"],
        inp["communities"],
        existing=existing,
        params=params,
        compounds=inp["compounds"] if not inp["compounds"].empty else None,
        dedicated=dedicated,
        issued_codes=inp["issued"],
        jobs=jobs,
        progress=progress,
        errors=errors,
    )
    pk_of = dict(zip(inp["buildings"]["id"].astype(str), inp["buildings"]["building_pk"], strict=True))
    out = []
    with engine.begin() as conn:
        for code, proposal in proposals.items():
            plan_id = _store_draft(
                conn, code, proposal, pk_of, inp["active"].get(code), params, created_by, inp["dedicated"], rebalance
            )
            out.append({"plan_id": plan_id, **_summary_row(proposal)})
        conn.execute(sa.text("ANALYZE grid"))
        conn.execute(sa.text("ANALYZE grid_assignment"))
    return out


def _summary_row(proposal: Proposal) -> dict[str, Any]:
    row = proposal.communities.iloc[0].to_dict()
    clean: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, (list, tuple)):
            v = [x.item() if isinstance(x, np.generic) else x for x in v]
        elif isinstance(v, float) and np.isnan(v):
            v = None
        clean[str(k)] = v
    return clean


def _store_draft(
    conn: Connection,
    code: str,
    proposal: Proposal,
    pk_of: dict[str, int],
    base_plan: int | None,
    params: BalanceParams,
    created_by: str | None,
    dedicated: gpd.GeoDataFrame,
    rebalance: bool,
) -> int:
    summary = _summary_row(proposal)
    plan_id = conn.execute(
        sa.text(
            "INSERT INTO grid_plan (community_code, status, base_plan_id, params, summary, created_by, note) "
            "VALUES (:c, 'draft', :b, CAST(:p AS jsonb), CAST(:s AS jsonb), :u, :n) RETURNING id"
        ),
        {
            "c": code,
            "b": base_plan,
            "p": json.dumps({**asdict(params), "rebalance": rebalance}),
            "s": json.dumps(summary, ensure_ascii=False, default=str),
            "u": created_by,
            "n": "re-balance" if rebalance else "new proposal",
        },
    ).scalar_one()
    grids = proposal.grids.to_crs(STORAGE_CRS)
    short = conn.execute(sa.text("SELECT name FROM admin_area WHERE code = :c"), {"c": code}).scalar_one()
    short = short.removesuffix("居委会").removesuffix("村委会")
    gframe = pd.DataFrame(
        {
            "plan_id": plan_id,
            "code": grids["code"].astype(str),
            "community_code": code,
            "kind": "basic",
            "name": [f"{short}第{int(c[-3:])}网格" for c in grids["code"].astype(str)],
            "households": grids["households"].astype("int64"),
            "geom": [_multi_hex(g) for g in grids.geometry.values],
        }
    )
    if dedicated is not None and not dedicated.empty:
        ded = dedicated[dedicated["community_code"] == code]
        if not ded.empty:
            gframe = pd.concat(
                [
                    gframe,
                    pd.DataFrame(
                        {
                            "plan_id": plan_id,
                            "code": ded["code"].astype(str),
                            "community_code": code,
                            "kind": "dedicated",
                            "name": ded["name"],
                            "households": 0,
                            "geom": [
                                shapely.to_wkb(shapely.set_srid(g, 4490), hex=True, include_srid=True)
                                for g in ded.geometry.values
                            ],
                        }
                    ),
                ],
                ignore_index=True,
            )
    copy_rows(conn, "grid", ["plan_id", "code", "community_code", "kind", "name", "households", "geom"], gframe)
    grid_id = dict(conn.execute(sa.text("SELECT code, id FROM grid WHERE plan_id = :p"), {"p": plan_id}).all())
    a = proposal.assignment
    a = a[a["grid_code"].astype(str).isin(grid_id.keys())]
    cells = a["cell"] if "cell" in a.columns else pd.Series([None] * len(a), index=a.index)
    aframe = pd.DataFrame(
        {
            "plan_id": plan_id,
            "building_id": [pk_of[str(b)] for b in a["building_id"]],
            "part": a["units"].fillna("").astype(str),
            "grid_id": [grid_id[str(g)] for g in a["grid_code"]],
            "households": a["households"].astype("int64"),
            "cell": [_multi_hex(c) for c in cells],
        }
    )
    copy_rows(conn, "grid_assignment", list(aframe.columns), aframe)
    return int(plan_id)


def _multi_hex(geom: Any) -> str | None:
    if geom is None or (isinstance(geom, float) and np.isnan(geom)) or geom.is_empty:
        return None
    if geom.geom_type == "Polygon":
        geom = shapely.MultiPolygon([geom])
    return shapely.to_wkb(shapely.set_srid(geom, 4490), hex=True, include_srid=True)


# -- listing and diff -------------------------------------------------------------------------------
def list_plans(engine: Engine, codes: Iterable[str] | None = None) -> list[dict[str, Any]]:
    q = (
        "SELECT p.id, p.community_code, a.name AS community, p.status, p.note, p.created_by, p.created_at, "
        "p.approved_by, p.approved_at, p.retired_at, (SELECT count(*) FROM grid g WHERE g.plan_id = p.id) AS grids, "
        "p.summary FROM grid_plan p JOIN admin_area a ON a.code = p.community_code"
    )
    params: dict[str, Any] = {}
    if codes is not None:
        q += " WHERE p.community_code = ANY(:codes)"
        params["codes"] = list(codes)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(q + " ORDER BY p.community_code, p.id"), params)]


def get_plan(conn: Connection, plan_id: int) -> dict[str, Any]:
    row = conn.execute(sa.text("SELECT * FROM grid_plan WHERE id = :p"), {"p": plan_id}).first()
    if row is None:
        raise NotFound(f"no plan {plan_id}")
    return dict(row._mapping)


def diff(engine: Engine, plan_id: int, other_id: int | None = None) -> dict[str, Any]:
    """Compare a plan with another (default: the active plan of its community)."""
    with engine.connect() as conn:
        plan = get_plan(conn, plan_id)
        if other_id is None:
            other_id = conn.execute(
                sa.text("SELECT id FROM grid_plan WHERE community_code = :c AND status = 'active'"),
                {"c": plan["community_code"]},
            ).scalar()
            if other_id is None:
                raise NotFound(f"community {plan['community_code']} has no active plan to compare with")
        rows = conn.execute(
            sa.text("""
            WITH a AS (SELECT ga.building_id, ga.part, g.code, ga.households FROM grid_assignment ga
                       JOIN grid g ON g.id = ga.grid_id WHERE ga.plan_id = :a),
                 b AS (SELECT ga.building_id, ga.part, g.code, ga.households FROM grid_assignment ga
                       JOIN grid g ON g.id = ga.grid_id WHERE ga.plan_id = :b)
            SELECT bl.ext_id, coalesce(a.part, b.part) AS part, b.code AS before, a.code AS after,
                   coalesce(a.households, b.households) AS households
            FROM a FULL JOIN b ON a.building_id = b.building_id AND a.part = b.part
            JOIN building bl ON bl.id = coalesce(a.building_id, b.building_id)
            WHERE a.code IS DISTINCT FROM b.code ORDER BY bl.ext_id"""),
            {"a": plan_id, "b": other_id},
        ).all()
        codes_a = set(conn.execute(sa.text("SELECT code FROM grid WHERE plan_id = :p"), {"p": plan_id}).scalars())
        codes_b = set(conn.execute(sa.text("SELECT code FROM grid WHERE plan_id = :p"), {"p": other_id}).scalars())
        total = conn.execute(
            sa.text("SELECT coalesce(sum(households), 0) FROM grid_assignment WHERE plan_id = :p"), {"p": other_id}
        ).scalar_one()
    moved = sum(r.households or 0 for r in rows)
    return {
        "plan_id": plan_id,
        "other_id": other_id,
        "buildings_moved": len(rows),
        "households_moved": int(moved),
        "households_kept_share": round(1 - moved / total, 4) if total else None,
        "grids_added": sorted(codes_a - codes_b),
        "grids_removed": sorted(codes_b - codes_a),
        "grids_kept": sorted(codes_a & codes_b),
        "moves": [dict(r._mapping) for r in rows],
    }


# -- approve / discard ------------------------------------------------------------------------------
def approve(engine: Engine, plan_id: int, approved_by: str | None = None) -> dict[str, Any]:
    """Make a draft active and retire the previous active plan, atomically.

    Two drafts approved at the same time: the first wins; the second finds the active plan changed
    (or the one-active-plan index taken) and gets :class:`Conflict`.
    """
    try:
        with engine.begin() as conn:
            plan = conn.execute(sa.text("SELECT * FROM grid_plan WHERE id = :p FOR UPDATE"), {"p": plan_id}).first()
            if plan is None:
                raise NotFound(f"no plan {plan_id}")
            if plan.status != "draft":
                raise Conflict(f"plan {plan_id} is {plan.status}, only a draft can be approved")
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext('grid_plan:' || :c))"), {"c": plan.community_code}
            )
            active = conn.execute(
                sa.text("SELECT id FROM grid_plan WHERE community_code = :c AND status = 'active' FOR UPDATE"),
                {"c": plan.community_code},
            ).scalar()
            if active != plan.base_plan_id:
                raise Conflict(
                    f"the active plan of {plan.community_code} changed since draft {plan_id} was made "
                    f"(now {active or 'none'}, draft based on {plan.base_plan_id or 'none'}); re-balance and try again"
                )
            if active is not None:
                conn.execute(
                    sa.text("UPDATE grid_plan SET status = 'retired', retired_at = now() WHERE id = :a"), {"a": active}
                )
                conn.execute(
                    sa.text(
                        "UPDATE grid_code_registry r SET retired_at = now() WHERE r.community_code = :c "
                        "AND r.retired_at IS NULL AND r.code NOT IN (SELECT code FROM grid WHERE plan_id = :p)"
                    ),
                    {"c": plan.community_code, "p": plan_id},
                )
            conn.execute(
                sa.text("UPDATE grid_plan SET status = 'active', approved_by = :u, approved_at = now() WHERE id = :p"),
                {"u": approved_by, "p": plan_id},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO grid_code_registry (code, community_code, issued_plan_id) "
                    "SELECT code, community_code, plan_id FROM grid WHERE plan_id = :p ON CONFLICT (code) DO NOTHING"
                ),
                {"p": plan_id},
            )
            reused = (
                conn.execute(
                    sa.text(
                        "SELECT g.code FROM grid g JOIN grid_code_registry r ON r.code = g.code "
                        "WHERE g.plan_id = :p AND r.retired_at IS NOT NULL"
                    ),
                    {"p": plan_id},
                )
                .scalars()
                .all()
            )
            if reused:
                raise Conflict(f"plan {plan_id} reuses retired grid code(s) {', '.join(reused)}")
    except sa.exc.IntegrityError as exc:
        if "grid_plan_one_active_idx" in str(exc.orig):
            raise Conflict(f"another plan of this community was approved at the same time as {plan_id}") from None
        raise
    return {"plan_id": plan_id, "retired": active}


def discard(engine: Engine, plan_id: int) -> None:
    """Discard a draft (it stays in the table, marked discarded)."""
    with engine.begin() as conn:
        status = conn.execute(sa.text("SELECT status FROM grid_plan WHERE id = :p FOR UPDATE"), {"p": plan_id}).scalar()
        if status is None:
            raise NotFound(f"no plan {plan_id}")
        if status != "draft":
            raise Conflict(f"plan {plan_id} is {status}; only drafts can be discarded")
        conn.execute(sa.text("UPDATE grid_plan SET status = 'discarded' WHERE id = :p"), {"p": plan_id})


# -- editing ----------------------------------------------------------------------------------------
def _editable(conn: Connection, plan_id: int) -> dict[str, Any]:
    plan = conn.execute(sa.text("SELECT * FROM grid_plan WHERE id = :p FOR UPDATE"), {"p": plan_id}).first()
    if plan is None:
        raise NotFound(f"no plan {plan_id}")
    if plan.status != "draft":
        raise Conflict(f"plan {plan_id} is {plan.status}; only drafts can be edited")
    return dict(plan._mapping)


def _band(plan: dict[str, Any]) -> tuple[int, int]:
    p = plan.get("params") or {}
    return int(p.get("min_households", 300)), int(p.get("max_households", 500))


def validate(conn: Connection, plan_id: int) -> dict[str, Any]:
    """Band, contiguity, coverage and compounds split of a plan."""
    plan = get_plan(conn, plan_id)
    lo, hi = _band(plan)
    v = conn.execute(sa.text(sql("plan_validate")), {"plan": plan_id, "lo": lo, "hi": hi}).scalar_one()
    basic = [g for g in v["grids"] if g["kind"] == "basic"]
    v["band"] = [lo, hi]
    v["in_band_share"] = round(sum(g["in_band"] for g in basic) / len(basic), 4) if basic else None
    v["all_contiguous"] = all(g["contiguous"] for g in basic)
    # exact up to floating-point slivers: cells are cut in a metric CRS and stored in EPSG:4490, so a
    # few square metres in all (a few millionths of a community's area) may open or overlap along seams
    tol = max(1.0, 5e-6 * float(v["community_m2"] or 0))
    v["coverage_tolerance_m2"] = round(tol, 1)
    v["covered"] = float(v["gap_m2"] or 0) < tol and float(v["overlap_m2"] or 0) < tol
    return v


def move_buildings(engine: Engine, plan_id: int, building_ids: list[str], to_grid: str) -> dict[str, Any]:
    """Move buildings (source ids; every part of a split one) to grid ``to_grid`` of a draft; re-validate."""
    with engine.begin() as conn:
        _editable(conn, plan_id)
        target = conn.execute(
            sa.text("SELECT id, kind FROM grid WHERE plan_id = :p AND code = :c"), {"p": plan_id, "c": to_grid}
        ).first()
        if target is None:
            raise NotFound(f"plan {plan_id} has no grid {to_grid}")
        if target.kind == "dedicated":
            raise InvalidInput(f"{to_grid} is a dedicated grid; buildings are not balanced into it")
        found = (
            conn.execute(
                sa.text(
                    "UPDATE grid_assignment a SET grid_id = :g FROM building b "
                    "WHERE a.plan_id = :p AND b.id = a.building_id AND b.ext_id = ANY(:ids) RETURNING b.ext_id"
                ),
                {"g": target.id, "p": plan_id, "ids": building_ids},
            )
            .scalars()
            .all()
        )
        missing = sorted(set(building_ids) - set(found))
        if missing:
            raise NotFound(f"plan {plan_id} has no building {', '.join(missing[:5])}")
        conn.execute(sa.text(sql("plan_regrid")), {"plan": plan_id})
        return validate(conn, plan_id)


def set_boundary(engine: Engine, plan_id: int, grid_code: str, polygon: shapely.Geometry) -> dict[str, Any]:
    """Redraw a grid of a draft: buildings whose footprint centre lies in ``polygon`` (EPSG:4490)
    join it; its buildings outside go to the neighbouring grid their cell shares most boundary with."""
    if polygon.is_empty or polygon.geom_type not in ("Polygon", "MultiPolygon") or not polygon.is_valid:
        raise InvalidInput("the boundary must be a valid polygon")
    wkb = shapely.to_wkb(shapely.set_srid(polygon, 4490), hex=True, include_srid=True)
    with engine.begin() as conn:
        _editable(conn, plan_id)
        gid = conn.execute(
            sa.text("SELECT id FROM grid WHERE plan_id = :p AND code = :c AND kind = 'basic'"),
            {"p": plan_id, "c": grid_code},
        ).scalar()
        if gid is None:
            raise NotFound(f"plan {plan_id} has no basic grid {grid_code}")
        conn.execute(
            sa.text(
                "UPDATE grid_assignment a SET grid_id = :g FROM building b "
                "WHERE a.plan_id = :p AND b.id = a.building_id AND ST_Covers(CAST(:poly AS geometry), ST_PointOnSurface(b.geom))"
            ),
            {"g": gid, "p": plan_id, "poly": wkb},
        )
        conn.execute(
            sa.text("""
            UPDATE grid_assignment a SET grid_id = best.grid_id
            FROM (
                SELECT DISTINCT ON (o.building_id, o.part) o.building_id, o.part, n.grid_id
                FROM grid_assignment o
                JOIN building b ON b.id = o.building_id
                JOIN grid_assignment n ON n.plan_id = o.plan_id AND n.grid_id <> o.grid_id
                     AND ST_Intersects(n.cell, o.cell)
                JOIN grid ng ON ng.id = n.grid_id AND ng.kind = 'basic'
                WHERE o.plan_id = :p AND o.grid_id = :g
                  AND NOT ST_Covers(CAST(:poly AS geometry), ST_PointOnSurface(b.geom))
                ORDER BY o.building_id, o.part, ST_Length(ST_Intersection(n.cell, o.cell)) DESC
            ) best
            WHERE a.plan_id = :p AND a.building_id = best.building_id AND a.part = best.part"""),
            {"p": plan_id, "g": gid, "poly": wkb},
        )
        conn.execute(sa.text(sql("plan_regrid")), {"plan": plan_id})
        return validate(conn, plan_id)
