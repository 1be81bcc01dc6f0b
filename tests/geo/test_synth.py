"""The synthetic-city generator and the committed sample street (pure: no database)."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import CRS

from geo import ids
from geo.ingest.fields import BUILDING_USES, DEFAULT_FIELDS
from geo.synth import divisions
from geo.synth.address import chinese_numeral
from geo.synth.city import generate_city
from geo.synth.names import HAN_SURNAMES, is_mongolian_style
from geo.synth.street import (
    COMMUNITY_NAMES,
    DEFAULT_SEED,
    STREET_CODE,
    TUANJIE,
    generate_street_layout,
)

SAMPLE = Path(__file__).resolve().parents[2] / "sample_shapefiles"
SHAPEFILES = ("communities", "compounds", "buildings", "buildings_bad")
GENERATED = [f"{s}{ext}" for s in SHAPEFILES for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg")] + [
    "dwellings.csv",
    "persons.csv",
    "persons_bad.csv",
    "persons_bad_expected.csv",
    "buildings_bad_expected.csv",
    "README.md",
]
BUILDING_FIELDS = ["编号", "楼号", "名称", "层数", "单元数", "户数", "小区编号", "社区代码", "用途"]
TOWER_OVER_500 = 33 * 4 * 4


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(SAMPLE / name, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def communities():
    return pyogrio.read_dataframe(SAMPLE / "communities.shp")


@pytest.fixture(scope="module")
def compounds():
    return pyogrio.read_dataframe(SAMPLE / "compounds.shp")


@pytest.fixture(scope="module")
def buildings():
    return pyogrio.read_dataframe(SAMPLE / "buildings.shp").fillna({"小区编号": "", "名称": ""})


@pytest.fixture(scope="module")
def dwellings() -> pd.DataFrame:
    d = _csv("dwellings.csv")
    for c in ("unit", "floor"):
        d[c] = d[c].astype(int)
    return d


@pytest.fixture(scope="module")
def persons() -> pd.DataFrame:
    return _csv("persons.csv")


@pytest.fixture(scope="module")
def linked(persons, dwellings, buildings) -> pd.DataFrame:
    """Linked persons with their dwelling, building and age in years."""
    p = persons[persons["dwelling_id"] != ""].merge(
        dwellings[["dwelling_id", "building_id", "use"]].rename(columns={"use": "dwelling_use"}),
        on="dwelling_id",
        how="left",
        validate="many_to_one",
    )
    p["age"] = (pd.Timestamp("2024-06-30") - pd.to_datetime(p["birth_date"])).dt.days / 365.2425
    return p


# --- determinism -------------------------------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_regenerating_the_sample_gives_byte_identical_files(tmp_path) -> None:
    spec = importlib.util.spec_from_file_location("sample_generate", SAMPLE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path), "--seed", str(DEFAULT_SEED)]) == 0
    differ = [name for name in GENERATED if _sha(tmp_path / name) != _sha(SAMPLE / name)]
    assert differ == []


def test_layout_depends_only_on_the_seed() -> None:
    a, b, c = generate_street_layout(7), generate_street_layout(7), generate_street_layout(8)
    pd.testing.assert_frame_equal(a.buildings.drop(columns="geometry"), b.buildings.drop(columns="geometry"))
    assert shapely.to_wkb(a.buildings.geometry.values).tolist() == shapely.to_wkb(b.buildings.geometry.values).tolist()
    assert not a.buildings.geometry.geom_equals(c.buildings.geometry.reindex(a.buildings.index)).all()


# --- shapefiles as planners receive them ---------------------------------------------------------


def _dbf_field_names(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    header_len = struct.unpack("<H", raw[8:10])[0]
    return [raw[i : i + 11].split(b"\0", 1)[0] for i in range(32, header_len - 1, 32)]


@pytest.mark.parametrize("layer", SHAPEFILES)
def test_shapefiles_are_gbk_in_gauss_kruger_cm111(layer: str) -> None:
    shp = SAMPLE / f"{layer}.shp"
    assert (SAMPLE / f"{layer}.cpg").read_text() == "GBK"
    prj = CRS.from_wkt((SAMPLE / f"{layer}.prj").read_text())
    assert prj.list_authority()[0].code == "4546" and prj.list_authority()[0].confidence == 100
    params = {q.name: q.value for q in prj.coordinate_operation.params}
    assert params["Longitude of natural origin"] == 111.0 and params["False easting"] == 500000.0
    assert pyogrio.read_info(shp)["crs"] == "EPSG:4546"
    names = _dbf_field_names(shp.with_suffix(".dbf"))
    assert all(len(n) <= 10 for n in names)
    decoded = [n.decode("gbk") for n in names]
    assert all(re.fullmatch(r"[\u4e00-\u9fff]+", n) for n in decoded)
    with pytest.raises(UnicodeDecodeError):
        b"".join(names).decode("utf-8")  # GBK bytes, not UTF-8
    expected = {
        "communities": ["代码", "名称"],
        "compounds": ["编号", "名称", "社区代码"],
        "buildings": BUILDING_FIELDS,
        "buildings_bad": BUILDING_FIELDS,
    }[layer]
    assert decoded == expected
    assert list(pyogrio.read_dataframe(shp).columns) == [*expected, "geometry"]


def test_field_names_are_the_importers_first_choice() -> None:
    for kind, layer in (("communities", "communities"), ("compounds", "compounds"), ("buildings", "buildings")):
        cols = list(pyogrio.read_info(SAMPLE / f"{layer}.shp")["fields"])
        for gm_col, names in DEFAULT_FIELDS[kind].items():
            assert any(n in cols for n in names), (kind, gm_col)
    uses = set(pyogrio.read_dataframe(SAMPLE / "buildings.shp", read_geometry=False)["用途"])
    assert uses == {"住宅", "平房", "商业", "学校", "办公"}
    assert {BUILDING_USES[u] for u in uses} == {"residential", "bungalow", "commercial", "school", "office"}


def test_chinese_text_survives_the_round_trip(communities, compounds) -> None:
    assert dict(zip(communities["代码"], communities["名称"], strict=True)) == COMMUNITY_NAMES
    raw = (SAMPLE / "compounds.dbf").read_bytes()
    for name in compounds["名称"]:
        assert name.encode("gbk") in raw
        assert name.encode("utf-8") not in raw


# --- geometry --------------------------------------------------------------------------------------


def test_communities_are_the_real_four_and_tile_the_street(communities) -> None:
    divs = divisions.by_code()
    assert sorted(communities["代码"]) == sorted(COMMUNITY_NAMES)
    for code in communities["代码"]:
        assert divs[code].parent_code == STREET_CODE
    geoms = communities.geometry.values
    assert shapely.coverage_is_valid(geoms)
    assert all(g.geom_type == "Polygon" and g.is_valid for g in geoms)
    union = shapely.union_all(geoms)
    assert union.geom_type == "Polygon" and len(union.interiors) == 0
    assert union.area == pytest.approx(sum(g.area for g in geoms), abs=1e-3)
    i, j = shapely.STRtree(geoms).query(geoms, predicate="overlaps")
    assert (i != j).sum() == 0
    lon0, lat0, lon1, lat1 = communities.to_crs(4490).total_bounds
    assert 111.66 < lon0 < lon1 < 111.71 and 40.80 < lat0 < lat1 < 40.83


def test_buildings_lie_inside_their_community_and_compound_without_overlaps(communities, compounds, buildings) -> None:
    comm = communities.set_index("代码").geometry
    assert shapely.contains_properly(comm.reindex(buildings["社区代码"]).values, buildings.geometry.values).all()
    inside = buildings["小区编号"] != ""
    comp = compounds.set_index("编号")
    assert shapely.contains_properly(
        comp.geometry.reindex(buildings.loc[inside, "小区编号"]).values,
        buildings.geometry.values[inside],
    ).all()
    assert (
        comp["社区代码"].reindex(buildings.loc[inside, "小区编号"]).values == buildings.loc[inside, "社区代码"].values
    ).all()
    assert shapely.contains_properly(comm.reindex(compounds["社区代码"]).values, compounds.geometry.values).all()
    for frame in (buildings, compounds):
        geoms = frame.geometry.values
        i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        assert (i != j).sum() == 0
    assert buildings.geometry.is_valid.all()


def test_footprints_have_plausible_sizes(buildings) -> None:
    area = buildings.geometry.area
    use = buildings["用途"]
    assert area[use == "平房"].between(65, 95).all()  # ~8 m × 10 m
    res = use == "住宅"
    per_unit = area[res] / buildings.loc[res, "单元数"]
    assert per_unit.between(14 * 11, 21 * 19).all()  # 12-19 m deep, ~15-21 m per unit
    assert area[use.isin(["商业", "学校", "办公"])].between(150, 2500).all()


# --- sizes and the building mix -------------------------------------------------------------------


def test_size_bands(communities, compounds, buildings, dwellings, persons) -> None:
    assert len(communities) == 4
    assert 15 <= len(compounds) <= 40
    assert 300 <= len(buildings) <= 1500
    assert 8_000 <= len(dwellings) <= 25_000
    assert 20_000 <= len(persons) <= 60_000
    per = buildings.groupby("社区代码")["户数"].sum()
    assert per[TUANJIE] < 300 and 200 <= per[TUANJIE] <= 260
    others = per.drop(TUANJIE)
    assert others.between(3_000, 6_000).all() and len(others) == 3


def test_exactly_one_tower_above_500_households(buildings) -> None:
    big = buildings[buildings["户数"] > 500]
    assert len(big) == 1
    row = big.iloc[0]
    assert (row["层数"], row["单元数"], row["户数"], row["用途"]) == (33, 4, TOWER_OVER_500, "住宅")
    assert row["小区编号"] != ""


def test_residential_slabs_follow_walkup_midrise_tower_rules(buildings) -> None:
    res = buildings[buildings["用途"] == "住宅"]
    per_floor = res["户数"] / (res["层数"] * res["单元数"])
    assert (per_floor == per_floor.round()).all()
    assert res["单元数"].between(2, 6).all()
    walk = res["层数"].between(6, 7)
    mid = res["层数"].between(11, 18)
    tower = res["层数"].between(24, 33)
    assert (walk | mid | tower).all()
    assert (per_floor[walk] == 2).all()
    assert per_floor[mid].isin([2, 3]).all()
    assert per_floor[tower].isin([3, 4]).all()
    assert walk.sum() > mid.sum() > 0 and tower.sum() > 0
    assert (res["小区编号"] != "").all()


def test_bungalows_shops_school_and_offices(buildings) -> None:
    bung = buildings[buildings["用途"] == "平房"]
    assert len(bung) >= 100 and bung["社区代码"].nunique() == 1
    assert ((bung["层数"] == 1) & (bung["单元数"] == 1) & (bung["户数"] == 1)).all()
    assert bung["楼号"].str.fullmatch(r"平房区\d+号").all() and bung["楼号"].is_unique
    assert (bung["小区编号"] == "").all()
    other = buildings[buildings["用途"].isin(["商业", "学校", "办公"])]
    assert (other["户数"] == 0).all() and (other["名称"] != "").all()
    assert (buildings["用途"] == "学校").sum() >= 1 and (buildings["用途"] == "办公").sum() >= 1
    assert (buildings["用途"] == "商业").sum() >= 5
    assert (buildings["层数"] >= 1).all() and (buildings["单元数"] >= 1).all()


def test_ids_and_numbering(compounds, buildings) -> None:
    assert buildings["编号"].is_unique and buildings["编号"].str.fullmatch(r"B\d{6}").all()
    assert compounds["编号"].is_unique and compounds["编号"].str.fullmatch(r"XQ\d{3}").all()
    assert compounds["名称"].is_unique
    assert (
        compounds["名称"].str.contains(r"(?:小区|家属院|家属楼|宿舍|新村|里|花园|园|苑|府|都|国际|公馆|城|景)$").all()
    )
    inside = buildings[buildings["小区编号"] != ""]
    assert inside["楼号"].str.fullmatch(r"\d+号楼").all()
    assert not inside.duplicated(["小区编号", "楼号"]).any()
    assert set(inside["小区编号"]) == set(compounds["编号"])


# --- dwellings -----------------------------------------------------------------------------------


def test_dwellings_match_buildings_and_standard_addresses(buildings, compounds, dwellings) -> None:
    assert dwellings["dwelling_id"].is_unique
    assert dwellings["dwelling_id"].str.fullmatch(r"D\d{7}").all()
    counts = dwellings.groupby("building_id").size()
    planned = buildings.set_index("编号")["户数"]
    assert counts.to_dict() == planned[planned > 0].to_dict()
    b = dwellings.merge(buildings.drop(columns="geometry"), left_on="building_id", right_on="编号")
    flat = b["用途"] == "住宅"
    per_floor = b["户数"] // (b["层数"] * b["单元数"])
    pos = b["room"].str[-2:].astype(int)
    assert (b.loc[flat, "room"] == (b.loc[flat, "floor"] * 100 + pos[flat]).astype(str)).all()
    assert (pos[flat] <= per_floor[flat]).all() and (pos[flat] >= 1).all()
    assert (b.loc[flat, "floor"] <= b.loc[flat, "层数"]).all() and (b.loc[flat, "unit"] <= b.loc[flat, "单元数"]).all()
    assert (b.loc[~flat, "room"] == "1").all()
    names = compounds.set_index("编号")["名称"]
    area = "呼和浩特市新城区中山东路街道" + b["社区代码"].map(COMMUNITY_NAMES)
    expect = np.where(
        flat,
        area + b["小区编号"].map(names).fillna("") + b["楼号"] + b["unit"].astype(str) + "单元" + b["room"] + "室",
        area + b["楼号"],
    )
    assert (b["address"] == expect).all()
    assert b.loc[0, "address"].startswith("呼和浩特市新城区中山东路街道新华社区")
    use = dwellings["use"].value_counts(normalize=True)
    assert set(use.index) == {"自住", "出租", "空置", "商用"}
    assert 0.85 <= use["自住"] + use["出租"] <= 0.90


# --- persons ------------------------------------------------------------------------------------


def test_every_id_number_is_valid_and_consistent(persons) -> None:
    assert persons["id_number"].is_unique
    known = set(divisions.county_codes()) | set(divisions.RETIRED_COUNTY_CODES)
    for row in persons.itertuples():
        parsed = ids.parse(row.id_number, today=dt.date(2024, 6, 30))
        assert parsed.value == row.id_number and not parsed.upgraded_from_15
        assert parsed.sex == row.sex
        assert parsed.birth_date.isoformat() == row.birth_date
        assert parsed.region in known
    region = persons["id_number"].str[:6]
    assert region.str.startswith("1501").mean() > 0.6
    assert (~region.str.startswith("1501")).mean() > 0.1
    assert region.isin(list(divisions.RETIRED_COUNTY_CODES)).sum() > 50


def test_vocabularies_and_shares(persons) -> None:
    assert set(persons["sex"]) == {"男", "女"}
    assert set(persons["relation"]) == {"户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他"}
    assert set(persons["ethnicity"]) == {"汉族", "蒙古族", "回族", "满族", "达斡尔族"}
    eth = persons["ethnicity"].value_counts(normalize=True)
    assert eth["汉族"] > 0.75 and 0.1 < eth["蒙古族"] < 0.2
    res = persons["residence_type"].value_counts(normalize=True)
    assert res["常住"] == pytest.approx(0.80, abs=0.03)
    assert res["流动"] == pytest.approx(0.17, abs=0.03)
    assert res["寄住"] == pytest.approx(0.03, abs=0.015)
    phone = persons["phone"]
    assert phone[phone != ""].str.fullmatch(r"1[3-9]\d{9}").all()
    assert 0.05 < (phone == "").mean() < 0.3
    tags = persons["care_tags"].str.split(";").explode()
    tags = tags[tags != ""]
    assert set(tags) == {"独居老人", "空巢老人", "残疾人", "低保户", "留守儿童", "退役军人", "重病患者"}
    assert (persons["care_tags"] == "").mean() > 0.8
    assert (tags.value_counts() / len(persons) < 0.06).all()


def test_names_match_ethnicity(persons) -> None:
    mongol = persons["name"].map(is_mongolian_style)
    assert 0.12 <= mongol.mean() <= 0.15
    assert persons.loc[mongol, "ethnicity"].isin(["蒙古族", "达斡尔族"]).all()
    han = persons[persons["ethnicity"] == "汉族"]["name"]
    assert not han.map(is_mongolian_style).any()
    surnames = {s for s, _ in HAN_SURNAMES}
    assert han.str[0].isin(surnames).all() and han.str.len().between(2, 3).all()
    assert {"巴特尔", "其其格", "苏日娜"} <= set(persons["name"])


def test_households_are_families(linked) -> None:
    heads = linked[linked["relation"] == "户主"]
    assert heads["dwelling_id"].is_unique
    occupied = set(linked["dwelling_id"])
    assert set(heads["dwelling_id"]) == occupied
    assert linked["dwelling_use"].isin(["自住", "出租"]).all()
    h = heads.set_index("dwelling_id")
    sp = linked[linked["relation"] == "配偶"].set_index("dwelling_id")
    assert sp.index.is_unique
    assert (sp["sex"] != h.loc[sp.index, "sex"]).all()
    assert (sp["age"] - h.loc[sp.index, "age"]).abs().max() < 16
    assert (sp["age"] >= 20).all()
    # children are 20-40 years younger than their mother (the head or the spouse)
    kids = linked[linked["relation"] == "子女"]
    women = linked[linked["relation"].isin(["户主", "配偶"]) & (linked["sex"] == "女")].set_index("dwelling_id")["age"]
    with_mother = kids[kids["dwelling_id"].isin(women.index)]
    gap = women.loc[with_mother["dwelling_id"]].to_numpy() - with_mother["age"].to_numpy()
    assert gap.min() > 19.9 and gap.max() < 40.5 and np.median(gap) > 25
    assert (h.loc[kids["dwelling_id"], "age"].to_numpy() - kids["age"].to_numpy()).min() > 14
    par = linked[linked["relation"] == "父母"]
    assert (par["age"].to_numpy() - h.loc[par["dwelling_id"], "age"].to_numpy()).min() > 19.9
    grand = linked[linked["relation"] == "孙子女"]
    assert (h.loc[grand["dwelling_id"], "age"].to_numpy() - grand["age"].to_numpy()).min() > 35
    size = linked.groupby("dwelling_id").size()
    assert 2.2 < size.mean() < 2.8 and size.max() <= 6
    # tenants are mostly 流动; 独居老人 only for someone 60+ living alone
    assert (linked.loc[linked["dwelling_use"] == "出租", "residence_type"] == "流动").mean() > 0.7
    alone = linked["care_tags"].str.contains("独居老人")
    assert alone.sum() > 100
    assert (linked.loc[alone, "age"] >= 60).all() and (size.loc[linked.loc[alone, "dwelling_id"]] == 1).all()
    left_behind = linked["care_tags"].str.contains("留守儿童")
    assert (linked.loc[left_behind, "relation"] == "孙子女").all() and (linked.loc[left_behind, "age"] < 16).all()


def test_link_rate_is_about_99_4_percent(persons, dwellings) -> None:
    unlinked = persons["dwelling_id"] == ""
    assert 1 - unlinked.mean() == pytest.approx(0.994, abs=0.0005)
    assert set(persons.loc[~unlinked, "dwelling_id"]) <= set(dwellings["dwelling_id"])
    assert not persons.loc[unlinked, "address"].isin(dwellings["address"]).any()
    assert (persons.loc[unlinked, "relation"] != "户主").all()


def test_resident_addresses_mix_standard_and_police_variants(linked, dwellings) -> None:
    std = linked["dwelling_id"].map(dwellings.set_index("dwelling_id")["address"])
    share = (linked["address"] == std).mean()
    assert 0.72 < share < 0.86
    a = linked["address"]
    patterns = {
        "dash": r"\d+-\d+-\d+$",
        "floor_pos": r"\d+栋\d+单元\d+楼\d+号$",
        "hash": r"\d+#楼\d+单元\d+$",
        "alias": r"^呼市",
        "fullwidth": r"[０-９]",
        "numeral": r"[一二三四五六七八九十]+号楼\d+单元",
        "no_unit": r"\d+号楼\d+室$",
    }
    for name, pattern in patterns.items():
        assert a.str.contains(pattern).mean() > 0.01, name
    assert chinese_numeral(3) == "三" and chinese_numeral(12) == "十二" and chinese_numeral(25) == "二十五"


# --- faulty files --------------------------------------------------------------------------------


def _person_outcome(row: pd.Series, persons: pd.DataFrame, dwellings: set[str]) -> str:
    """What a careful importer must conclude about one row of persons_bad.csv."""
    raw = row["id_number"]
    try:
        parsed = ids.parse(raw, today=dt.date(2024, 6, 30))
    except ids.InvalidIdNumber as exc:
        return exc.code
    if parsed.birth_date.isoformat() != row["birth_date"]:
        return "id_birth_mismatch"
    if parsed.sex != row["sex"]:
        return "id_sex_mismatch"
    if not row["name"].strip():
        return "name_missing"
    if row["dwelling_id"] and row["dwelling_id"] not in dwellings:
        return "dwelling_unknown"
    existing = persons[persons["id_number"] == parsed.value]
    if len(existing):
        same = (existing.iloc[0] == row).all()
        return "ok_duplicate_same" if same else "duplicate_conflict"
    if parsed.upgraded_from_15:
        return "ok_legacy_15"
    if raw != parsed.value:
        return "ok_normalised"
    try:
        row["name"].encode("gbk")
    except UnicodeEncodeError:
        return "ok_rare_char"
    return "ok"


def test_persons_bad_rows_have_the_expected_outcome(persons, dwellings) -> None:
    bad = _csv("persons_bad.csv")
    expected = _csv("persons_bad_expected.csv")
    assert list(bad.columns) == list(persons.columns)
    assert 30 <= len(bad) <= 60
    assert expected["line_no"].astype(int).tolist() == list(range(1, len(bad) + 1))
    known = set(dwellings["dwelling_id"])
    got = [_person_outcome(bad.iloc[i], persons, known) for i in range(len(bad))]
    assert got == expected["expected_reason"].tolist()
    assert set(got) >= {
        "id_checksum",
        "id_birth_date",
        "id_format",
        "id_birth_mismatch",
        "name_missing",
        "dwelling_unknown",
        "duplicate_conflict",
        "ok_legacy_15",
        "ok_normalised",
    }
    assert bad["id_number"].str.endswith("x").sum() >= 1


def test_buildings_bad_features_have_the_expected_outcome(communities, buildings) -> None:
    bad = pyogrio.read_dataframe(SAMPLE / "buildings_bad.shp").fillna({"小区编号": "", "名称": "", "社区代码": ""})
    exp = _csv("buildings_bad_expected.csv")
    assert list(bad.columns) == [*BUILDING_FIELDS, "geometry"]
    assert exp["row"].astype(int).tolist() == list(range(len(bad)))
    assert exp["编号"].tolist() == bad["编号"].tolist()
    assert not set(bad["编号"]) & set(buildings["编号"])
    comm = communities.set_index("代码").geometry
    good = shapely.union_all(buildings.geometry.values)
    counts = bad["编号"].value_counts()
    for (_, f), outcome in zip(bad.iterrows(), exp["expected"], strict=True):
        g = f.geometry
        if outcome == "rejected:missing_geometry":
            assert g is None
            continue
        assert not g.intersects(good)
        if outcome == "repaired":
            fixed = shapely.make_valid(g)
            assert not g.is_valid and fixed.area > 50
            assert np.allclose(fixed.bounds, g.bounds)
        elif outcome == "rejected:outside_communities":
            assert f["社区代码"] == "" and not comm.intersects(g).any()
        elif outcome == "rejected:outside_community":
            assert f["社区代码"] in comm.index and not comm[f["社区代码"]].contains(g)
        elif outcome == "rejected:duplicate_id":
            assert counts[f["编号"]] == 2
        elif outcome == "rejected:missing_floors":
            assert pd.isna(f["层数"])
        elif outcome == "rejected:invalid_floors":
            assert f["层数"] == 0
        elif outcome == "rejected:invalid_community_code":
            assert not re.fullmatch(r"\d{12}", f["社区代码"])
        else:
            assert outcome == "inserted"
            assert g.is_valid and comm[f["社区代码"]].contains(g) and f["层数"] >= 1
        if outcome != "rejected:duplicate_id":
            assert counts[f["编号"]] == 1
    assert (exp["expected"] == "inserted").sum() >= 3 and (exp["expected"] == "repaired").sum() == 3


# --- the city generator ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def city():
    return generate_city(n_communities=24, seed=11)


def test_city_layers_are_consistent(city) -> None:
    cm, b = city.communities, city.buildings
    assert len(cm) == 24 and cm["code"].is_unique and cm.crs.to_epsg() == 4546
    assert cm["code"].str.fullmatch(r"1501(02|03|04|05)\d{6}").all()
    assert (cm["code"].str[:9] == cm["street_code"].str[:9]).all()
    assert cm["street_code"].str.endswith("000").all()
    assert cm["code"].str[9:].astype(int).between(1, 199).all()
    divs = divisions.by_code()
    real = cm[cm["code"].isin(divs)]
    assert len(real) >= 12
    assert all(divs[c].parent_code == s for c, s in zip(real["code"], real["street_code"], strict=True))
    assert shapely.coverage_is_valid(cm.geometry.values)
    assert list(b.columns) == [
        "id",
        "number",
        "name",
        "floors",
        "units",
        "per_floor",
        "dwellings",
        "compound_id",
        "community_code",
        "use",
        "geometry",
    ]
    g = cm.set_index("code").geometry
    assert shapely.contains_properly(g.reindex(b["community_code"]).values, b.geometry.values).all()
    i, j = shapely.STRtree(b.geometry.values).query(b.geometry.values, predicate="intersects")
    assert (i != j).sum() == 0
    per = b.groupby("community_code")["dwellings"].sum()
    assert 2_500 < per.mean() < 6_000
    assert set(b["use"]) <= {"residential", "bungalow", "commercial", "school", "office"}
    assert b["id"].is_unique and city.compounds["id"].str.fullmatch(r"XQ\d{5}").all()
    lon, lat = cm.to_crs(4490).geometry.union_all().centroid.coords[0]
    assert 111.5 < lon < 111.9 and 40.7 < lat < 40.95


def test_city_is_deterministic(city) -> None:
    again = generate_city(n_communities=24, seed=11)
    pd.testing.assert_frame_equal(city.buildings.drop(columns="geometry"), again.buildings.drop(columns="geometry"))
    assert city.buildings.geometry.geom_equals_exact(again.buildings.geometry, 0).all()
    other = generate_city(n_communities=24, seed=12)
    assert len(other.buildings) != len(city.buildings) or not other.buildings["dwellings"].equals(
        city.buildings["dwellings"]
    )


def test_city_persons_stream_in_chunks_with_unique_valid_ids(city) -> None:
    d = city.dwellings(seed=1)
    assert len(d) == city.buildings["dwellings"].sum()
    assert d["dwelling_id"].is_unique
    some = d.iloc[:6_000]
    chunks = list(city.iter_persons(some, seed=2, chunk_size=2_000))
    assert len(chunks) == 3
    allp = pd.concat(chunks, ignore_index=True)
    assert allp["id_number"].is_unique
    assert all(ids.is_valid(x) for x in allp["id_number"].sample(500, random_state=0))
    assert set(allp.loc[allp["dwelling_id"] != "", "dwelling_id"]) <= set(some["dwelling_id"])
    heads = allp[allp["relation"] == "户主"]
    assert heads["dwelling_id"].is_unique
    assert allp["address"].str.startswith("呼和浩特市").mean() > 0.9
