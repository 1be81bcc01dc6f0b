"""Validation of person and dwelling records (shared by ``import-people`` and the public-security sync).

Pure: rows in, clean rows and rejects (with a stable reason code) out. ID numbers are normalised,
legacy 15-digit numbers upgraded, and the birth date and sex in the record checked against the ID.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from geo import ids

RESIDENCE_TYPES = ("常住", "流动", "寄住")
DWELLING_USES = {
    "自住": "owner",
    "出租": "rented",
    "空置": "vacant",
    "商用": "commercial",
    "owner": "owner",
    "rented": "rented",
    "vacant": "vacant",
    "commercial": "commercial",
}
PERSON_COLUMNS = (
    "id_number",
    "name",
    "sex",
    "ethnicity",
    "birth_date",
    "phone",
    "residence_type",
    "relation",
    "care_tags",
    "dwelling_id",
    "address",
)


@dataclass
class RowReject:
    """A record that was not loaded: its 1-based data line, masked id, reason code and detail."""

    line_no: int
    record_id: str | None
    reason: str
    detail: str


def _clean(v: object) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA:
        return ""
    return str(v).strip()


def validate_persons(frame: pd.DataFrame, *, today: dt.date | None = None) -> tuple[pd.DataFrame, list[RowReject]]:
    """Validate person rows; returns clean rows (``id_number`` normalised, ``birth_date`` a date,
    ``care_tags`` a list, ``line_no``) and rejects. Duplicated ID numbers within the input are
    rejected together when their data differ, and kept once when they are identical."""
    rejects: list[RowReject] = []
    rows = []
    missing = [c for c in ("id_number", "name") if c not in frame.columns]
    if missing:
        from geo.errors import InvalidInput

        raise InvalidInput(f"person records need columns {missing}; columns are {list(frame.columns)}")
    records = frame.to_dict("records")
    for n, rec in enumerate(records, start=1):
        raw_id = _clean(rec.get("id_number"))
        try:
            parsed = ids.parse(raw_id, today=today)
        except ids.InvalidIdNumber as exc:
            rejects.append(RowReject(n, ids.mask(raw_id) if raw_id else None, exc.code, str(exc)))
            continue
        masked = ids.mask(parsed.value)
        name = _clean(rec.get("name"))
        if not name:
            rejects.append(RowReject(n, masked, "name_missing", "the name is empty"))
            continue
        birth_txt = _clean(rec.get("birth_date"))
        if birth_txt:
            try:
                birth = dt.date.fromisoformat(birth_txt.replace("/", "-"))
            except ValueError:
                rejects.append(RowReject(n, masked, "birth_date_invalid", f"birth date {birth_txt!r} is not a date"))
                continue
            if birth != parsed.birth_date:
                rejects.append(
                    RowReject(
                        n,
                        masked,
                        "id_birth_mismatch",
                        f"birth date {birth} differs from the ID's {parsed.birth_date}",
                    )
                )
                continue
        sex = _clean(rec.get("sex"))
        if sex and sex != parsed.sex:
            rejects.append(RowReject(n, masked, "id_sex_mismatch", f"sex {sex} differs from the ID's {parsed.sex}"))
            continue
        rtype = _clean(rec.get("residence_type")) or "常住"
        if rtype not in RESIDENCE_TYPES:
            rejects.append(
                RowReject(
                    n,
                    masked,
                    "residence_type_invalid",
                    f"residence type {rtype!r} is not one of {'/'.join(RESIDENCE_TYPES)}",
                )
            )
            continue
        tags = [t for t in _clean(rec.get("care_tags")).replace("；", ";").replace(",", ";").split(";") if t.strip()]
        rows.append(
            {
                "line_no": n,
                "id_number": parsed.value,
                "id_masked": masked,
                "name": name,
                "sex": parsed.sex,
                "ethnicity": _clean(rec.get("ethnicity")) or None,
                "birth_date": parsed.birth_date,
                "phone": _clean(rec.get("phone")) or None,
                "residence_type": rtype,
                "relation": _clean(rec.get("relation")) or None,
                "care_tags": sorted({t.strip() for t in tags}),
                "dwelling_ext": _clean(rec.get("dwelling_id")) or None,
                "address": _clean(rec.get("address")) or None,
                "upgraded_from_15": parsed.upgraded_from_15,
            }
        )
    clean = pd.DataFrame(
        rows,
        columns=[
            "line_no",
            "id_number",
            "id_masked",
            "name",
            "sex",
            "ethnicity",
            "birth_date",
            "phone",
            "residence_type",
            "relation",
            "care_tags",
            "dwelling_ext",
            "address",
            "upgraded_from_15",
        ],
    )
    if clean.empty:
        return clean, rejects
    content = clean.drop(columns=["line_no", "upgraded_from_15"]).apply(lambda c: c.map(str)).agg("|".join, axis=1)
    dup = clean["id_number"].duplicated(keep=False)
    if dup.any():
        conflicting = set()
        for idn, group in content[dup].groupby(clean.loc[dup, "id_number"]):
            if group.nunique() > 1:
                conflicting.add(idn)
        for _, row in clean[clean["id_number"].isin(conflicting)].iterrows():
            rejects.append(
                RowReject(
                    int(row.line_no),
                    row.id_masked,
                    "duplicate_conflict",
                    "the same ID number appears more than once with different data",
                )
            )
        clean = clean[~clean["id_number"].isin(conflicting)]
        clean = clean[~clean["id_number"].duplicated(keep="first")]
    rejects.sort(key=lambda r: r.line_no)
    return clean.reset_index(drop=True), rejects


def validate_dwellings(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[RowReject]]:
    """Validate dwelling rows (dwelling_id, building_id, unit, floor, room, address, use)."""
    rejects: list[RowReject] = []
    rows = []
    for n, rec in enumerate(frame.to_dict("records"), start=1):
        did, bid, room = (
            _clean(rec.get("dwelling_id")),
            _clean(rec.get("building_id")),
            _clean(rec.get("room")),
        )
        if not did:
            rejects.append(RowReject(n, None, "missing_id", "dwelling_id is empty"))
            continue
        if not bid:
            rejects.append(RowReject(n, did, "missing_building", "building_id is empty"))
            continue
        if not room:
            rejects.append(RowReject(n, did, "missing_room", "room is empty"))
            continue
        try:
            unit = int(float(_clean(rec.get("unit")))) if _clean(rec.get("unit")) else None
            floor = int(float(_clean(rec.get("floor")))) if _clean(rec.get("floor")) else None
        except ValueError:
            rejects.append(RowReject(n, did, "invalid_number", "unit and floor must be whole numbers"))
            continue
        if (unit is not None and unit < 1) or floor == 0:
            rejects.append(RowReject(n, did, "invalid_number", f"unit {unit} / floor {floor} out of range"))
            continue
        use = DWELLING_USES.get(_clean(rec.get("use")) or "自住")
        if use is None:
            rejects.append(RowReject(n, did, "invalid_use", f"use {rec.get('use')!r} is not 自住/出租/空置/商用"))
            continue
        rows.append(
            {
                "line_no": n,
                "ext_id": did,
                "building_ext": bid,
                "unit": unit,
                "floor": floor,
                "room": room,
                "address": _clean(rec.get("address")) or None,
                "use": use,
            }
        )
    clean = pd.DataFrame(
        rows,
        columns=["line_no", "ext_id", "building_ext", "unit", "floor", "room", "address", "use"],
    )
    dup = clean["ext_id"].duplicated(keep=False)
    for _, row in clean[dup].iterrows():
        rejects.append(RowReject(int(row.line_no), row.ext_id, "duplicate_id", "dwelling_id appears more than once"))
    clean = clean[~dup]
    rejects.sort(key=lambda r: r.line_no)
    return clean.reset_index(drop=True), rejects
