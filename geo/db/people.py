"""``gridmap import-people``: dwellings and persons from CSV, with ID numbers hashed and encrypted."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo.db.copy import copy_rows, sql
from geo.db.load import ImportReport, _finish_run, _start_run
from geo.errors import InvalidInput
from geo.people import RowReject, validate_dwellings, validate_persons
from geo.privacy import PersonKeys, get_person_keys


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InvalidInput(f"{path}: no such file")
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidInput(f"{path}: neither UTF-8 nor GBK text")
    import io

    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def _store(conn, run_id: int, rejects: list[RowReject]) -> None:  # noqa: ANN001
    if not rejects:
        return
    frame = pd.DataFrame(
        {
            "run_id": run_id,
            "feature_id": [r.record_id for r in rejects],
            "line_no": [r.line_no for r in rejects],
            "reason": [r.reason for r in rejects],
            "detail": [r.detail for r in rejects],
        }
    )
    copy_rows(conn, "import_reject", list(frame.columns), frame)


def _report(
    path: Path,
    kind: str,
    read: int,
    rejects: list[RowReject],
    report_dir: Path | None,
    report: ImportReport,
) -> ImportReport:
    report.rejected = len(rejects)
    for r in rejects:
        report.rejected_by_reason[r.reason] = report.rejected_by_reason.get(r.reason, 0) + 1
    report.rejected_by_reason = dict(sorted(report.rejected_by_reason.items()))
    report.rejects = [
        {"line_no": r.line_no, "record": r.record_id, "reason": r.reason, "detail": r.detail} for r in rejects
    ]
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        out = report_dir / f"import-{dt.datetime.now():%Y%m%d-%H%M%S}-{report.run_id}-{kind}.json"
        out.write_text(report.to_json(), encoding="utf-8")
        report.notes.append(f"report written to {out}")
    return report


def import_dwellings(engine: Engine, path: str | Path, *, report_dir: Path | None = None) -> ImportReport:
    """Load dwellings; rows naming an unknown building or a taken place are rejected, not lost."""
    p = Path(path)
    frame = _read_csv(p)
    clean, rejects = validate_dwellings(frame)
    report = ImportReport(source=str(p), layer=p.stem, kind="dwellings", read=len(frame))
    with engine.begin() as conn:
        report.run_id = _start_run(conn, str(p), p.stem, "dwellings")
        conn.execute(
            sa.text(
                "CREATE TEMP TABLE stage_dwelling (line_no int, ext_id text, building_ext text, "
                "unit int, floor int, room text, address text, use text) ON COMMIT DROP"
            )
        )
        copy_rows(conn, "stage_dwelling", list(clean.columns), clean)
        bad = conn.execute(sa.text(sql("reject_dwellings"))).all()
        if bad:
            rejects += [RowReject(int(r.line_no), r.ext_id, r.reason, r.detail) for r in bad]
            conn.execute(
                sa.text("DELETE FROM stage_dwelling WHERE line_no = ANY(:l)"),
                {"l": [int(r.line_no) for r in bad]},
            )
        inserted, updated = conn.execute(sa.text(sql("merge_dwellings"))).one()
        report.inserted, report.updated = int(inserted), int(updated)
        report.unchanged = len(clean) - len(bad) - report.inserted - report.updated
        rejects.sort(key=lambda r: r.line_no)
        _report(p, "dwellings", len(frame), rejects, report_dir, report)
        _store(conn, report.run_id, rejects)
        _finish_run(conn, report)
        conn.execute(sa.text("ANALYZE dwelling"))
    return report


def person_stage_frame(clean: pd.DataFrame, keys: PersonKeys) -> pd.DataFrame:
    """Turn validated person rows into staging rows: keyed hash and cipher instead of the ID number."""
    out = clean.drop(columns=["id_number", "upgraded_from_15"]).copy()
    out.insert(1, "id_hash", ["\\x" + keys.id_hash(v).hex() for v in clean["id_number"]])
    out.insert(2, "id_cipher", ["\\x" + keys.encrypt(v).hex() for v in clean["id_number"]])
    out["care_tags"] = [
        "{" + ",".join(json.dumps(t, ensure_ascii=False) for t in tags) + "}" for tags in clean["care_tags"]
    ]
    return out


def import_persons(
    engine: Engine,
    path: str | Path,
    *,
    keys: PersonKeys | None = None,
    report_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _m: None,
    today: dt.date | None = None,
) -> ImportReport:
    """Load persons; invalid IDs, unknown dwellings and conflicting duplicates are rejected with a reason."""
    p = Path(path)
    keys = keys or get_person_keys()
    frame = _read_csv(p)
    progress(f"validating {len(frame):,} person records")
    clean, rejects = validate_persons(frame, today=today)
    stage = person_stage_frame(clean, keys)
    report = ImportReport(source=str(p), layer=p.stem, kind="persons", read=len(frame))
    with engine.begin() as conn:
        report.run_id = _start_run(conn, str(p), p.stem, "persons")
        conn.execute(
            sa.text(
                "CREATE TEMP TABLE stage_person (line_no int, id_hash bytea, id_cipher bytea, id_masked text, name text, "
                "sex text, ethnicity text, birth_date date, phone text, residence_type text, relation text, "
                "care_tags text[], dwelling_ext text, address text) ON COMMIT DROP"
            )
        )
        progress(f"loading {len(stage):,} persons")
        copy_rows(conn, "stage_person", list(stage.columns), stage)
        unknown = conn.execute(sa.text(sql("reject_persons"))).all()
        rejects += [RowReject(int(r.line_no), r.id_masked, r.reason, r.detail) for r in unknown]
        if unknown:
            conn.execute(
                sa.text("DELETE FROM stage_person WHERE line_no = ANY(:l)"),
                {"l": [int(r.line_no) for r in unknown]},
            )
        inserted, updated = conn.execute(sa.text(sql("merge_persons"))).one()
        report.inserted, report.updated = int(inserted), int(updated)
        report.unchanged = len(stage) - len(unknown) - report.inserted - report.updated
        upgraded = int(clean["upgraded_from_15"].sum()) if not clean.empty else 0
        if upgraded:
            report.notes.append(f"{upgraded} legacy 15-digit ID number(s) upgraded to 18 digits")
        rejects.sort(key=lambda r: r.line_no)
        _report(p, "persons", len(frame), rejects, report_dir, report)
        _store(conn, report.run_id, rejects)
        _finish_run(conn, report)
        conn.execute(sa.text("ANALYZE person"))
    return report
