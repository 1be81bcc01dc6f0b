"""Load validated layers and the division code table into PostGIS: COPY into staging, merge in SQL."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geo.db.copy import copy_rows, sql
from geo.errors import InvalidInput
from geo.ingest.validate import Reject, Validated

LEVELS = ("province", "city", "county", "town", "village")


@dataclass
class ImportReport:
    """What one import did; every feature read is in exactly one of inserted/updated/unchanged/rejected."""

    source: str
    layer: str
    kind: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    repaired: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rejects: list[dict[str, object]] = field(default_factory=list)
    run_id: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2, default=str)


def communities_frame(conn: Connection) -> gpd.GeoDataFrame:
    """Communities that have a boundary: code, geometry (EPSG:4490)."""
    return gpd.read_postgis(
        "SELECT code, geom FROM admin_area WHERE level = 'village' AND geom IS NOT NULL ORDER BY code",
        conn,
        geom_col="geom",
    ).rename_geometry("geometry")


def known_community_codes(conn: Connection) -> set[str]:
    """Codes of every community/village in the division table."""
    return set(
        conn.execute(sa.text("SELECT code FROM admin_area WHERE level = 'village'")).scalars()
    )


def _start_run(conn: Connection, source: str, layer: str, kind: str) -> int:
    return int(
        conn.execute(
            sa.text(
                "INSERT INTO import_run (source, layer, kind) VALUES (:s, :l, :k) RETURNING id"
            ),
            {"s": source, "l": layer, "k": kind},
        ).scalar_one()
    )


def _finish_run(conn: Connection, report: ImportReport) -> None:
    summary = {k: v for k, v in asdict(report).items() if k != "rejects"}
    conn.execute(
        sa.text(
            "UPDATE import_run SET finished_at = now(), report = CAST(:r AS jsonb) WHERE id = :id"
        ),
        {"r": json.dumps(summary, ensure_ascii=False, default=str), "id": report.run_id},
    )


def _store_rejects(conn: Connection, run_id: int, rejects: list[Reject]) -> None:
    if not rejects:
        return
    frame = pd.DataFrame(
        {
            "run_id": run_id,
            "feature_id": [r.feature_id for r in rejects],
            "line_no": [r.index + 1 for r in rejects],
            "reason": [r.reason for r in rejects],
            "detail": [r.detail for r in rejects],
            "properties": [
                json.dumps(r.properties, ensure_ascii=False, default=str) for r in rejects
            ],
            "geom_wkt": [r.geom_wkt for r in rejects],
        }
    )
    copy_rows(conn, "import_reject", list(frame.columns), frame)


STAGING = {
    "communities": (
        "stage_community",
        "code text, geom geometry(MultiPolygon, 4490)",
        ["code", "geom"],
    ),
    "compounds": (
        "stage_compound",
        "ext_id text, community_code text, name text, geom geometry(MultiPolygon, 4490)",
        ["ext_id", "community_code", "name", "geom"],
    ),
    "buildings": (
        "stage_building",
        "ext_id text, community_code text, compound_ext text, number text, name text, floors int, "
        "units int, dwellings int, use text, geom geometry(MultiPolygon, 4490)",
        [
            "ext_id",
            "community_code",
            "compound_ext",
            "number",
            "name",
            "floors",
            "units",
            "dwellings",
            "use",
            "geom",
        ],
    ),
}


def load_validated(
    engine: Engine,
    v: Validated,
    *,
    source: str,
    layer: str,
    notes: list[str] | None = None,
    read: int | None = None,
) -> ImportReport:
    """Write a validated layer in one transaction and return its report (also stored in import_run)."""
    report = ImportReport(
        source=source,
        layer=layer,
        kind=v.kind,
        read=read if read is not None else len(v.clean) + len(v.rejects),
    )
    report.notes = list(notes or [])
    table, ddl, cols = STAGING[v.kind]
    frame = v.clean.rename(columns={"id": "ext_id", "compound_id": "compound_ext"})
    with engine.begin() as conn:
        report.run_id = _start_run(conn, source, layer, v.kind)
        conn.execute(sa.text(f"CREATE TEMP TABLE {table} ({ddl}) ON COMMIT DROP"))
        copy_rows(conn, table, cols, frame)
        if v.kind == "buildings":
            missing = conn.execute(
                sa.text(
                    "SELECT s.ext_id, s.compound_ext FROM stage_building s LEFT JOIN compound c "
                    "ON c.community_code = s.community_code AND c.ext_id = s.compound_ext "
                    "WHERE s.compound_ext IS NOT NULL AND c.id IS NULL ORDER BY s.ext_id"
                )
            ).all()
            report.warnings += [
                f"{bid}: compound {cid} is not loaded; building kept without compound"
                for bid, cid in missing
            ]
        inserted, updated = conn.execute(sa.text(sql(f"merge_{v.kind}"))).one()
        report.inserted, report.updated = int(inserted), int(updated)
        report.unchanged = len(v.clean) - report.inserted - report.updated
        report.rejected = len(v.rejects)
        report.repaired = len(v.repairs)
        by_reason: dict[str, int] = {}
        for r in v.rejects:
            by_reason[r.reason] = by_reason.get(r.reason, 0) + 1
        report.rejected_by_reason = dict(sorted(by_reason.items()))
        report.warnings += [f"{fid}: {msg}" for fid, msg in v.warnings]
        report.warnings += [f"{fid}: {msg}" for fid, msg in v.repairs]
        report.rejects = [
            {
                "feature_id": r.feature_id,
                "feature_no": r.index + 1,
                "reason": r.reason,
                "detail": r.detail,
            }
            for r in v.rejects
        ]
        _store_rejects(conn, report.run_id, v.rejects)
        _finish_run(conn, report)
    return report


def load_divisions(engine: Engine, csv_path: str | Path) -> ImportReport:
    """Load the official division code table (code, name, level, parent_code)."""
    p = Path(csv_path)
    if not p.exists():
        raise InvalidInput(f"{p}: no such file")
    frame = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame.columns = [c.strip() for c in frame.columns]
    needed = {"code", "name", "level", "parent_code"}
    if not needed <= set(frame.columns):
        raise InvalidInput(f"{p}: needs columns {sorted(needed)}, has {list(frame.columns)}")
    frame = frame.apply(lambda s: s.str.strip())
    report = ImportReport(source=str(p), layer=p.stem, kind="divisions", read=len(frame))
    bad = (
        ~frame["code"].str.fullmatch(r"\d{12}")
        | ~frame["level"].isin(LEVELS)
        | (frame["name"] == "")
    )
    orphan = (frame["parent_code"] != "") & ~frame["parent_code"].isin(frame["code"])
    rejects = [
        Reject(
            row.code,
            "invalid_row",
            "code must be 12 digits, level one of " + "/".join(LEVELS),
            int(i),
        )
        for i, row in frame[bad].iterrows()
    ]
    rejects += [
        Reject(row.code, "unknown_parent", f"parent {row.parent_code} is not in the file", int(i))
        for i, row in frame[orphan & ~bad].iterrows()
    ]
    good = frame[~bad & ~orphan]
    with engine.begin() as conn:
        report.run_id = _start_run(conn, str(p), p.stem, "divisions")
        conn.execute(
            sa.text(
                "CREATE TEMP TABLE stage_division (code text, name text, level text, parent_code text) "
                "ON COMMIT DROP"
            )
        )
        copy_rows(conn, "stage_division", ["code", "name", "level", "parent_code"], good)
        inserted, updated = conn.execute(sa.text(sql("merge_divisions"))).one()
        report.inserted, report.updated = int(inserted), int(updated)
        report.unchanged = len(good) - report.inserted - report.updated
        report.rejected = len(rejects)
        for r in rejects:
            report.rejected_by_reason[r.reason] = report.rejected_by_reason.get(r.reason, 0) + 1
        report.rejects = [
            {
                "feature_id": r.feature_id,
                "feature_no": r.index + 1,
                "reason": r.reason,
                "detail": r.detail,
            }
            for r in rejects
        ]
        _store_rejects(conn, report.run_id, rejects)
        _finish_run(conn, report)
    return report
