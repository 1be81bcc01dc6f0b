"""Field-name mapping from the attribute tables planners receive to GridMap's columns.

Files arrive with Chinese field names (≤ 10 bytes in a shapefile, so at most five GBK characters),
pinyin initials or English names. The default mapping below lists, for every GridMap column, the
source names accepted, first match wins (case-insensitive). A JSON or TOML override file given with
``gridmap import --fields FILE`` replaces the list of any column it names, e.g.::

    {"buildings": {"floors": ["LC", "楼层"]}}
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from geo.errors import InvalidInput

#: kind -> GridMap column -> accepted source names (first match wins)
DEFAULT_FIELDS: dict[str, dict[str, list[str]]] = {
    "communities": {
        "code": ["代码", "社区代码", "区划代码", "code", "dm", "sqdm", "community_code"],
        "name": ["名称", "社区名称", "name", "mc", "sqmc"],
    },
    "compounds": {
        "id": ["编号", "小区编号", "id", "bh", "xqbh", "compound_id"],
        "name": ["名称", "小区名称", "name", "mc", "xqmc"],
        "community_code": ["社区代码", "代码", "community_code", "sqdm"],
    },
    "buildings": {
        "id": ["编号", "建筑编号", "楼栋编号", "id", "bh", "jzbh", "building_id"],
        "number": ["楼号", "楼栋号", "门牌号", "number", "lh", "ldh"],
        "name": ["名称", "建筑名称", "name", "mc"],
        "floors": ["层数", "楼层数", "floors", "cs", "lcs"],
        "units": ["单元数", "units", "dys"],
        "dwellings": ["户数", "套数", "dwellings", "households", "hs", "ts"],
        "compound_id": ["小区编号", "compound_id", "xqbh"],
        "community_code": ["社区代码", "community_code", "sqdm"],
        "use": ["用途", "建筑用途", "use", "yt"],
    },
}

#: columns without which a feature is rejected
REQUIRED: dict[str, tuple[str, ...]] = {
    "communities": ("code",),
    "compounds": ("id",),
    "buildings": ("id",),
}

#: building use as written in source files -> GridMap's building use
BUILDING_USES: dict[str, str] = {
    "住宅": "residential",
    "居住": "residential",
    "residential": "residential",
    "平房": "bungalow",
    "bungalow": "bungalow",
    "商业": "commercial",
    "商铺": "commercial",
    "commercial": "commercial",
    "学校": "school",
    "school": "school",
    "办公": "office",
    "office": "office",
    "医院": "hospital",
    "hospital": "hospital",
    "其他": "other",
    "other": "other",
}


def load_overrides(path: str | Path | None) -> dict[str, dict[str, list[str]]]:
    """Return the default mapping with an override file (JSON or TOML) applied."""
    mapping = {kind: {col: list(names) for col, names in cols.items()} for kind, cols in DEFAULT_FIELDS.items()}
    if path is None:
        return mapping
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read field mapping {p}: {exc}") from None
    for kind, cols in data.items():
        if kind not in mapping:
            raise InvalidInput(f"field mapping {p}: unknown layer kind {kind!r} (use one of {sorted(mapping)})")
        for col, names in cols.items():
            if col not in mapping[kind]:
                raise InvalidInput(f"field mapping {p}: {kind} has no column {col!r}")
            mapping[kind][col] = [names] if isinstance(names, str) else list(names)
    return mapping


def resolve(kind: str, columns: Iterable[str], mapping: Mapping[str, Mapping[str, list[str]]]) -> dict[str, str]:
    """Return GridMap column -> source column for the columns present in a layer."""
    present = {c.lower(): c for c in columns}
    out: dict[str, str] = {}
    for col, names in mapping[kind].items():
        for name in names:
            if name.lower() in present:
                out[col] = present[name.lower()]
                break
    return out
