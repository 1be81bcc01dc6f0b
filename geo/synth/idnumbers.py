"""Vectorised 18-digit ID numbers (GB 11643-1999) for synthetic people.

Region codes are real 6-digit Inner Mongolia county codes from the division file (Hohhot mostly),
with a few retired codes for people registered before the 1999-2003 re-organisations. The check
character is the ISO 7064 MOD 11-2 one; :func:`geo.ids.parse` accepts every number made here.
"""

from __future__ import annotations

import numpy as np

from geo.ids import CHECK_CHARS, WEIGHTS
from geo.synth import divisions

_W = np.array(WEIGHTS, dtype=np.int64)
_CHECK = np.array(list(CHECK_CHARS), dtype=object)

#: weights of region groups for residents whose family registered in Hohhot or elsewhere
HOHHOT_URBAN = {"150102": 30, "150103": 12, "150104": 10, "150105": 22}
HOHHOT_RURAL = {"150121": 5, "150122": 2, "150123": 2, "150124": 1, "150125": 2}
#: leagues (2-4 digit prefixes) and their weights for people from elsewhere; Mongols more often
#: come from the pastoral leagues
LEAGUES_GENERAL = {
    "1502": 10,
    "1509": 14,
    "1506": 6,
    "1508": 5,
    "1504": 5,
    "1505": 4,
    "1507": 3,
    "1503": 3,
    "1522": 2,
    "1525": 3,
    "1529": 1,
}
LEAGUES_MONGOL = {
    "1502": 4,
    "1509": 6,
    "1506": 6,
    "1508": 3,
    "1504": 6,
    "1505": 10,
    "1507": 5,
    "1503": 1,
    "1522": 6,
    "1525": 12,
    "1529": 2,
}


def _pool(weights: dict[str, float], counties: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    codes, w = [], []
    for prefix, wt in weights.items():
        members = sorted(c for c in counties if c.startswith(prefix))
        for c in members:
            codes.append(c)
            w.append(wt / len(members))
    arr = np.array(w, dtype=float)
    return np.array(codes, dtype=object), arr / arr.sum()


class RegionPools:
    """Weighted pools of county codes: ``local`` (Hohhot), ``elsewhere`` and ``elsewhere_mongol``."""

    def __init__(self, home: str = "150102") -> None:
        counties = divisions.county_codes()
        local = dict(HOHHOT_URBAN)
        local[home] = local.get(home, 0) + 25
        local.update(HOHHOT_RURAL)
        self.home = home
        self.local = _pool(local, counties)
        self.elsewhere = _pool({**LEAGUES_GENERAL, "150121": 4, "150125": 2, "150123": 2}, counties)
        self.elsewhere_mongol = _pool(LEAGUES_MONGOL, counties)
        self.retired = np.array(sorted(divisions.RETIRED_COUNTY_CODES), dtype=object)
        self.valid = frozenset(counties) | frozenset(self.retired)

    def draw(self, rng: np.random.Generator, pool: str, n: int) -> np.ndarray:
        codes, p = getattr(self, pool)
        return codes[rng.choice(len(codes), size=n, p=p)]


def check_chars(first17: np.ndarray) -> np.ndarray:
    """Check characters for an array of 17-digit strings."""
    digits = np.frombuffer("".join(first17).encode("ascii"), dtype=np.uint8).reshape(-1, 17) - 48
    return _CHECK[(digits.astype(np.int64) * _W).sum(axis=1) % 11]


def first17(id_number: str) -> int:
    """The key :func:`make_ids` keeps in ``taken``: the first 17 digits as an integer."""
    return int(id_number[:17])


def make_ids(
    region: np.ndarray, birth: np.ndarray, male: np.ndarray, rng: np.random.Generator, taken: set[int]
) -> np.ndarray:
    """ID numbers for people with ``region`` codes, ``birth`` dates (datetime64[D]) and sex.

    The 3-digit sequence is odd for men, even for women (never 000). ``taken`` holds the first 17
    digits (as ints, see :func:`first17`) of numbers already issued; it is updated, and a number
    already taken is drawn again.
    """
    n = len(region)
    birth = np.asarray(birth, dtype="datetime64[D]")
    y = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    m = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    base = np.array([int(r) for r in region], dtype=np.int64) * 10**11 + (y * 10000 + m * 100 + d) * 1000
    male = np.asarray(male, dtype=bool)
    key = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    for _ in range(200):
        seq = rng.integers(1, 500, todo.size) * 2 - np.where(male[todo], 1, 0)  # odd 1..997, even 2..998
        cand = base[todo] + seq
        retry = []
        for j, v in zip(todo.tolist(), cand.tolist(), strict=True):
            if v in taken:
                retry.append(j)
            else:
                taken.add(v)
                key[j] = v
        todo = np.array(retry, dtype=np.int64)
        if todo.size == 0:
            break
    if todo.size:
        raise RuntimeError(
            f"{todo.size} people share a region, birth date and sex with 499 others already: "
            "no free ID sequence number left"
        )
    if n == 0:
        return np.array([], dtype=object)
    first = [f"{k:017d}" for k in key.tolist()]
    return np.array([f + c for f, c in zip(first, check_chars(first), strict=True)], dtype=object)
