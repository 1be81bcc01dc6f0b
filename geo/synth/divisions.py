"""The Inner Mongolia division codes (统计用区划代码) the generator borrows from.

The file has columns ``code,name,level,parent_code`` (12-digit codes, CRLF line endings). It is
looked up in ``$GRIDMAP_DIVISIONS`` or next to the sample data (``sample_shapefiles/``, then the
shared data folder).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from geo.errors import NotFound

_REPO = Path(__file__).resolve().parents[2]
CANDIDATES: tuple[Path, ...] = (
    _REPO / "sample_shapefiles" / "nmg_divisions.csv",
    _REPO / "data" / "nmg_divisions.csv",
    Path("/work/shared/data/nmg_divisions.csv"),
)

#: county-level codes retired by re-organisations, still found in older ID numbers
#: (呼和浩特市郊区 → 赛罕区 2000; 盟 → 市 conversions 1999-2003: 通辽市, 海拉尔市, 集宁市, 东胜市, 临河市)
RETIRED_COUNTY_CODES: dict[str, str] = {
    "150111": "呼和浩特市郊区",
    "152301": "通辽市(哲里木盟)",
    "152101": "海拉尔市(呼伦贝尔盟)",
    "152601": "集宁市(乌兰察布盟)",
    "152701": "东胜市(伊克昭盟)",
    "152801": "临河市(巴彦淖尔盟)",
}


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    level: str
    parent_code: str


def divisions_path() -> Path:
    """The division-code file to use; raises :class:`NotFound` when there is none."""
    env = os.environ.get("GRIDMAP_DIVISIONS")
    for p in ((Path(env),) if env else ()) + CANDIDATES:
        if p.is_file():
            return p
    raise NotFound(
        "nmg_divisions.csv not found; set GRIDMAP_DIVISIONS to the division-code file "
        f"(looked in {', '.join(str(c) for c in CANDIDATES)})"
    )


@lru_cache(maxsize=4)
def load(path: str | None = None) -> tuple[Division, ...]:
    """All rows of the division file, in file order."""
    p = Path(path) if path else divisions_path()
    with p.open(encoding="utf-8", newline="") as fh:
        return tuple(
            Division(r["code"].strip(), r["name"].strip(), r["level"].strip(), r["parent_code"].strip())
            for r in csv.DictReader(fh)
        )


def by_code(path: str | None = None) -> dict[str, Division]:
    return {d.code: d for d in load(path)}


def children(parent: str, path: str | None = None) -> list[Division]:
    """Direct children of a 12-digit code, sorted by code."""
    return sorted((d for d in load(path) if d.parent_code == parent), key=lambda d: d.code)


def county_codes(path: str | None = None) -> dict[str, str]:
    """6-digit GB/T 2260 county codes → name, without NBS-only units (开发区, 管理区: digits 5-6 ≥ 70)."""
    out = {}
    for d in load(path):
        if d.level == "county" and int(d.code[4:6]) < 70:
            out[d.code[:6]] = d.name
    return out
