"""Load validated layers and the division code table into PostGIS: COPY into staging, merge in SQL."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geo.db.copy import copy_rows, sql, wkb_columns
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
    return set(conn.execute(sa.text("SELECT code FROM admin_area WHERE level = 'village'")).scalars())


def _start_run(conn: Connection, source: str, layer: str, kind: str) -> int:
    return int(
        conn.execute(
            sa.text("INSERT INTO import_run (source, layer, kind) VALUES (:s, :l, :k) RETURNING id"),
            {"s": source, "l": layer, "k": kind},
        ).scalar_one()
    )


def _finish_run(conn: Connection, report: ImportReport) -> None:
    summary = {k: v for k, v in asdict(report).items() if k != "rejects"}
    conn.execute(
        sa.text("UPDATE import_run SET finished_at = now(), report = CAST(:r AS jsonb) WHERE id = :id"),
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
            "properties": [json.dumps(r.properties, ensure_ascii=False, default=str) for r in rejects],
            "geom_wkt": [r.geom_wkt for r in rejects],
        }
    )
    copy_rows(conn, "import_reject", list(frame.columns), frame)


GEOM = "geom geometry(Geometry, 4490), geom_hash text"
STAGING = {
    "communities": ("stage_community", f"code text, {GEOM}", ["code", "geom", "geom_hash"]),
    "compounds": (
        "stage_compound",
        f"ext_id text, community_code text, name text, {GEOM}",
        ["ext_id", "community_code", "name", "geom", "geom_hash"],
    ),
    "buildings": (
        "stage_building",
        "ext_id text, community_code text, compound_ext text, number text, name text, floors int, "
        f"units int, dwellings int, use text, {GEOM}",
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
            "geom_hash",
        ],
    ),
}


#: the spatial index of a table receiving more new rows than this share of its size is rebuilt once
#: after the load instead of being updated row by row (several times faster for bulk loads)
REBUILD_INDEX_SHARE = 0.5
SPATIAL_INDEX = {
    "buildings": ("building", "building_geom_idx"),
    "compounds": ("compound", "compound_geom_idx"),
}


class LayerLoader:
    """Load one layer, possibly in chunks, in a single transaction: COPY to staging, merge, report.

    Use as a context manager; call :meth:`add` with each validated chunk. On leaving without error,
    rejects are stored, the run is recorded and the transaction commits.
    """

    def __init__(
        self,
        engine: Engine,
        kind: str,
        *,
        source: str,
        layer: str,
        read: int,
        notes: list[str] | None = None,
    ) -> None:
        self.engine, self.kind = engine, kind
        self.report = ImportReport(source=source, layer=layer, kind=kind, read=read, notes=list(notes or []))
        self.rejects: list[Reject] = []
        self._ctx = None
        self.conn: Connection | None = None
        self._rebuild: tuple[str, str] | None = None

    def __enter__(self) -> LayerLoader:
        self._ctx = self.engine.begin()
        self.conn = self._ctx.__enter__()
        self.report.run_id = _start_run(self.conn, self.report.source, self.report.layer, self.kind)
        table, ddl, _cols = STAGING[self.kind]
        self.conn.execute(sa.text(f"CREATE TEMP TABLE {table} ({ddl}) ON COMMIT DROP"))
        if self.kind in SPATIAL_INDEX:
            target, index = SPATIAL_INDEX[self.kind]
            rows = self.conn.execute(sa.text(f"SELECT count(*) FROM {target}")).scalar_one()
            if self.report.read > max(20_000, rows * REBUILD_INDEX_SHARE):
                # bulk load: one sorted index build beats 100,000s of incremental GiST inserts
                self.conn.execute(sa.text(f"DROP INDEX {index}"))
                self._rebuild = (target, index)
        return self

    def add(self, v: Validated) -> None:
        """Stage and merge one validated chunk."""
        assert self.conn is not None
        r = self.report
        table, _ddl, cols = STAGING[self.kind]
        frame = pd.DataFrame(v.clean.drop(columns="geometry")).rename(
            columns={"id": "ext_id", "compound_id": "compound_ext"}
        )
        frame["geom"], frame["geom_hash"] = wkb_columns(v.clean.geometry.values)
        self.conn.execute(sa.text(f"TRUNCATE {table}"))
        copy_rows(self.conn, table, cols, frame)
        if self.kind == "buildings":
            missing = self.conn.execute(
                sa.text(
                    "SELECT s.ext_id, s.compound_ext FROM stage_building s LEFT JOIN compound c "
                    "ON c.community_code = s.community_code AND c.ext_id = s.compound_ext "
                    "WHERE s.compound_ext IS NOT NULL AND c.id IS NULL ORDER BY s.ext_id"
                )
            ).all()
            r.warnings += [
                f"{bid}: compound {cid} is not loaded; building kept without compound" for bid, cid in missing
            ]
        inserted, updated = self.conn.execute(sa.text(sql(f"merge_{self.kind}"))).one()
        r.inserted += int(inserted)
        r.updated += int(updated)
        r.unchanged += len(v.clean) - int(inserted) - int(updated)
        r.repaired += len(v.repairs)
        r.warnings += [f"{fid}: {msg}" for fid, msg in v.warnings]
        r.warnings += [f"{fid}: {msg}" for fid, msg in v.repairs]
        self.rejects += v.rejects

    def __exit__(self, *exc: object) -> None:
        assert self._ctx is not None and self.conn is not None
        try:
            if exc[0] is None:
                if self._rebuild:
                    target, index = self._rebuild
                    self.conn.execute(sa.text(f"CREATE INDEX {index} ON {target} USING gist (geom)"))
                r = self.report
                self.rejects.sort(key=lambda x: x.index)
                r.rejected = len(self.rejects)
                by_reason: dict[str, int] = {}
                for x in self.rejects:
                    by_reason[x.reason] = by_reason.get(x.reason, 0) + 1
                r.rejected_by_reason = dict(sorted(by_reason.items()))
                r.rejects = [
                    {
                        "feature_id": x.feature_id,
                        "feature_no": x.index + 1,
                        "reason": x.reason,
                        "detail": x.detail,
                    }
                    for x in self.rejects
                ]
                _store_rejects(self.conn, r.run_id, self.rejects)
                _finish_run(self.conn, r)
                if r.inserted + r.updated:  # fresh statistics, so the planner picks index scans at once
                    target = {"communities": "admin_area", "compounds": "compound", "buildings": "building"}[self.kind]
                    self.conn.execute(sa.text(f"ANALYZE {target}"))
        finally:
            self._ctx.__exit__(*exc)


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
    n = read if read is not None else len(v.clean) + len(v.rejects)
    with LayerLoader(engine, v.kind, source=source, layer=layer, read=n, notes=notes) as loader:
        loader.add(v)
    return loader.report


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
    bad = ~frame["code"].str.fullmatch(r"\d{12}") | ~frame["level"].isin(LEVELS) | (frame["name"] == "")
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
                "CREATE TEMP TABLE stage_division (code text, name text, level text, parent_code text) ON COMMIT DROP"
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
