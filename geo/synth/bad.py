"""Deliberately faulty records for import and sync tests, each with the outcome expected.

:func:`bad_persons` makes rows in the persons.csv layout with exactly one fault each (or a form
that is valid after normalisation); :func:`bad_buildings` makes building features with broken
geometry or attributes next to a few good ones. Reason codes:

persons: ``id_missing``, ``id_format``, ``id_checksum``, ``id_birth_date``, ``id_birth_mismatch``,
``id_sex_mismatch``, ``name_missing``, ``dwelling_unknown``, ``duplicate_conflict``, and the
accepted ones ``ok_legacy_15`` (valid after upgrading to 18 digits), ``ok_normalised`` (valid
after trimming blanks, full-width digits or a lower-case x), ``ok_duplicate_same`` (an exact
repeat of a row already in persons.csv: nothing changes) and ``ok_rare_char`` (a name with a
character outside GBK: keep UTF-8).

buildings: ``inserted``, ``repaired`` (invalid geometry made valid without changing its extent),
``rejected:<reason>`` with reason ``missing_geometry``, ``outside_communities`` (no community code
and outside every community), ``outside_community`` (outside the community its code names),
``duplicate_id`` (both features of an id used twice are rejected: neither can be trusted),
``missing_floors``, ``invalid_floors``, ``invalid_community_code``.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.ids import check_char, upgrade_15
from geo.synth.idnumbers import RegionPools, first17, make_ids
from geo.synth.layout import CRS_PROJECTED, Rect
from geo.synth.names import han_given, surnames
from geo.synth.people import COLUMNS, REF_DATE

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
#: names with characters outside GBK (they exist in GB 18030 / Unicode extensions)
RARE_NAMES = ("李䶮", "陈𬭚", "张㛃")

#: (reason, count) of the faulty persons rows
PERSON_FAULTS: tuple[tuple[str, int], ...] = (
    ("id_missing", 2),
    ("id_format", 5),
    ("id_checksum", 5),
    ("id_birth_date", 5),
    ("id_birth_mismatch", 4),
    ("id_sex_mismatch", 3),
    ("name_missing", 3),
    ("dwelling_unknown", 4),
    ("duplicate_conflict", 4),
    ("ok_legacy_15", 3),
    ("ok_normalised", 5),
    ("ok_duplicate_same", 2),
    ("ok_rare_char", 3),
)


def _base_rows(n: int, dwellings: pd.DataFrame, taken: set[int], rng: np.random.Generator) -> pd.DataFrame:
    """``n`` valid new residents (relatives staying, 寄住) of occupied dwellings."""
    occ = dwellings[dwellings["use"].isin(("自住", "出租"))]
    pick = occ.iloc[np.sort(rng.choice(len(occ), size=n, replace=False))]
    male = rng.random(n) < 0.5
    age = rng.uniform(18, 75, n)
    birth = REF_DATE - np.round(age * 365.2425).astype("timedelta64[D]")
    year = birth.astype("datetime64[Y]").astype(int) + 1970
    eth = np.full(n, "汉族", dtype=object)
    names = surnames(rng, eth) + han_given(rng, year, male)
    region = RegionPools().draw(rng, "local", n)
    ids = make_ids(region, birth, male, rng, taken)
    return pd.DataFrame(
        {
            "id_number": ids,
            "name": names,
            "sex": np.where(male, "男", "女"),
            "ethnicity": eth,
            "birth_date": np.datetime_as_string(birth, unit="D"),
            "phone": [f"13{rng.integers(0, 10)}{rng.integers(0, 10**8):08d}" for _ in range(n)],
            "residence_type": "寄住",
            "relation": "其他",
            "care_tags": "",
            "dwelling_id": pick["dwelling_id"].to_numpy(),
            "address": pick["address"].to_numpy(),
        }
    )[list(COLUMNS)]


def _with_check(digits17: str) -> str:
    return digits17 + check_char(digits17)


def bad_persons(
    persons: pd.DataFrame, dwellings: pd.DataFrame, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Faulty persons rows and the expected outcome of each (line_no counted from 1 after the header)."""
    taken = {first17(x) for x in persons["id_number"]}
    total = sum(k for _, k in PERSON_FAULTS)
    base = _base_rows(total, dwellings, taken, rng)
    linked = persons[persons["dwelling_id"] != ""]
    known_dwellings = set(dwellings["dwelling_id"])
    n_dup = sum(k for reason, k in PERSON_FAULTS if reason in ("duplicate_conflict", "ok_duplicate_same"))
    originals = iter(np.sort(rng.choice(len(linked), size=n_dup, replace=False)).tolist())
    rows, expected = [], []
    i = 0
    impossible_dates = ["19900231", "20010229", "19851301", "19770000", "20310415"]
    for reason, count in PERSON_FAULTS:
        for j in range(count):
            r = base.iloc[i].to_dict()
            i += 1
            idn = r["id_number"]
            note = ""
            if reason == "id_missing":
                r["id_number"] = "" if j == 0 else "   "
                note = "empty" if j == 0 else "blanks only"
            elif reason == "id_format":
                forms = [idn[:17], idn + "7", idn[:10] + "O" + idn[11:], idn[:17] + "Y", idn[:16]]
                r["id_number"] = forms[j % len(forms)]
                note = (
                    "17 digits",
                    "19 digits",
                    "letter O inside",
                    "check character Y",
                    "16 digits",
                )[j % 5]
            elif reason == "id_checksum":
                wrong = [c for c in "0123456789X" if c != idn[17]]
                r["id_number"] = idn[:17] + wrong[int(rng.integers(0, len(wrong)))]
                note = f"check character should be {idn[17]}"
            elif reason == "id_birth_date":
                d = impossible_dates[j % len(impossible_dates)]
                r["id_number"] = _with_check(idn[:6] + d + idn[14:17])
                r["birth_date"] = f"{d[:4]}-{d[4:6]}-{d[6:]}"
                note = f"birth date {d} does not exist" if d != "20310415" else "birth date in the future"
            elif reason == "id_birth_mismatch":
                b = dt.date.fromisoformat(r["birth_date"]) + dt.timedelta(days=int(rng.integers(30, 3000)))
                r["birth_date"] = b.isoformat()
                note = "birth_date differs from the date in the ID number"
            elif reason == "id_sex_mismatch":
                r["sex"] = "女" if r["sex"] == "男" else "男"
                note = "sex differs from the ID sequence parity"
            elif reason == "name_missing":
                r["name"] = ("", "  ", "")[j % 3]
                note = "name empty"
            elif reason == "dwelling_unknown":
                while True:
                    d = f"D9{int(rng.integers(0, 10**6)):06d}"
                    if d not in known_dwellings:
                        break
                r["dwelling_id"] = d
                note = "no such dwelling"
            elif reason == "duplicate_conflict":
                other = linked.iloc[next(originals)]
                if r["name"] == other["name"]:
                    r["name"] = r["name"][0] + ("建华" if r["name"][1:] != "建华" else "秀兰")
                if r["dwelling_id"] == other["dwelling_id"]:
                    raise RuntimeError("the conflicting duplicate must live elsewhere")  # pragma: no cover
                r["id_number"] = other["id_number"]
                r["sex"], r["birth_date"] = other["sex"], other["birth_date"]
                note = f"ID of {other['name']} ({other['dwelling_id']}) with another name and dwelling"
            elif reason == "ok_legacy_15":
                while True:
                    b = dt.date(
                        int(rng.integers(1950, 1985)),
                        int(rng.integers(1, 13)),
                        int(rng.integers(1, 29)),
                    )
                    seq = int(rng.integers(1, 500)) * 2 - (1 if r["sex"] == "男" else 0)
                    old = f"{idn[:6]}{b:%y%m%d}{seq:03d}"
                    if first17(upgrade_15(old)) not in taken:
                        taken.add(first17(upgrade_15(old)))
                        break
                r["id_number"], r["birth_date"] = old, b.isoformat()
                note = f"legacy 15-digit number, 18-digit form {upgrade_15(old)}"
            elif reason == "ok_normalised":
                if j < 2:  # a number whose check character is X, written in lower case
                    male = r["sex"] == "男"
                    for seq in range(1 if male else 2, 1000, 2):
                        full = _with_check(f"{idn[:14]}{seq:03d}")
                        if full.endswith("X") and first17(full) not in taken:
                            break
                    else:  # pragma: no cover
                        raise RuntimeError("no sequence gives an X check character")
                    taken.add(first17(full))
                    r["id_number"] = full.lower()
                    note = "lower-case x check character"
                elif j < 4:
                    r["id_number"] = idn.translate(FULLWIDTH)
                    note = "full-width digits"
                else:
                    r["id_number"] = f" {idn[:6]} {idn[6:14]} {idn[14:]} "
                    note = "blanks inside and around"
            elif reason == "ok_duplicate_same":
                r = linked.iloc[next(originals)].to_dict()
                note = "exact repeat of a persons.csv row"
            elif reason == "ok_rare_char":
                r["name"] = RARE_NAMES[j % len(RARE_NAMES)]
                note = "name with a character outside GBK"
            rows.append(r)
            expected.append((reason, note))
    order = rng.permutation(len(rows))
    bad = pd.DataFrame([rows[k] for k in order])[list(COLUMNS)]
    exp = pd.DataFrame(
        {
            "line_no": np.arange(1, len(rows) + 1),
            "expected_reason": [expected[k][0] for k in order],
            "note": [expected[k][1] for k in order],
        }
    )
    return bad, exp


def bad_buildings(
    vacant: Rect, communities: gpd.GeoDataFrame, rng: np.random.Generator
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Faulty and valid building features placed on a vacant parcel (EPSG:4546), and expected outcomes.

    ``vacant`` must lie inside one community (its code is used for the features).
    """
    x0, y0, x1, y1 = vacant
    home = communities[communities.contains(shapely.box(*vacant))]
    if len(home) != 1:
        raise ValueError("the vacant parcel must lie inside exactly one community")
    code = str(home["code"].iloc[0])
    other_code = str(communities.loc[communities["code"] != code, "code"].iloc[0])
    cols, rows_n = 4, 4
    cw, ch = (x1 - x0 - 20) / cols, (y1 - y0 - 20) / rows_n

    def slot(k: int, w: float = 20.0, h: float = 12.0) -> tuple[float, float, float, float]:
        cx = x0 + 10 + (k % cols + 0.5) * cw
        cy = y1 - 10 - (k // cols + 0.5) * ch
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2

    east = communities.total_bounds[2] + 1500.0
    feats = []

    def add(fid, geom, expected, note, **attrs):
        base = {
            "编号": fid,
            "楼号": "1号楼",
            "名称": "",
            "层数": 6,
            "单元数": 2,
            "户数": 24,
            "小区编号": "",
            "社区代码": code,
            "用途": "住宅",
        }
        base.update(attrs)
        feats.append((base, geom, expected, note))

    a, b, c, d = slot(0)
    add(
        "B900001",
        shapely.Polygon([(a, b), (c, d), (c, b), (a, d), (a, b)]),
        "repaired",
        "self-intersecting bow-tie",
    )
    a, b, c, d = slot(1)
    m = (b + d) / 2
    add(
        "B900002",
        shapely.Polygon([(a, b), (c, b), (c, m), (c - 6, m), (c, m), (c, d), (a, d), (a, b)]),
        "repaired",
        "zero-area spike into the footprint",
    )
    a, b, c, d = slot(2)
    ring = [(a, b), (c, b), (c, d), (a, d)]
    add("B900003", shapely.Polygon(ring + ring + [ring[0]]), "repaired", "ring traversed twice")
    add(
        "B900004",
        shapely.box(east, y0, east + 20, y0 + 12),
        "rejected:outside_communities",
        "1.5 km east of the street, no community code",
        社区代码="",
    )
    add(
        "B900005",
        shapely.box(*slot(3)),
        "rejected:outside_community",
        "community code names another community",
        社区代码=other_code,
    )
    add(
        "B900006",
        shapely.box(*slot(4)),
        "rejected:duplicate_id",
        "编号 used twice in this file (first)",
    )
    add(
        "B900006",
        shapely.box(*slot(5)),
        "rejected:duplicate_id",
        "编号 used twice in this file (second)",
        楼号="2号楼",
    )
    add("B900007", shapely.box(*slot(6)), "rejected:missing_floors", "层数 empty (NULL)", 层数=None)
    add("B900008", shapely.box(*slot(7)), "rejected:invalid_floors", "层数 = 0", 层数=0)
    add(
        "B900009",
        shapely.box(*slot(8)),
        "rejected:invalid_community_code",
        "社区代码 is a name, not a code",
        社区代码="迎宾南路社区",
    )
    add("B900010", None, "rejected:missing_geometry", "no geometry (null shape)")
    add(
        "B900011",
        shapely.box(*slot(9, 45, 12)),
        "inserted",
        "valid walk-up",
        楼号="1号楼",
        层数=6,
        单元数=3,
        户数=36,
    )
    add(
        "B900012",
        shapely.box(*slot(10, 30, 14)),
        "inserted",
        "valid shop",
        楼号="迎宾便利店",
        名称="迎宾便利店",
        层数=1,
        单元数=1,
        户数=0,
        用途="商业",
    )
    add(
        "B900013",
        shapely.box(*slot(11, 8, 10)),
        "inserted",
        "valid bungalow",
        楼号="平房区901号",
        层数=1,
        单元数=1,
        户数=1,
        用途="平房",
    )
    add(
        "B900014",
        shapely.box(*slot(12, 40, 16)),
        "inserted",
        "valid office",
        楼号="办公楼",
        名称="迎宾物业服务中心",
        层数=4,
        单元数=1,
        户数=0,
        用途="办公",
    )
    attrs = pd.DataFrame([f[0] for f in feats])
    attrs["层数"] = attrs["层数"].astype("Int64")
    for col in ("单元数", "户数"):
        attrs[col] = attrs[col].astype("int64")
    frame = gpd.GeoDataFrame(attrs, geometry=[f[1] for f in feats], crs=CRS_PROJECTED)
    expected = pd.DataFrame(
        {
            "row": np.arange(len(feats)),
            "编号": [f[0]["编号"] for f in feats],
            "expected": [f[2] for f in feats],
            "note": [f[3] for f in feats],
        }
    )
    return frame, expected
