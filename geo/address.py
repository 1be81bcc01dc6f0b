"""Chinese addresses: normalisation and parsing into the 标准地址 hierarchy (pure).

A dwelling address runs from the largest unit to the smallest (STANDARDS.md §5)::

    [省][市][区/旗/县][街道/镇/乡/苏木][社区/村/嘎查] [街路巷 门牌号] [小区] [楼栋] [单元] [楼层] [室]

Police records write the tail in many ways; all of these parse to building 3, unit 2, room 501
(floor 5): ``3号楼2单元501室``, ``3-2-501``, ``3栋2单元5楼1号``, ``三号楼2单元501``, ``3#楼2单元501``,
``３号楼２单元５０１``. Also handled: ``B座1808`` (building B, no unit, floor 18), ``12栋3-602``
(unit 3, room 602), ``6楼东户`` (floor 6, the east dwelling), ``0301`` (room 301, floor 3), the alias
呼市, a missing unit, 门牌 addresses (``XX路5号院2号楼``, ``XX巷7号平房``), rural ``XX村3组``, and
non-dwelling rooms (地下室, 车库).

:func:`normalize` makes the text comparable (NFKC, so full-width digits and letters become ASCII;
blanks, punctuation and bracketed remarks removed; Chinese numerals before a building, unit,
floor or room marker turned into digits; city aliases expanded). :func:`parse` splits it. With a
:class:`Gazetteer` (the names the database knows) area and compound names are recognised exactly;
without one, generic suffix rules are used. The result keeps the raw string, every part, the
GA/T 2000.32 element types of the area parts and a ``parse_confidence``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

#: alias → full city name (only at the start of an address, after the province)
CITY_ALIASES = {"呼市": "呼和浩特市", "包市": "包头市", "鄂市": "鄂尔多斯市"}
#: official suffixes of community/village committees that addresses leave out
COMMITTEE_SUFFIXES = ("居民委员会", "村民委员会", "居委会", "村委会", "委员会")
#: GA/T 2000.32-2014 element types of the parts of an address (the area levels are in the
#: standard; the lower levels are named, not numbered, because the excerpt did not show codes)
ELEMENT_TYPES = {
    "province": "11",
    "city": "12",
    "district": "13",
    "street": "20",
    "community": "30",
    "group": "34",
    "road": "41",
    "compound": "42",
    "building": "building",
    "unit": "unit",
    "floor": "floor",
    "room": "room",
}

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUM_CHAR = re.compile("[零〇一二两三四五六七八九十百千]")
_PROVINCE_HEADS = ("内蒙古", "中国", "中华人民共和国")
_ALIAS_HEADS = tuple(CITY_ALIASES)
_CN_NUM = re.compile(r"[零〇一二两三四五六七八九十百千]+(?=号楼|号院|栋|幢|座|单元|层|楼|号|室|户|排|组)")
_DASH_RX = re.compile("[—–―‐−~]")
_BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|【[^【】]*】")
_DROP = re.compile(r"[\s,，、。;；:：\"'“”‘’<>《》/\\|*]+")
_PROVINCE = re.compile(
    r"(?:中国|中华人民共和国)?(?P<p>内蒙古自治区|内蒙古|[\u4e00-\u9fff]{2,8}?自治区|[\u4e00-\u9fff]{2,3}省)"
)

_CJK = r"\u4e00-\u9fff"
# generic area rules (used when no gazetteer name matches); a name never holds digits or the
# characters of a lower level's suffix, so 幸福小区 is not a district and 中山东路 not a street
_CITY = re.compile(rf"(?P<n>[{_CJK}]{{2,6}}?(?:市|盟))(?=[{_CJK}])")
_DISTRICT = re.compile(rf"(?P<n>[{_CJK}]{{1,7}}?(?:区|县|旗))(?=[{_CJK}\dA-Z])")
_STREET = re.compile(rf"(?P<n>[{_CJK}]{{2,10}}?(?:街道办事处|街道|镇|乡|苏木))(?=[{_CJK}\dA-Z])")
_COMMUNITY = re.compile(
    rf"(?P<n>[{_CJK}\d]{{1,10}}?(?:社区|嘎查|村))(?:居民委员会|村民委员会|居委会|村委会)?(?=[{_CJK}\dA-Z]|$)"
)
_NOT_DISTRICT = ("小区", "社区", "园区", "校区", "厂区", "景区", "营区", "住宅区", "平房区", "生活区")
#: characters that never occur in a name of the level (they belong to roads, compounds, buildings)
_BAD_CHARS = {
    "city": set("区县旗路街巷号楼栋单元室院园苑"),
    "district": set("路街巷号楼栋单元室院园苑府"),
    "street": set("号楼栋单元室院园苑"),
    "community": set("号楼栋单元室"),
}
_ROAD = re.compile(rf"(?P<road>[{_CJK}]{{1,10}}?(?:大街|大道|路|街|巷|胡同|里))(?P<no>\d+)号(?P<yard>院)?(?!楼)")
_GROUP = re.compile(r"(?P<g>\d+)(?:组|社|队)")
_DASH3 = re.compile(r"(?P<b>[A-Z]?\d+[A-Z]?)-(?P<u>\d+)-(?P<r>[A-Z]?\d+)(?:室|号|户)?$")
_BUILDING = re.compile(r"(?P<b>\d+[A-Z]?|[A-Z]\d{0,3})(?P<bs>号楼|#楼|#|栋|幢|座|号)")
_UNIT_ROOM = re.compile(r"(?P<u>\d+)-(?P<r>[A-Z]?\d+)(?:室|号|户)?")
_UNIT = re.compile(r"(?P<u>\d+)(?:单元|门洞|门)")
_FLOOR = re.compile(r"(?:(?P<neg>地下|负|-)?(?P<f>\d+))(?:层|楼)")
_ROOM = re.compile(r"(?P<r>[A-Z]?\d+[A-Z]?)(?:室|号|户)?")
_POSITION = re.compile(r"(?P<pos>[东西南北中])(?:边|侧)?(?:户|门|室|套)")
_SPECIAL = re.compile(r"(?P<s>地下室|储藏室|储物间|车库|车位|阁楼|平房|门市|商铺|底商|门面)")
#: how compound names end; an unrecognised name with one of these endings is taken as a compound
# fmt: off
COMPOUND_SUFFIXES = (
    "小区", "花园", "家园", "嘉园", "花苑", "公寓", "新村", "小镇", "宿舍", "家属院", "家属楼", "大院",
    "大厦", "广场", "公馆", "名都", "华府", "御景", "国际", "苑", "园", "院", "城", "府", "庭", "居",
    "湾", "里", "郡", "墅", "阁", "邸",
)
# fmt: on
_BUILDING_KEY = re.compile(r"(?P<pre>.*?)(?P<b>\d+[A-Z]?|[A-Z]\d{0,3})(?:号楼|#楼|#|栋|幢|座|号)?")


def cn_number(text: str) -> int | None:
    """``三`` → 3, ``十二`` → 12, ``二十五`` → 25, ``一百零三`` → 103, ``一五零二`` → 1502."""
    if not text:
        return None
    if all(ch in _CN_DIGITS for ch in text):
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))
    total, cur = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            cur = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            total += (cur or 1) * _CN_UNITS[ch]
            cur = 0
        else:
            return None
    return total + cur


def _numerals(m: re.Match[str]) -> str:
    n = cn_number(m.group(0))
    return m.group(0) if n is None else str(n)


def normalize(raw: str | None) -> str:
    """The comparable form of an address (see the module docstring); '' for nothing."""
    if not raw:
        return ""
    t = _DASH_RX.sub("-", unicodedata.normalize("NFKC", raw)).upper()
    if "(" in t or "[" in t or "【" in t:
        t = _BRACKETED.sub("", t)
    t = _DROP.sub("", t)
    if t.startswith(_PROVINCE_HEADS) or "省" in t[:6] or "自治区" in t[:12]:
        m = _PROVINCE.match(t)
        if m:
            t = t[m.end() :]
    if t.startswith(_ALIAS_HEADS):
        for alias, full in CITY_ALIASES.items():
            if t.startswith(alias):
                t = full + t[len(alias) :]
                break
    if _CN_NUM_CHAR.search(t):
        t = _CN_NUM.sub(_numerals, t)
    return t


def short_name(official: str) -> str:
    """The name a community or village has in addresses: ``新华社区居委会`` → ``新华社区``,
    ``红旗村民委员会`` → ``红旗村``, ``巴彦嘎查村民委员会`` → ``巴彦嘎查``, ``团结居委会`` → ``团结社区``."""
    name = official
    if name.endswith(("村民委员会", "村委会")):
        base = name.removesuffix("村民委员会").removesuffix("村委会")
        return base if base.endswith(("村", "嘎查")) else base + "村"
    for tail in ("居民委员会", "居委会", "委员会"):
        if name.endswith(tail) and len(name) > len(tail) + 1:
            base = name[: -len(tail)]
            return base if base.endswith(("社区", "村", "嘎查")) else base + "社区"
    return name


def canonical_room(room: str | None) -> str | None:
    """``0301`` → ``301``; letters upper-case; '' → None."""
    if room is None:
        return None
    r = unicodedata.normalize("NFKC", str(room)).strip().upper().removesuffix("室")
    if not r:
        return None
    if r.isdigit():
        return str(int(r))
    return r


def building_key(number: str | None) -> str | None:
    """The comparable key of a building number: ``3号楼``/``3栋``/``三号楼``/``3#`` → ``3``,
    ``B座`` → ``B``, ``平房区12号`` → ``平房区12``; a name without a number stays as it is."""
    t = normalize(number)
    if not t:
        return None
    m = _BUILDING_KEY.fullmatch(t)
    if m is None:
        return t
    return m.group("pre") + _num(m.group("b"))


def _num(b: str) -> str:
    """Strip leading zeros of the digits of a building number (``03`` → ``3``, ``B03`` → ``B3``)."""
    m = re.fullmatch(r"([A-Z]?)(\d+)([A-Z]?)", b)
    if m is None:
        return b
    return f"{m.group(1)}{int(m.group(2))}{m.group(3)}"


class NameTable:
    """Known names of one level, matched as the longest prefix of the text at a position."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._by_head: dict[str, list[str]] = {}
        self.names: set[str] = set()
        for n in names:
            self.add(n)

    def add(self, name: str) -> None:
        if len(name) < 2 or name in self.names:
            return
        self.names.add(name)
        bucket = self._by_head.setdefault(name[:2], [])
        bucket.append(name)
        bucket.sort(key=len, reverse=True)

    def match(self, text: str, pos: int) -> str | None:
        for name in self._by_head.get(text[pos : pos + 2], ()):
            if text.startswith(name, pos):
                return name
        return None

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class Gazetteer:
    """Names the parser recognises exactly, per level (normalised, as addresses write them)."""

    cities: NameTable = field(default_factory=NameTable)
    districts: NameTable = field(default_factory=NameTable)
    streets: NameTable = field(default_factory=NameTable)
    communities: NameTable = field(default_factory=NameTable)
    compounds: NameTable = field(default_factory=NameTable)

    def add(self, level: str, name: str | None) -> str | None:
        """Add a name (normalised); returns the normalised form."""
        if not name:
            return None
        n = normalize(name)
        getattr(self, level).add(n)
        return n


@dataclass
class ParsedAddress:
    """The parts of one address. ``building`` is the comparable key (:func:`building_key`),
    ``room`` the canonical room number; ``floor_from_room`` says the floor was read off the
    room number (``1502`` → 15) and ``room_from_position`` that the room was built from an
    explicit floor and a position on it (``5楼1号`` → 501)."""

    raw: str
    text: str
    province: str | None = None
    city: str | None = None
    district: str | None = None
    street: str | None = None
    community: str | None = None
    group: str | None = None
    road: str | None = None
    road_no: str | None = None
    compound: str | None = None
    middle: str | None = None
    building: str | None = None
    building_suffix: str | None = None
    unit: int | None = None
    floor: int | None = None
    room: str | None = None
    room_text: str | None = None
    position: str | None = None
    floor_from_room: bool = False
    room_from_position: bool = False
    floor_conflict: bool = False
    rest: str | None = None
    compound_known: bool = False
    parse_confidence: float = 1.0

    @property
    def has_area(self) -> bool:
        return any((self.district, self.street, self.community))

    @property
    def dwelling_level(self) -> bool:
        """Whether the address names something below the compound (a building at least)."""
        return self.building is not None or (self.road is not None and self.road_no is not None)

    def elements(self) -> list[tuple[str, str, str]]:
        """``(element type, level, value)`` of the parts present, largest first."""
        out = []
        for level in (
            "province",
            "city",
            "district",
            "street",
            "community",
            "group",
            "road",
            "compound",
            "building",
            "unit",
            "floor",
            "room",
        ):
            v = getattr(self, level)
            if level == "road" and v and self.road_no:
                v = f"{v}{self.road_no}号"
            if level == "room" and v is None:
                v = self.room_text or self.position
            if v is not None:
                out.append((ELEMENT_TYPES[level], level, str(v)))
        return out

    def to_dict(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False, "")}


def _area(
    level: str,
    text: str,
    pos: int,
    table: NameTable | None,
    rx: re.Pattern[str],
    bad: tuple[str, ...] = (),
    compounds: NameTable | None = None,
) -> tuple[str | None, int, bool]:
    """(name, new position, known) of one area level at ``pos``."""
    if table is not None:
        name = table.match(text, pos)
        if name is not None and compounds is not None:
            longer = compounds.match(text, pos)
            if longer is not None and len(longer) > len(name):
                return None, pos, False  # 红旗小区 is a compound, not the village 红旗村
            end = pos + len(name)
            for tail in COMMITTEE_SUFFIXES:
                if text.startswith(tail, end):
                    end += len(tail)
                    break
            return name, end, True
        if compounds is not None and compounds.match(text, pos) is not None:
            return None, pos, False
    m = rx.match(text, pos)
    if m is None:
        return None, pos, False
    name = m.group("n")
    if any(name.endswith(b) for b in bad) or _BAD_CHARS[level].intersection(name[:-2]):
        return None, pos, False
    return name, m.end(), False


def parse(raw: str | None, gazetteer: Gazetteer | None = None, *, text: str | None = None) -> ParsedAddress:
    """Split an address into its parts (see the module docstring); ``text``: ``normalize(raw)``
    when the caller has it already."""
    text = normalize(raw) if text is None else text
    p = ParsedAddress(raw=raw or "", text=text)
    if not text:
        p.parse_confidence = 0.0
        return p
    g = gazetteer
    cmp = g.compounds if g else None
    pos = 0
    unknown_area = 0
    p.city, pos, _ = _area("city", text, pos, g.cities if g else None, _CITY)
    p.district, pos, known = _area("district", text, pos, g.districts if g else None, _DISTRICT, _NOT_DISTRICT, cmp)
    unknown_area += bool(p.district and g and not known)
    p.street, pos, known = _area("street", text, pos, g.streets if g else None, _STREET, (), cmp)
    unknown_area += bool(p.street and g and not known)
    p.community, pos, known = _area("community", text, pos, g.communities if g else None, _COMMUNITY, (), cmp)
    unknown_area += bool(p.community and g and not known)
    if p.community and text.startswith("社区", pos):  # "新华社区社区" written twice
        pos += 2
    m = _GROUP.match(text, pos)
    if m:
        p.group = m.group("g")
        pos = m.end()

    m = _ROAD.match(text, pos)
    if m:
        p.road, p.road_no = m.group("road"), str(int(m.group("no")))
        pos = m.end()
        if m.group("yard"):
            p.compound = f"{p.road}{p.road_no}号院"
    if p.compound is None and g is not None:
        name = g.compounds.match(text, pos)
        if name is not None:
            p.compound, pos, p.compound_known = name, pos + len(name), True

    # the building: a dash triple at the end, or a number with a building marker
    m3 = _DASH3.search(text, pos)
    mb = None if m3 else _BUILDING.search(text, pos)
    start = m3.start() if m3 else (mb.start() if mb else None)
    if start is None:
        # no building: a house number on a lane (门牌), a bungalow, or an area-only address
        tail = text[pos:]
        ms = _SPECIAL.search(tail)
        if ms:
            p.room_text = ms.group("s")
            tail = tail[: ms.start()] + tail[ms.end() :]
        if tail:
            if p.compound is None and tail.endswith(COMPOUND_SUFFIXES):
                p.compound = tail
            elif p.compound is None:
                p.middle = tail
            else:
                p.rest = tail
        p.parse_confidence = 0.6 if p.road_no else 0.4
        if not p.has_area and p.compound is None and p.road is None:
            p.parse_confidence = 0.2
        p.parse_confidence -= 0.1 * unknown_area
        return p
    # text between the area (or compound) and the building number: an unknown compound name, a
    # building prefix (平房区12号) or a remark after the compound (东区); the matcher decides
    p.middle = text[pos:start] or None
    if p.compound is None and p.middle and p.middle.endswith(COMPOUND_SUFFIXES):
        p.compound, p.middle = p.middle, None
    if m3:
        p.building = _num(m3.group("b"))
        p.building_suffix = "-"
        p.unit = int(m3.group("u"))
        _set_room(p, m3.group("r"))
        rest = ""
    else:
        assert mb is not None
        p.building = _num(mb.group("b"))
        p.building_suffix = mb.group("bs")
        rest = _tail(p, text[mb.end() :])
    conf = 1.0
    if rest:
        p.rest = rest
        conf -= 0.2
    if p.unit is None and p.room is not None:
        conf -= 0.1
    if p.room is None and p.room_text is None and p.position is None:
        conf -= 0.2
    if p.compound is None and not p.middle:
        conf -= 0.3
    conf -= 0.1 * unknown_area
    p.parse_confidence = round(max(conf, 0.0), 2)
    return p


def _set_room(p: ParsedAddress, r: str) -> None:
    room = canonical_room(r)
    p.room = room
    if room and room.isdigit() and len(room) >= 3 and p.floor is None:
        p.floor = int(room[:-2])
        p.floor_from_room = True


def _tail(p: ParsedAddress, rest: str) -> str:
    """Read unit, floor, room / position after the building; returns what was not understood."""
    pos = 0
    m = _UNIT_ROOM.match(rest, pos)
    if m and m.end() == len(rest):
        p.unit = int(m.group("u"))
        _set_room(p, m.group("r"))
        return ""
    m = _UNIT.match(rest, pos)
    if m:
        p.unit = int(m.group("u"))
        pos = m.end()
    m = _FLOOR.match(rest, pos)
    explicit_floor = None
    if m:
        explicit_floor = int(m.group("f")) * (-1 if m.group("neg") else 1)
        pos = m.end()
    m = _ROOM.match(rest, pos)
    if m:
        r = canonical_room(m.group("r"))
        pos = m.end()
        if explicit_floor is not None and r is not None and r.isdigit() and int(r) < 100:
            # 5楼1号: the first dwelling of floor 5 → 501
            p.floor = explicit_floor
            p.room = str(explicit_floor * 100 + int(r)) if explicit_floor > 0 else r
            p.room_from_position = True
        else:
            _set_room(p, r or "")
            if explicit_floor is not None:
                if p.floor_from_room and p.floor != explicit_floor:
                    p.floor_conflict = True
                p.floor = explicit_floor
                p.floor_from_room = False
    elif explicit_floor is not None:
        p.floor = explicit_floor
    m = _POSITION.match(rest, pos)
    if m:
        p.position = m.group("pos")
        pos = m.end()
    m = _SPECIAL.match(rest, pos)
    if m:
        p.room_text = m.group("s")
        pos = m.end()
    return rest[pos:]
