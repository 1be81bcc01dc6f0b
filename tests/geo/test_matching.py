"""Address → dwelling matching on the sample street (pure: the index is built from the files)."""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache

import pandas as pd
import pyogrio
import pytest

from geo import address as addr
from geo.matching import LINK_THRESHOLD, DwellingIndex, similarity
from geo.synth.address import chinese_numeral
from tests.conftest import SAMPLE


@lru_cache
def sample_frames() -> tuple[pd.DataFrame, ...]:
    areas = pd.read_csv(SAMPLE / "nmg_divisions.csv", dtype=str, keep_default_na=False)
    # the city and the district (villages elsewhere would only add names)
    areas = areas[areas["code"].str.startswith("150102") | (areas["code"] == "150100000000")]
    comp = pyogrio.read_dataframe(SAMPLE / "compounds.shp", read_geometry=False)
    bld = pyogrio.read_dataframe(SAMPLE / "buildings.shp", read_geometry=False)
    cid = {e: i + 1 for i, e in enumerate(comp["编号"])}
    compounds = pd.DataFrame({"id": comp["编号"].map(cid), "name": comp["名称"], "community_code": comp["社区代码"]})
    buildings = pd.DataFrame(
        {
            "id": bld["编号"].str[1:].astype(int),
            "number": bld["楼号"],
            "compound_id": bld["小区编号"].map(cid),
            "community_code": bld["社区代码"],
            "units": bld["单元数"],
            "per_floor": (bld["户数"] / (bld["层数"] * bld["单元数"])).round(),
        }
    )
    dw = pd.read_csv(SAMPLE / "dwellings.csv", dtype=str)
    dwellings = pd.DataFrame(
        {
            "id": dw["dwelling_id"].str[1:].astype(int),
            "building_id": dw["building_id"].str[1:].astype(int),
            "unit": dw["unit"],
            "floor": dw["floor"].astype(int),
            "room": dw["room"],
            "address": dw["address"],
        }
    )
    return areas, compounds, buildings, dwellings


def make_index(*, exact: bool = True) -> DwellingIndex:
    areas, compounds, buildings, dwellings = sample_frames()
    index = DwellingIndex(areas, compounds, buildings)
    index.add_dwellings(dwellings if exact else dwellings.drop(columns="address"), complete=True)
    return index


@pytest.fixture(scope="module")
def index() -> DwellingIndex:
    return make_index()


@pytest.fixture(scope="module")
def structured() -> DwellingIndex:
    """The same dwellings without their standard addresses: every match is part by part."""
    return make_index(exact=False)


def test_every_standard_address_finds_its_dwelling(index, structured) -> None:
    _, _, _, dwellings = sample_frames()
    for ix in (index, structured):
        for did, a in zip(dwellings["id"], dwellings["address"], strict=True):
            m = ix.match(a)
            assert (m.status, m.dwelling_id, m.confidence) == ("exact", did, 1.0), a


def test_police_addresses_of_the_sample_street(structured) -> None:
    persons = pd.read_csv(SAMPLE / "persons.csv", dtype=str, keep_default_na=False)
    truth = [int(d[1:]) if d else None for d in persons["dwelling_id"]]
    results = [structured.match(a) for a in persons["address"]]
    wrong = [
        (a, m.dwelling_id, t)
        for a, m, t in zip(persons["address"], results, truth, strict=True)
        if m.dwelling_id is not None and m.dwelling_id != t
    ]
    assert wrong == []
    # a missing unit in a building of several units cannot be resolved: those wait for review
    # with the right dwelling among the candidates; everything else that names a dwelling links
    missing_unit = [
        m for a, m, t in zip(persons["address"], results, truth, strict=True) if t is not None and m.dwelling_id is None
    ]
    assert all(m.status == "ambiguous" for m in missing_unit)
    linkable = sum(t is not None for t in truth)
    resolvable = linkable - len(missing_unit)
    right = sum(m.dwelling_id == t for m, t in zip(results, truth, strict=True) if t is not None)
    assert right / linkable > 0.97
    assert right == resolvable
    for a, m, t in zip(persons["address"], results, truth, strict=True):
        if t is not None and m.dwelling_id is None:
            assert t in [c.dwelling_id for c in m.candidates], a
        if t is None:
            assert m.dwelling_id is None  # unlinked residents' addresses match nothing


def messy(row: pd.Series, kind: str) -> str | None:
    """One police-style variant of a dwelling's standard address (None if it does not apply)."""
    a = row["address"]
    m = pd.Series(a).str.extract(r"^(.*?社区)(.*?)(\d+)号楼(\d+)单元(\d+)室$").iloc[0]
    if m.isna().any():
        return None
    area, comp, b, u, r = m
    district = area[: area.index("区") + 1]
    fl, pos = int(r) // 100, int(r) % 100
    return {
        "dash": f"{district}{comp}{b}-{u}-{r}",
        "floor_pos": f"{district}{comp}{b}栋{u}单元{fl}楼{pos}号",
        "numeral": f"{area}{comp}{chinese_numeral(int(b))}号楼{u}单元{r}室",
        "hash": f"{district}{comp}{b}#楼{u}单元{r}",
        "fullwidth": a.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        "alias": a.replace("呼和浩特市", "呼市"),
        "leading_zero": f"{area}{comp}{b}号楼{u}单元{fl:02d}{pos:02d}",
        "explicit_floor": f"{area}{comp}{b}号楼{u}单元{fl}层{r}室",
        "no_street": a.replace("中山东路街道", ""),
    }[kind]


KINDS = [
    "dash",
    "floor_pos",
    "numeral",
    "hash",
    "fullwidth",
    "alias",
    "leading_zero",
    "explicit_floor",
    "no_street",
]


@pytest.mark.parametrize("kind", KINDS)
def test_messy_variants_link_right_or_not_at_all(structured, kind: str) -> None:
    _, _, _, dwellings = sample_frames()
    sample = dwellings.sample(1500, random_state=7)
    got = Counter()
    for _, row in sample.iterrows():
        text = messy(row, kind)
        if text is None:
            continue
        m = structured.match(text)
        assert m.dwelling_id in (None, row["id"]), (text, m)
        got["right" if m.dwelling_id == row["id"] else "review"] += 1
    assert got["right"] / sum(got.values()) >= 0.98, got


def test_missing_unit_links_only_single_unit_buildings(structured) -> None:
    _, _, buildings, dwellings = sample_frames()
    units = dict(zip(buildings["id"], buildings["units"], strict=True))
    for _, row in dwellings.sample(800, random_state=3).iterrows():
        text = row["address"].replace(f"{row['unit']}单元", "")
        if "单元" not in row["address"]:
            continue
        m = structured.match(text)
        if units[row["building_id"]] == 1:
            assert m.dwelling_id == row["id"], text
        else:
            assert m.dwelling_id is None and m.status == "ambiguous", text
            assert row["id"] in [c.dwelling_id for c in m.candidates]


def test_east_and_west_dwellings_wait_for_review_with_the_likely_one_first(structured) -> None:
    _, _, buildings, dwellings = sample_frames()
    two = set(buildings.loc[buildings["per_floor"] == 2, "id"])
    rows = dwellings[dwellings["building_id"].isin(two) & (dwellings["room"].str.len() == 3)]
    seen = 0
    for _, row in rows.sample(300, random_state=5).iterrows():
        base = row["address"][: row["address"].index("单元") + 2]
        fl, pos = int(row["room"]) // 100, int(row["room"]) % 100
        m = structured.match(f"{base}{fl}楼{'西' if pos == 1 else '东'}户")
        assert m.dwelling_id is None and m.status == "ambiguous"
        assert m.candidates[0].dwelling_id == row["id"]
        assert m.candidates[0].score < LINK_THRESHOLD
        seen += 1
    assert seen > 100


def test_unknown_building_compound_or_city_never_links(index) -> None:
    for text, status in [
        ("呼和浩特市新城区中山东路街道新华社区长青家园67号楼3单元302室", "unmatched"),
        ("呼和浩特市新城区长青家园附近平房", "incomplete"),
        ("呼和浩特市新城区中山东路街道新华社区", "incomplete"),
        ("呼和浩特市新城区不存在花园1号楼1单元101室", "unmatched"),
        ("包头市青山区富强小区18-2-301", "other_city"),
        ("", "empty"),
    ]:
        m = index.match(text)
        assert (m.status, m.dwelling_id) == (status, None), text
    m = index.match("呼和浩特市新城区中山东路街道新华社区长青家园67号楼3单元302室")
    assert m.community_code == "150102003001"  # the area is known even when the dwelling is not


def test_a_compound_in_the_wrong_community_or_a_similar_name_is_only_a_candidate(index) -> None:
    # 长青家园 is in 新华社区; the address says 迎宾南路社区
    m = index.match("呼和浩特市新城区中山东路街道迎宾南路社区长青家园1号楼1单元101室")
    assert m.dwelling_id is None and m.candidates and m.candidates[0].dwelling_id == 1
    # 长青花园 is not a compound; 长青家园 in the named community is similar
    m = index.match("呼和浩特市新城区中山东路街道新华社区长青花园1号楼1单元101室")
    assert m.dwelling_id is None and m.candidates and m.candidates[0].dwelling_id == 1
    assert similarity("长青花园", "长青家园") > 0.5 > similarity("长青花园", "幸福名都")


def tiny_index() -> DwellingIndex:
    """Two communities that both have a 幸福小区, one with towers A座/B座."""
    areas = pd.DataFrame(
        [
            ("150100000000", "呼和浩特市", "city", "150000000000"),
            ("150104000000", "玉泉区", "county", "150100000000"),
            ("150104001000", "小召前街街道", "town", "150104000000"),
            ("150104001001", "金桥社区居委会", "village", "150104001000"),
            ("150104001002", "石羊桥社区居委会", "village", "150104001000"),
        ],
        columns=["code", "name", "level", "parent_code"],
    )
    compounds = pd.DataFrame(
        [(1, "幸福小区", "150104001001"), (2, "幸福小区", "150104001002")],
        columns=["id", "name", "community_code"],
    )
    buildings = pd.DataFrame(
        [
            (10, "B座", 1, "150104001001", 1),
            (11, "A座", 1, "150104001001", 1),
            (20, "3号楼", 2, "150104001002", 2),
            (21, "3号楼", 1, "150104001001", 2),
            (30, "通道北巷7号", None, "150104001002", 1),
        ],
        columns=["id", "number", "compound_id", "community_code", "units"],
    )
    dwellings = pd.DataFrame(
        [
            (100, 10, None, "1808"),
            (101, 11, None, "1808"),
            (200, 20, 2, "501"),
            (210, 21, 2, "501"),
            (300, 30, 1, "1"),
        ],
        columns=["id", "building_id", "unit", "room"],
    )
    index = DwellingIndex(areas, compounds, buildings)
    index.add_dwellings(dwellings, complete=True)
    return index


def test_towers_lanes_and_compounds_of_the_same_name() -> None:
    ix = tiny_index()
    assert ix.match("呼和浩特市玉泉区金桥社区幸福小区B座1808").dwelling_id == 100
    assert ix.match("玉泉区金桥社区幸福小区b座1808室").dwelling_id == 100
    assert ix.match("呼市玉泉区石羊桥社区通道北巷7号").dwelling_id == 300
    assert ix.match("呼市玉泉区石羊桥社区通道北巷7号平房").dwelling_id == 300
    # both 幸福小区 have 3号楼 2单元 501: without the community it is a coin toss → review
    m = ix.match("呼和浩特市玉泉区幸福小区3-2-501")
    assert m.dwelling_id is None and {c.dwelling_id for c in m.candidates} == {200, 210}
    assert ix.match("呼和浩特市玉泉区石羊桥社区幸福小区3-2-501").dwelling_id == 200
    assert ix.match("呼和浩特市玉泉区金桥社区幸福小区3-2-501").dwelling_id == 210
    # no area at all: even a unique compound + tower is not enough
    assert ix.match("幸福小区B座1808").dwelling_id is None


def test_lazy_loading_fetches_only_the_buildings_named() -> None:
    areas, compounds, buildings, dwellings = sample_frames()
    index = DwellingIndex(areas, compounds, buildings)
    asked: list[list[int]] = []

    def loader(ids: list[int]) -> pd.DataFrame:
        asked.append(ids)
        return dwellings[dwellings["building_id"].isin(ids)].drop(columns="address")

    index.loader = loader
    texts = [
        "呼和浩特市新城区中山东路街道新华社区长青家园1号楼1单元101室",
        "呼市新城区长青家园1-2-302",
        "呼和浩特市新城区中山东路街道中山社区平房区12号",
    ]
    parsed = [index.parse(t) for t in texts]
    index.ensure(parsed)
    assert len(asked) == 1 and len(asked[0]) == 2
    assert [index.match_parsed(p).status for p in parsed] == ["exact", "matched", "exact"]
    index.ensure(parsed)
    assert len(asked) == 1  # already loaded


def test_confidence_is_a_product_of_evidence(structured) -> None:
    m = structured.match("呼和浩特市新城区长青家园1-1-101")  # district + compound only
    assert m.status == "matched" and math.isclose(m.confidence, 0.97)
    p = addr.parse("呼和浩特市新城区长青家园1-1-101", structured.gazetteer)
    assert p.compound_known
