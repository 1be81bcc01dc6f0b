"""Address normalisation and parsing: the worked examples of STANDARDS.md §5 and the variants police
records have."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import address as addr
from geo.address import Gazetteer, building_key, canonical_room, cn_number, normalize, parse

# the 15 worked examples of STANDARDS.md §5 (XX placeholders replaced by invented names)
EXAMPLES = [
    (
        "内蒙古自治区呼和浩特市新城区海拉尔东路街道公主府社区",
        {"city": "呼和浩特市", "district": "新城区", "street": "海拉尔东路街道", "community": "公主府社区"},
    ),
    (
        "呼和浩特市赛罕区大学东街12号幸福小区3号楼2单元1502室",
        {"district": "赛罕区", "road": "大学东街", "road_no": "12", "compound": "幸福小区",
         "building": "3", "unit": 2, "floor": 15, "room": "1502"},
    ),
    (
        "呼和浩特市回民区中山西路5号7号楼1单元0301",
        {"district": "回民区", "road": "中山西路", "road_no": "5", "building": "7", "unit": 1,
         "floor": 3, "room": "301"},
    ),
    (
        "呼市新城区阳光家园12栋3-602",
        {"city": "呼和浩特市", "district": "新城区", "compound": "阳光家园", "building": "12",
         "unit": 3, "floor": 6, "room": "602"},
    ),
    (
        "呼和浩特市玉泉区金桥小区B座1808",
        {"district": "玉泉区", "compound": "金桥小区", "building": "B", "unit": None, "floor": 18,
         "room": "1808"},
    ),
    (
        "包头市昆都仑区友谊街道青年小区6#楼4单元501",
        {"city": "包头市", "street": "友谊街道", "compound": "青年小区", "building": "6", "unit": 4,
         "room": "501"},
    ),
    (
        "包头市青山区富强小区18-2-301",
        {"compound": "富强小区", "building": "18", "unit": 2, "floor": 3, "room": "301"},
    ),
    (
        "鄂尔多斯市东胜区天骄街道伊金霍洛西街8号院2号楼1单元101",
        {"street": "天骄街道", "road": "伊金霍洛西街", "road_no": "8",
         "compound": "伊金霍洛西街8号院", "building": "2", "unit": 1, "room": "101"},
    ),
    (
        "鄂尔多斯市康巴什区康城小区10幢1单元1层102",
        {"compound": "康城小区", "building": "10", "unit": 1, "floor": 1, "room": "102"},
    ),
    (
        "乌海市乌达区三道坎街道新华社区幸福小区8号楼3单元202",
        {"district": "乌达区", "street": "三道坎街道", "community": "新华社区",
         "compound": "幸福小区", "building": "8", "unit": 3, "room": "202"},
    ),
    (
        "乌海市乌达区苏海图村3组",
        {"district": "乌达区", "community": "苏海图村", "group": "3", "building": None},
    ),
    (
        "土默特左旗察素齐镇把什村15号",
        {"district": "土默特左旗", "street": "察素齐镇", "community": "把什村", "building": "15"},
    ),
    (
        "呼和浩特市赛罕区大学西路9号金宇小区地下室",
        {"road": "大学西路", "road_no": "9", "compound": "金宇小区", "room_text": "地下室"},
    ),
    (
        "呼和浩特市新城区通道北巷7号平房",
        {"district": "新城区", "road": "通道北巷", "road_no": "7", "room_text": "平房",
         "building": None},
    ),
    (
        "包头市东河区和平小区7号楼1单元6楼东户",
        {"compound": "和平小区", "building": "7", "unit": 1, "floor": 6, "position": "东",
         "room": None},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "expected"), EXAMPLES, ids=[e[0][-14:] for e in EXAMPLES])
def test_standards_worked_examples(raw: str, expected: dict[str, object]) -> None:
    p = parse(raw)
    got = {k: getattr(p, k) for k in expected}
    assert got == expected
    assert p.raw == raw
    assert 0.0 <= p.parse_confidence <= 1.0
    types = [t for t, _, _ in p.elements()]
    assert types == sorted(types, key=list(addr.ELEMENT_TYPES.values()).index)


VARIANTS_3_2_501 = [
    "幸福小区3号楼2单元501室",
    "幸福小区3号楼2单元501",
    "幸福小区3-2-501",
    "幸福小区3栋2单元5楼1号",
    "幸福小区三号楼2单元501室",
    "幸福小区3#楼2单元501",
    "幸福小区3#2单元501",
    "幸福小区3幢2单元501室",
    "幸福小区３号楼２单元５０１室",
    "幸福小区3号楼2-501",
    "幸福小区 3号楼 2单元 501室",
    "幸福小区3号楼2单元0501",
    "幸福小区3号楼2单元5层501",
    "幸福小区3号楼二单元五楼一号",
]


@pytest.mark.parametrize("raw", VARIANTS_3_2_501)
def test_variants_of_one_dwelling_parse_alike(raw: str) -> None:
    p = parse("呼和浩特市新城区" + raw)
    assert (p.district, p.compound, p.building, p.unit, p.floor, p.room) == (
        "新城区",
        "幸福小区",
        "3",
        2,
        5,
        "501",
    )


def test_missing_unit_and_floor_implied_by_room() -> None:
    p = parse("呼市新城区幸福小区3号楼1502室")
    assert (p.building, p.unit, p.floor, p.room, p.floor_from_room) == ("3", None, 15, "1502", True)
    assert p.parse_confidence < 1.0


def test_position_on_a_floor() -> None:
    for raw, pos in (("和平小区7号楼1单元6楼东户", "东"), ("和平小区7号楼1单元6楼西户", "西")):
        p = parse(raw)
        assert (p.floor, p.position, p.room) == (6, pos, None)


def test_normalize() -> None:
    assert normalize("呼市新城区") == "呼和浩特市新城区"
    assert normalize("内蒙古呼和浩特市") == "呼和浩特市"
    assert normalize("３号楼２单元５０１室") == "3号楼2单元501室"
    assert normalize(" 幸福小区（东区） 3号楼 ") == "幸福小区3号楼"
    assert normalize("b座1808") == "B座1808"
    assert normalize("十二栋三单元") == "12栋3单元"
    assert normalize("3—2—501") == "3-2-501"
    assert normalize("") == "" and normalize(None) == ""
    # numerals that are part of a name stay
    assert normalize("三道坎街道") == "三道坎街道"
    assert normalize("七一小区") == "七一小区"


@pytest.mark.parametrize(
    ("text", "n"),
    [("三", 3), ("十", 10), ("十二", 12), ("二十五", 25), ("一百零三", 103), ("一五零二", 1502), ("两", 2)],
)
def test_cn_number(text: str, n: int) -> None:
    assert cn_number(text) == n


@pytest.mark.parametrize(
    ("number", "key"),
    [
        ("3号楼", "3"),
        ("3栋", "3"),
        ("三号楼", "3"),
        ("3#", "3"),
        ("03号楼", "3"),
        ("B座", "B"),
        ("b座", "B"),
        ("平房区12号", "平房区12"),
        ("通道北巷7号", "通道北巷7"),
        ("教学楼", "教学楼"),
    ],
)
def test_building_key(number: str, key: str) -> None:
    assert building_key(number) == key


def test_canonical_room_and_short_names() -> None:
    assert canonical_room("0301") == "301"
    assert canonical_room("502室") == "502"
    assert canonical_room("") is None
    assert addr.short_name("新华社区居委会") == "新华社区"
    assert addr.short_name("红旗村民委员会") == "红旗村"
    assert addr.short_name("团结居委会") == "团结社区"
    assert addr.short_name("巴彦嘎查村民委员会") == "巴彦嘎查"


def test_gazetteer_names_win_and_a_longer_compound_beats_a_village() -> None:
    g = Gazetteer()
    g.add("cities", "呼和浩特市")
    g.add("districts", "新城区")
    g.add("streets", "中山东路街道")
    g.add("communities", "红旗村")
    g.add("communities", "新华社区")
    g.add("compounds", "红旗村小区")
    g.add("compounds", "中山东路花园")
    p = parse("呼和浩特市新城区红旗村小区1-1-402", g)
    assert (p.community, p.compound, p.compound_known) == (None, "红旗村小区", True)
    p = parse("呼和浩特市新城区中山东路花园3号楼1单元101", g)
    assert (p.street, p.compound) == (None, "中山东路花园")
    p = parse("新城区中山东路街道新华社区中山东路花园3号楼1单元101室", g)
    assert (p.street, p.community, p.compound) == ("中山东路街道", "新华社区", "中山东路花园")


def test_empty_and_area_only() -> None:
    assert parse("").parse_confidence == 0.0
    p = parse("呼和浩特市新城区中山东路街道新华社区")
    assert p.community == "新华社区" and not p.dwelling_level


@settings(max_examples=200, deadline=None)
@given(
    b=st.integers(1, 99),
    u=st.integers(1, 9),
    f=st.integers(1, 33),
    k=st.integers(1, 8),
    form=st.sampled_from(["std", "dash", "floor_pos", "hash", "fullwidth", "numeral"]),
)
def test_generated_variants_round_trip(b: int, u: int, f: int, k: int, form: str) -> None:
    room = f * 100 + k
    tail = {
        "std": f"{b}号楼{u}单元{room}室",
        "dash": f"{b}-{u}-{room}",
        "floor_pos": f"{b}栋{u}单元{f}楼{k}号",
        "hash": f"{b}#楼{u}单元{room}",
        "fullwidth": f"{b}号楼{u}单元{room}室".translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        "numeral": f"{addr_numeral(b)}号楼{u}单元{room}室",
    }[form]
    p = parse("呼和浩特市新城区康乐小区" + tail)
    assert (p.compound, p.building, p.unit, p.floor, p.room) == ("康乐小区", str(b), u, f, str(room))
    assert normalize(normalize(p.raw)) == normalize(p.raw)


def addr_numeral(n: int) -> str:
    from geo.synth.address import chinese_numeral

    return chinese_numeral(n)
