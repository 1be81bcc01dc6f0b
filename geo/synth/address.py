"""Standard addresses and the variants found in police records.

The standard form follows the 标准地址 hierarchy: 市 区 街道 社区 + 小区 楼栋 单元 室, e.g.
``呼和浩特市新城区中山东路街道新华社区幸福小区3号楼2单元501室``; a bungalow ends at its house
number (``…中山社区平房区12号``). Residents' addresses as the public-security system holds them
are mostly standard, the rest in everyday forms: ``3-2-501``, ``3栋2单元5楼1号``, ``三号楼``,
``6#楼``, full-width digits, the alias 呼市, or no unit.
"""

from __future__ import annotations

import re

import numpy as np

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_DIGITS = "零一二三四五六七八九"
CITY_ALIASES = {"呼和浩特市": "呼市", "包头市": "包市", "鄂尔多斯市": "鄂市"}

#: variant name → share of residents' addresses (the rest are standard)
VARIANTS: dict[str, float] = {
    "dash": 0.045,  # 幸福小区3-2-501
    "floor_pos": 0.03,  # 幸福小区3栋2单元5楼1号
    "chinese_numeral": 0.025,  # 幸福小区三号楼2单元501室
    "hash": 0.03,  # 幸福小区3#楼2单元501
    "fullwidth": 0.025,  # ３号楼２单元５０１室
    "alias": 0.04,  # 呼市新城区…
    "no_unit": 0.025,  # 幸福小区3号楼501室
}


def chinese_numeral(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 25 → 二十五, 103 → 一百零三."""
    if n < 10:
        return _DIGITS[n]
    if n < 20:
        return "十" + (_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return _DIGITS[n // 10] + "十" + (_DIGITS[n % 10] if n % 10 else "")
    rest = n % 100
    tail = "" if rest == 0 else ("零" + _DIGITS[rest] if rest < 10 else chinese_numeral(rest))
    if 10 <= rest < 20:
        tail = "一" + tail
    return _DIGITS[n // 100] + "百" + tail


def standard(area: str, compound: str, number: str, unit: int, room: str, bungalow: bool) -> str:
    """The standard address of a dwelling; ``area`` is 市+区+街道+社区."""
    if bungalow:
        return f"{area}{compound}{number}"
    return f"{area}{compound}{number}{unit}单元{room}室"


_NUM = re.compile(r"^(\d+)号楼$")


def variant(
    kind: str,
    *,
    area: str,
    district: str,
    compound: str,
    number: str,
    unit: int,
    floor: int,
    pos: int,
    room: str,
    bungalow: bool,
) -> str:
    """One resident address in the form ``kind`` (a key of :data:`VARIANTS` or ``standard``).

    ``district`` is 市+区 (police records often skip the street and community). Forms that need a
    numbered building (``3号楼``) fall back to the standard form for other buildings.
    """
    std = standard(area, compound, number, unit, room, bungalow)
    m = _NUM.match(number)
    if kind == "alias":
        for full, short in CITY_ALIASES.items():
            if std.startswith(full):
                return short + std[len(full) :]
        return std
    if kind == "fullwidth":
        return std.translate(FULLWIDTH)
    if bungalow or m is None:
        return std
    b = m.group(1)
    if kind == "dash":
        return f"{district}{compound}{b}-{unit}-{room}"
    if kind == "floor_pos":
        return f"{district}{compound}{b}栋{unit}单元{floor}楼{pos}号"
    if kind == "chinese_numeral":
        return f"{area}{compound}{chinese_numeral(int(b))}号楼{unit}单元{room}室"
    if kind == "hash":
        return f"{district}{compound}{b}#楼{unit}单元{room}"
    if kind == "no_unit":
        return f"{area}{compound}{number}{room}室"
    return std


def pick_variants(rng: np.random.Generator, n: int) -> np.ndarray:
    """The address form of each of ``n`` residents (``standard`` for most)."""
    kinds = ["standard", *VARIANTS]
    p = np.array([1.0 - sum(VARIANTS.values()), *VARIANTS.values()])
    return np.array(kinds, dtype=object)[rng.choice(len(kinds), size=n, p=p)]
