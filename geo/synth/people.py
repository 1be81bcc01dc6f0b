"""Residents: families in occupied dwellings, with ID numbers, names, care tags and addresses.

Households are drawn from templates (a single elderly person, a couple with a child, three
generations, young tenants sharing a flat…), so relations are real families: one 户主 per
household, a spouse of the other sex and similar age, children 20-38 years younger than their
mother, parents 22-35 years older than the head. Owner-occupied (自住) dwellings hold families,
let (出租) ones mostly 流动 tenants; vacant (空置) and shop (商用) dwellings hold nobody.

Everything is vectorised per template, so the city case (millions of people) runs in chunks:
:func:`iter_persons` yields one DataFrame per chunk of dwellings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.synth import address as addr
from geo.synth.idnumbers import RegionPools, make_ids
from geo.synth.names import han_given, is_mongolian_style, mongolian_names, surnames
from geo.synth.seeds import rng_for

#: the date ages and birth dates refer to (the data's "as of" date)
REF_DATE = np.datetime64("2024-06-30")

COLUMNS = (
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
RELATION = {
    "H": "户主",
    "S": "配偶",
    "C": "子女",
    "C2": "子女",
    "P": "父母",
    "P2": "父母",
    "G": "孙子女",
    "B": "兄弟姐妹",
    "O": "其他",
    "R": "其他",
    "R2": "其他",
    "X": "其他",
}
CARE_TAGS = ("独居老人", "空巢老人", "残疾人", "低保户", "留守儿童", "退役军人", "重病患者")
ETHNICITIES = ("汉族", "蒙古族", "回族", "满族", "达斡尔族")
#: share of unlinked residents (no dwelling found for their address): 1 − 99.4 %
UNLINKED_SHARE = 0.006


@dataclass(frozen=True)
class Template:
    name: str
    roles: tuple[str, ...]
    head_age: tuple[float, float]
    head_male: float
    weight: float


OWNER_TEMPLATES = (
    Template("single_young", ("H",), (22, 40), 0.55, 0.06),
    Template("single_mid", ("H",), (40, 60), 0.5, 0.04),
    Template("single_old", ("H",), (60, 93), 0.35, 0.075),
    Template("couple_young", ("H", "S"), (23, 37), 0.75, 0.06),
    Template("couple_mid", ("H", "S"), (37, 60), 0.75, 0.06),
    Template("couple_old", ("H", "S"), (60, 89), 0.8, 0.12),
    Template("family1", ("H", "S", "C"), (27, 57), 0.75, 0.25),
    Template("family2", ("H", "S", "C", "C2"), (30, 52), 0.75, 0.09),
    Template("single_parent", ("H", "C"), (28, 56), 0.25, 0.04),
    Template("three_gen_up", ("H", "S", "C", "O", "G"), (55, 78), 0.8, 0.035),
    Template("three_gen_down", ("H", "S", "C", "P"), (33, 56), 0.75, 0.05),
    Template("three_gen_down2", ("H", "S", "C", "P", "P2"), (33, 52), 0.75, 0.015),
    Template("skipped_gen", ("H", "S", "G"), (55, 76), 0.8, 0.01),
    Template("siblings", ("H", "B"), (20, 42), 0.55, 0.015),
    Template("family_other", ("H", "S", "C", "X"), (30, 56), 0.75, 0.02),
)
RENTER_TEMPLATES = (
    Template("tenant", ("H",), (19, 46), 0.6, 0.42),
    Template("tenant_couple", ("H", "S"), (20, 46), 0.75, 0.25),
    Template("tenant_family", ("H", "S", "C"), (24, 46), 0.75, 0.18),
    Template("tenants_sharing", ("H", "R"), (18, 36), 0.55, 0.09),
    Template("tenants_sharing3", ("H", "R", "R2"), (18, 34), 0.55, 0.06),
)
PHONE_PREFIXES = np.array(
    [
        130,
        131,
        132,
        133,
        135,
        136,
        137,
        138,
        139,
        147,
        150,
        151,
        152,
        153,
        155,
        156,
        157,
        158,
        159,
        166,
        175,
        176,
        177,
        178,
        180,
        181,
        182,
        183,
        185,
        186,
        187,
        188,
        189,
        191,
        198,
        199,
    ]
)
ETH_P_OWNER = (0.835, 0.14, 0.015, 0.008, 0.002)
ETH_P_RENTER = (0.86, 0.12, 0.012, 0.006, 0.002)


def _draw_eth(rng: np.random.Generator, n: int, p=ETH_P_OWNER) -> np.ndarray:
    return np.array(ETHNICITIES, dtype=object)[rng.choice(len(ETHNICITIES), size=n, p=np.asarray(p))]


def _spouse_eth(rng: np.random.Generator, head: np.ndarray) -> np.ndarray:
    out = head.copy()
    u = rng.random(len(head))
    out[(head == "蒙古族") & (u < 0.2)] = "汉族"
    out[(head == "汉族") & (u < 0.03)] = "蒙古族"
    out[(head == "汉族") & (u >= 0.03) & (u < 0.04)] = "满族"
    out[(head == "回族") & (u < 0.15)] = "汉族"
    out[(head == "满族") & (u < 0.4)] = "汉族"
    out[(head == "达斡尔族") & (u < 0.4)] = "蒙古族"
    return out


def _child_eth(a: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """Children of a mixed couple are registered 蒙古族 / 达斡尔族 / 回族 / 满族 before 汉族."""
    b = a if b is None else b
    out = np.full(len(a), "汉族", dtype=object)
    for eth in ("满族", "回族", "达斡尔族", "蒙古族"):
        out[(a == eth) | (b == eth)] = eth
    return out


def _uniform(rng: np.random.Generator, lo, hi, n: int) -> np.ndarray:
    """Uniform ages in [lo, hi]; where the range is empty, within half a year above ``lo``."""
    lo = np.broadcast_to(np.asarray(lo, dtype=float), (n,))
    hi = np.broadcast_to(np.asarray(hi, dtype=float), (n,))
    return lo + np.maximum(hi - lo, 0.5) * rng.random(n)


def _at_least(rng: np.random.Generator, age: np.ndarray, floor) -> np.ndarray:
    """Raise ages below ``floor`` to a random age just above it (no pile-up on one birth date)."""
    floor = np.broadcast_to(np.asarray(floor, dtype=float), age.shape)
    return np.where(age < floor, floor + 3.0 * rng.random(age.shape), age)


class _Members:
    """Role arrays for the households of one template."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.age: dict[str, np.ndarray] = {}
        self.male: dict[str, np.ndarray] = {}
        self.eth: dict[str, np.ndarray] = {}


def _template_members(t: Template, n: int, hh_eth: np.ndarray, rng: np.random.Generator) -> _Members:
    m = _Members(n)
    age, male, eth = m.age, m.male, m.eth
    age["H"] = _uniform(rng, t.head_age[0], t.head_age[1], n)
    male["H"] = rng.random(n) < t.head_male
    eth["H"] = hh_eth
    if "S" in t.roles:
        male["S"] = ~male["H"]
        age["S"] = age["H"] + np.where(male["H"], -2.5, 2.5) + rng.normal(0, 3, n)
        age["S"] = _at_least(rng, age["S"], np.where(male["S"], 22.0, 21.0))
        eth["S"] = _spouse_eth(rng, hh_eth)
    # the mother of the head's children
    if "S" in t.roles:
        mother = np.where(male["H"], age["S"], age["H"])
    else:
        mother = np.where(male["H"], age["H"] - 2.0, age["H"])
    if "C" in t.roles:
        lo_gap = 24.0 if "G" in t.roles else 0.0
        age["C"] = _uniform(rng, np.maximum(lo_gap, mother - 38), mother - 21, n)
        male["C"] = rng.random(n) < 0.51
        eth["C"] = _child_eth(eth["H"], eth.get("S"))
    if "C2" in t.roles:
        age["C2"] = _uniform(rng, np.maximum(0.0, mother - 40), mother - 21, n)
        male["C2"] = rng.random(n) < 0.51
        eth["C2"] = eth["C"]
    if "O" in t.roles:  # the child's spouse (儿媳 / 女婿)
        male["O"] = ~male["C"]
        age["O"] = _at_least(rng, age["C"] + rng.normal(0, 2.5, n), np.where(male["O"], 22.0, 21.0))
        eth["O"] = _draw_eth(rng, n)
    if "G" in t.roles:
        if "C" in t.roles:
            gm = np.where(male["C"], age["O"], age["C"])
            age["G"] = _uniform(rng, np.maximum(0.0, gm - 36), np.maximum(0.5, gm - 21), n)
            eth["G"] = _child_eth(eth["C"], eth["O"])
        else:  # grandparents raising a grandchild whose parents work elsewhere
            age["G"] = _uniform(rng, 3.0, 15.5, n)
            eth["G"] = _child_eth(eth["H"], eth.get("S"))
        male["G"] = rng.random(n) < 0.51
    if "P" in t.roles:
        age["P"] = age["H"] + _uniform(rng, 22, 35, n)
        male["P"] = rng.random(n) < 0.4
        eth["P"] = eth["H"]
    if "P2" in t.roles:
        male["P2"] = ~male["P"]
        age["P2"] = _at_least(rng, age["P"] + rng.normal(0, 3, n), age["H"] + 20)
        eth["P2"] = eth["H"]
    if "B" in t.roles:
        age["B"] = _at_least(rng, age["H"] + _uniform(rng, -8, 8, n), 16.0)
        male["B"] = rng.random(n) < 0.5
        eth["B"] = eth["H"]
    for r in ("R", "R2"):
        if r in t.roles:
            age[r] = _uniform(rng, 18, 38, n)
            male[r] = np.where(rng.random(n) < 0.7, male["H"], rng.random(n) < 0.5)
            eth[r] = _draw_eth(rng, n, ETH_P_RENTER)
    if "X" in t.roles:
        age["X"] = _uniform(rng, 16, 70, n)
        male["X"] = rng.random(n) < 0.45
        eth["X"] = eth["H"]
    return m


def _names(
    t: Template, m: _Members, rng: np.random.Generator, birth_year: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Names per role: Mongolian-style for most Mongols, else surname + era-typical given name."""
    n = m.n
    mongol_style: dict[str, np.ndarray] = {}
    sur: dict[str, np.ndarray] = {}
    roles = list(dict.fromkeys(t.roles))
    for r in roles:
        e = m.eth[r]
        u = rng.random(n)
        mongol_style[r] = ((e == "蒙古族") & (u < 0.85)) | ((e == "达斡尔族") & (u < 0.5))
        sur[r] = surnames(rng, e)

    def inherit(child: str, fathers: list[str]) -> None:
        # a child takes the surname of a Chinese-named father
        for f in fathers:
            if f in sur:
                ok = m.male[f] & ~mongol_style[f]
                sur[child] = np.where(ok, sur[f], sur[child])

    for c in ("C", "C2"):
        if c in sur:
            inherit(c, ["S", "H"])  # the head wins when both are male-named
    if "G" in sur:
        inherit("G", ["O", "C"] if "C" in sur else ["S", "H"])
    if "B" in sur:
        sur["B"] = np.where(~mongol_style["H"], sur["H"], sur["B"])
    if "P" in sur:
        sur["P"] = np.where(m.male["P"] & m.male["H"] & ~mongol_style["H"], sur["H"], sur["P"])
    if "P2" in sur:
        sur["P2"] = np.where(m.male["P2"] & m.male["H"] & ~mongol_style["H"], sur["H"], sur["P2"])

    out = {}
    for r in roles:
        han = sur[r] + han_given(rng, birth_year[r], m.male[r])
        mon = mongolian_names(rng, m.male[r])
        out[r] = np.where(mongol_style[r], mon, han)
    return out


def _phones(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    n = len(age)
    prefix = PHONE_PREFIXES[rng.integers(0, len(PHONE_PREFIXES), n)]
    rest = rng.integers(0, 10**8, n)
    phone = np.array([f"{p}{r:08d}" for p, r in zip(prefix.tolist(), rest.tolist(), strict=True)], dtype=object)
    p_empty = np.where(age < 12, 1.0, np.where(age < 18, 0.5, np.where(age >= 80, 0.35, 0.03)))
    phone[rng.random(n) < p_empty] = ""
    return phone


@dataclass
class _Chunk:
    """Person arrays for one chunk, before they become a DataFrame."""

    hh: np.ndarray
    order: np.ndarray
    role: np.ndarray
    template: np.ndarray
    age: np.ndarray
    male: np.ndarray
    eth: np.ndarray
    name: np.ndarray


def _people_of(occupied: pd.DataFrame, rng: np.random.Generator) -> _Chunk:
    n = len(occupied)
    rented = occupied["use"].to_numpy() == "出租"
    tmpl_idx = np.empty(n, dtype=np.int64)
    for flag, templates, offset in (
        (False, OWNER_TEMPLATES, 0),
        (True, RENTER_TEMPLATES, len(OWNER_TEMPLATES)),
    ):
        sel = np.flatnonzero(rented == flag)
        w = np.array([t.weight for t in templates])
        tmpl_idx[sel] = offset + rng.choice(len(templates), size=sel.size, p=w / w.sum())
    all_templates = OWNER_TEMPLATES + RENTER_TEMPLATES
    parts = []
    for ti, t in enumerate(all_templates):
        hh = np.flatnonzero(tmpl_idx == ti)
        if hh.size == 0:
            continue
        hh_eth = _draw_eth(rng, hh.size, ETH_P_RENTER if ti >= len(OWNER_TEMPLATES) else ETH_P_OWNER)
        m = _template_members(t, hh.size, hh_eth, rng)
        birth_year = {r: (2024.5 - a).astype(int) for r, a in m.age.items()}
        names = _names(t, m, rng, birth_year)
        for k, r in enumerate(t.roles):
            parts.append(
                _Chunk(
                    hh,
                    np.full(hh.size, k),
                    np.full(hh.size, r, dtype=object),
                    np.full(hh.size, t.name, dtype=object),
                    m.age[r],
                    m.male[r],
                    m.eth[r],
                    names[r],
                )
            )
    cat = {f: np.concatenate([getattr(p, f) for p in parts]) for f in _Chunk.__dataclass_fields__}
    order = np.lexsort((cat["order"], cat["hh"]))
    return _Chunk(**{f: v[order] for f, v in cat.items()})


def _fix_han_names(rng: np.random.Generator, ch: _Chunk, birth_year: np.ndarray) -> None:
    """Redraw the rare Chinese-style name that happens to read as a Mongolian one."""
    for _ in range(10):
        han = ~np.isin(ch.eth, ("蒙古族", "达斡尔族"))
        uniq, inv = np.unique(ch.name[han].astype(str), return_inverse=True)
        looks = np.array([is_mongolian_style(x) for x in uniq], dtype=bool)
        bad = np.flatnonzero(han)[looks[inv]] if uniq.size else np.array([], dtype=np.int64)
        if bad.size == 0:
            return
        ch.name[bad] = np.array([s[0] for s in ch.name[bad]], dtype=object) + han_given(
            rng, birth_year[bad], ch.male[bad]
        )


def _regions(
    rng: np.random.Generator,
    pools: RegionPools,
    ch: _Chunk,
    rented_hh: np.ndarray,
    home: np.ndarray,
    birth_year: np.ndarray,
) -> np.ndarray:
    n_h = len(rented_hh)
    mongol_hh = np.zeros(n_h, dtype=bool)
    heads = ch.order == 0
    mongol_hh[ch.hh[heads]] = ch.eth[heads] == "蒙古族"
    away = np.where(rented_hh, rng.random(n_h) < 0.88, rng.random(n_h) < np.where(mongol_hh, 0.4, 0.22))
    origin = pools.draw(rng, "local", n_h)
    far = np.flatnonzero(away & ~mongol_hh)
    origin[far] = pools.draw(rng, "elsewhere", far.size)
    far_m = np.flatnonzero(away & mongol_hh)
    origin[far_m] = pools.draw(rng, "elsewhere_mongol", far_m.size)

    n = len(ch.hh)
    region = origin[ch.hh].copy()
    u = rng.random(n)
    # spouses, parents, tenants sharing and relatives often come from elsewhere
    other = np.isin(ch.role, ("S", "P", "P2", "O", "R", "R2", "X")) & (u < 0.4)
    idx = np.flatnonzero(other)
    region[idx] = np.where(
        rng.random(idx.size) < 0.5,
        pools.draw(rng, "local", idx.size),
        pools.draw(rng, "elsewhere", idx.size),
    )
    # children and grandchildren of resident families were mostly born here
    kids = np.isin(ch.role, ("C", "C2", "G")) & ~rented_hh[ch.hh] & (u < 0.75) & (birth_year >= 1985)
    region[kids] = home[ch.hh[kids]]
    retired = (birth_year < 1999) & (rng.random(n) < 0.02)
    region[retired] = pools.retired[rng.integers(0, len(pools.retired), int(retired.sum()))]
    return region


def _care_tags(
    rng: np.random.Generator,
    ch: _Chunk,
    size: np.ndarray,
    bungalow_hh: np.ndarray,
    rented_hh: np.ndarray,
) -> np.ndarray:
    n = len(ch.hh)
    age = ch.age
    hh_u = rng.random(len(size))
    tags = {
        "独居老人": (size[ch.hh] == 1) & (age >= 60) & (rng.random(n) < 0.9),
        "空巢老人": (ch.template == "couple_old") & (age >= 60) & (hh_u[ch.hh] < 0.6),
        "残疾人": rng.random(n) < 0.012 + 0.035 * (age >= 60),
        "低保户": rng.random(len(size))[ch.hh] < np.where(bungalow_hh, 0.05, np.where(rented_hh, 0.005, 0.012))[ch.hh],
        "留守儿童": (ch.role == "G") & (ch.template == "skipped_gen") & (age < 16) & (hh_u[ch.hh] < 0.85),
        "退役军人": np.where(
            ch.male,
            (age >= 30) & (age < 86) & (rng.random(n) < 0.035),
            (age >= 25) & (age < 60) & (rng.random(n) < 0.002),
        ),
        "重病患者": rng.random(n) < 0.003 + 0.012 * (age >= 60),
    }
    # an elderly couple can be 空巢 only when both are 60+
    both_old = np.zeros(len(size), dtype=bool)
    co = ch.template == "couple_old"
    old_count = np.bincount(ch.hh[co & (age >= 60)], minlength=len(size))
    both_old[old_count == 2] = True
    tags["空巢老人"] &= both_old[ch.hh]
    out = np.full(n, "", dtype=object)
    any_tag = np.zeros(n, dtype=bool)
    for t in CARE_TAGS:
        any_tag |= tags[t]
    for i in np.flatnonzero(any_tag):
        out[i] = ";".join(t for t in CARE_TAGS if tags[t][i])
    return out


def _district_prefix(area: str) -> str:
    """市+区 part of a 市区街道社区 prefix (up to the first 区/旗/县/市 after the city)."""
    city_end = area.find("市") + 1
    for i in range(city_end, len(area)):
        if area[i] in "区旗县市":
            return area[: i + 1]
    return area[:city_end]


def persons_for(
    dwellings: pd.DataFrame,
    rng: np.random.Generator,
    pools: RegionPools,
    taken: set[int],
    *,
    unlinked_share: float = UNLINKED_SHARE,
) -> pd.DataFrame:
    """The residents of ``dwellings`` (a frame from :func:`geo.synth.dwellings.make_dwellings`)."""
    occ = dwellings[dwellings["use"].isin(("自住", "出租"))].reset_index(drop=True)
    ch = _people_of(occ, rng)
    n = len(ch.hh)
    birth = REF_DATE - np.round(ch.age * 365.2425).astype("timedelta64[D]")
    birth_year = birth.astype("datetime64[Y]").astype(int) + 1970
    _fix_han_names(rng, ch, birth_year)
    rented_hh = occ["use"].to_numpy() == "出租"
    bungalow_hh = occ["bungalow"].to_numpy(bool)
    home = np.array([c[:6] for c in occ["community_code"]], dtype=object)
    region = _regions(rng, pools, ch, rented_hh, home, birth_year)
    ids = make_ids(region, birth, ch.male, rng, taken)
    size = np.bincount(ch.hh, minlength=len(occ))

    # residence type: tenants are mostly 流动; relatives staying are 寄住
    res = np.full(n, "常住", dtype=object)
    u = rng.random(n)
    hukou_away = ~np.char.startswith(region.astype(str), "1501")
    res[~rented_hh[ch.hh] & hukou_away & (ch.age >= 16) & (u < 0.3)] = "流动"
    res[rented_hh[ch.hh] & (u < 0.8)] = "流动"
    staying = (
        (ch.role == "X") | (np.isin(ch.role, ("P", "P2")) & (u < 0.5)) | (np.isin(ch.role, ("B", "O")) & (u < 0.6))
    )
    res[staying] = "寄住"

    # addresses as the police hold them: the standard one, or an everyday variant
    kinds = addr.pick_variants(rng, n)
    cols = {c: occ[c].to_numpy(object) for c in ("community_code", "area", "compound", "number", "room", "dwelling_id")}
    ints = {c: occ[c].to_numpy(np.int64) for c in ("unit", "floor", "pos")}
    hh_area = cols["area"]
    district_of = {a: _district_prefix(a) for a in set(hh_area)}
    if "address" in occ:
        hh_std = occ["address"].to_numpy(object)
    else:
        hh_std = np.array(
            [
                addr.standard(a, c, nb, u_, r, bg)
                for a, c, nb, u_, r, bg in zip(
                    hh_area,
                    cols["compound"],
                    cols["number"],
                    ints["unit"].tolist(),
                    cols["room"],
                    bungalow_hh.tolist(),
                    strict=True,
                )
            ],
            dtype=object,
        )
    address = hh_std[ch.hh]
    for i in np.flatnonzero(kinds != "standard"):
        h = ch.hh[i]
        address[i] = addr.variant(
            kinds[i],
            area=hh_area[h],
            district=district_of[hh_area[h]],
            compound=cols["compound"][h],
            number=cols["number"][h],
            unit=int(ints["unit"][h]),
            floor=int(ints["floor"][h]),
            pos=int(ints["pos"][h]),
            room=cols["room"][h],
            bungalow=bool(bungalow_hh[h]),
        )
    area = hh_area[ch.hh]
    district = np.array([district_of[a] for a in area], dtype=object)
    compound = cols["compound"][ch.hh]
    dwelling_id = cols["dwelling_id"][ch.hh]

    # unlinked residents: their recorded address matches no dwelling
    k = int(round(unlinked_share * n))
    if k:
        cand = np.flatnonzero(ch.role != "H")
        pick = np.sort(rng.choice(cand, size=min(k, cand.size), replace=False))
        dwelling_id[pick] = ""
        for i in pick:
            r = rng.random()
            comp = compound[i]
            if r < 0.4 or not comp:
                address[i] = area[i]  # only the community is known
            elif r < 0.8:  # a building the register does not have
                address[i] = (
                    f"{district[i]}{comp}{int(rng.integers(40, 90))}号楼{int(rng.integers(1, 4))}单元{int(rng.integers(1, 7))}0{int(rng.integers(1, 3))}室"
                )
            else:
                address[i] = f"{district[i]}{comp}附近平房"

    return pd.DataFrame(
        {
            "id_number": ids,
            "name": ch.name,
            "sex": np.where(ch.male, "男", "女"),
            "ethnicity": ch.eth,
            "birth_date": np.datetime_as_string(birth, unit="D"),
            "phone": _phones(rng, ch.age),
            "residence_type": res,
            "relation": np.array([RELATION[r] for r in ch.role], dtype=object),
            "care_tags": _care_tags(rng, ch, size, bungalow_hh, rented_hh),
            "dwelling_id": dwelling_id,
            "address": address,
        },
        dtype=object,  # plain Python strings: no costly conversion of millions of rows
    )


def iter_persons(
    dwellings: pd.DataFrame,
    seed: int | np.random.Generator,
    *,
    chunk_size: int = 200_000,
    unlinked_share: float = UNLINKED_SHARE,
) -> Iterator[pd.DataFrame]:
    """Residents of ``dwellings`` chunk by chunk (``chunk_size`` dwellings each), IDs unique overall.

    ``dwellings`` is a frame from :func:`geo.synth.dwellings.make_dwellings` (it carries the
    address parts); each chunk is a DataFrame with the columns of persons.csv (:data:`COLUMNS`).
    """
    rng = rng_for(seed)
    pools = RegionPools()
    taken: set[int] = set()
    n_chunks = max(1, -(-len(dwellings) // chunk_size))
    for i, child in enumerate(rng.spawn(n_chunks)):
        part = dwellings.iloc[i * chunk_size : (i + 1) * chunk_size]
        yield persons_for(part, child, pools, taken, unlinked_share=unlinked_share)
