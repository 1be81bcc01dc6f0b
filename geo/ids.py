"""Citizen ID numbers (公民身份号码, GB 11643-1999): validation, legacy upgrade and masking.

An 18-digit number is a 6-digit region code, an 8-digit birth date, a 3-digit sequence (odd for
men, even for women) and a check character computed with ISO 7064 MOD 11-2. Old records still
hold 15-digit numbers (2-digit year, no check character); :func:`upgrade_15` turns them into the
18-digit form.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"

_RE18 = re.compile(r"^\d{17}[\dX]$")
_RE15 = re.compile(r"^\d{15}$")
_FULLWIDTH = str.maketrans("０１２３４５６７８９ｘＸ", "0123456789XX")


class InvalidIdNumber(ValueError):
    """An ID number that fails validation; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class IdNumber:
    """A validated 18-digit ID number and what it encodes."""

    value: str
    region: str
    birth_date: dt.date
    sex: str  # "男" or "女"
    upgraded_from_15: bool = False


def check_char(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("check_char needs exactly 17 digits")
    s = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[s % 11]


def normalize(raw: str) -> str:
    """Strip blanks, turn full-width digits and a lower-case x into their ASCII form."""
    return re.sub(r"\s+", "", raw or "").translate(_FULLWIDTH).upper()


def upgrade_15(old: str) -> str:
    """Turn a 15-digit legacy number (region, YYMMDD, sequence) into its 18-digit form.

    Legacy numbers were issued to people born in the 1900s, so the century is 19.
    """
    if not _RE15.match(old):
        raise InvalidIdNumber("id_format", "a legacy ID number has exactly 15 digits")
    first17 = old[:6] + "19" + old[6:]
    return first17 + check_char(first17)


def parse(raw: str, *, today: dt.date | None = None, regions: frozenset[str] | None = None) -> IdNumber:
    """Validate an ID number and return what it encodes.

    Raises :class:`InvalidIdNumber` with ``code`` one of ``id_missing``, ``id_format``,
    ``id_checksum``, ``id_birth_date``, ``id_region``.
    ``regions``, when given, is the set of acceptable 2-digit province prefixes or 6-digit codes.
    """
    value = normalize(raw)
    if not value:
        raise InvalidIdNumber("id_missing", "the ID number is empty")
    upgraded = False
    if _RE15.match(value):
        value = upgrade_15(value)
        upgraded = True
    if not _RE18.match(value):
        raise InvalidIdNumber(
            "id_format",
            f"an ID number has 18 characters (17 digits and a check digit), got {len(value)}",
        )
    expected = check_char(value[:17])
    if value[17] != expected:
        raise InvalidIdNumber("id_checksum", "the check digit does not match (ISO 7064 MOD 11-2)")
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidIdNumber("id_birth_date", f"the birth date {value[6:14]} does not exist") from None
    today = today or dt.date.today()
    if birth > today or birth.year < 1880:
        raise InvalidIdNumber("id_birth_date", f"the birth date {birth.isoformat()} is out of range")
    region = value[:6]
    if regions is not None and region not in regions and region[:2] not in regions:
        raise InvalidIdNumber("id_region", f"the region code {region} is not a known region")
    sex = "男" if int(value[16]) % 2 == 1 else "女"
    return IdNumber(value, region, birth, sex, upgraded)


def is_valid(raw: str) -> bool:
    """Return whether ``raw`` is a valid 18- or 15-digit ID number."""
    try:
        parse(raw)
    except InvalidIdNumber:
        return False
    return True


def make(region: str, birth: dt.date, sequence: int) -> str:
    """Build a valid 18-digit number (for synthetic data and tests)."""
    if not (len(region) == 6 and region.isdigit()) or not 0 <= sequence <= 999:
        raise ValueError("region must be 6 digits and sequence 0..999")
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_char(first17)


def mask(value: str) -> str:
    """Mask an ID number for display: region code and last 4 kept (``150102********1237``)."""
    v = normalize(value)
    if len(v) < 10:
        return "*" * len(v)
    return v[:6] + "*" * (len(v) - 10) + v[-4:]


def mask_name(name: str) -> str:
    """Mask a personal name for viewers: ``张*明``, ``王*``, ``巴**尔``."""
    if not name:
        return name
    if len(name) == 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str) -> str:
    """Mask a phone number: ``138****5678``."""
    p = re.sub(r"\D", "", phone or "")
    if len(p) < 7:
        return "*" * len(p)
    return p[:3] + "*" * (len(p) - 7) + p[-4:]
