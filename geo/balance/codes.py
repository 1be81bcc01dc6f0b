"""Grid codes: ``<12-digit community code><3-digit sequence>`` (STANDARDS.md §1, §3).

Numbering of new grids, west→east, north→south ("reading order"):
    the community is cut into horizontal rows of height ``sqrt(community area / number of grids)``
    (the side of an average grid), counted from the community's northernmost point; grids are
    ordered by the row holding their centroid (north first), then by the centroid's easting (west
    first), then by northing (north first). Coordinates are those of the metric working CRS
    (a local UTM zone, north = +y).

Stability in a re-balance:
    an old code stays with the new grid that keeps most of its households (a greedy one-to-one
    matching on households kept, largest first); every other new grid gets a sequence above every
    sequence ever issued in the community (``issued`` codes, the existing codes and dedicated grids'
    codes), so a retired code is never reused. A new plan for a community with issued codes also
    starts above them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

import numpy as np

from geo.errors import InvalidInput

CODE12 = re.compile(r"^\d{12}$")
CODE15 = re.compile(r"^\d{15}$")
MAX_SEQ = 999


def check_community_code(code: object) -> str:
    """Return the 12-digit community code as a string, or raise :class:`InvalidInput`."""
    s = str(code).strip() if code is not None else ""
    if not CODE12.match(s):
        raise InvalidInput(f"a community code has 12 digits (统计用区划代码), got {code!r}")
    return s


def reading_order(xy: np.ndarray, top: float, row_height: float) -> list[int]:
    """Indices of points ``xy`` (n×2, metric, north = +y) in west→east, north→south order."""
    if len(xy) == 0:
        return []
    h = row_height if row_height > 0 else 1.0
    rows = np.floor((top - xy[:, 1]) / h + 1e-9).astype(int)
    return sorted(range(len(xy)), key=lambda i: (int(rows[i]), float(xy[i, 0]), -float(xy[i, 1])))


def max_sequence(community: str, codes: Iterable[str]) -> int:
    """The largest sequence among ``codes`` issued in ``community`` (0 when none)."""
    best = 0
    for c in codes:
        s = str(c)
        if CODE15.match(s) and s.startswith(community):
            best = max(best, int(s[12:]))
    return best


def assign_codes(
    community: str,
    xy: np.ndarray,
    top: float,
    area: float,
    kept: Mapping[int, Mapping[str, int]] | None = None,
    issued: Iterable[str] = (),
    reserved: Iterable[str] = (),
) -> list[str]:
    """Codes for ``len(xy)`` new grids.

    ``kept[i][code]`` = households of new grid ``i`` that were in the old grid ``code``.
    ``issued``: codes ever issued (new sequences go above them). ``reserved``: codes in use by
    other grids (dedicated grids), skipped but not numbered above.
    """
    community = check_community_code(community)
    n = len(xy)
    codes: list[str | None] = [None] * n
    used_old: set[str] = set()
    if kept:
        pairs = [
            (hh, i, c)
            for i, m in kept.items()
            for c, hh in m.items()
            if hh > 0 and CODE15.match(str(c)) and str(c).startswith(community)
        ]
        pairs.sort(key=lambda t: (-t[0], t[1], t[2]))
        for _hh, i, c in pairs:
            if codes[i] is None and c not in used_old:
                codes[i] = c
                used_old.add(c)
    issued_all = set(issued) | set(used_old)
    if kept:
        issued_all |= {str(c) for m in kept.values() for c in m}
    seq = max_sequence(community, issued_all)
    taken = set(reserved) | issued_all
    row_h = math.sqrt(area / max(n, 1)) if area > 0 else 1.0
    for i in reading_order(np.asarray(xy, dtype=float).reshape(-1, 2), top, row_h):
        if codes[i] is None:
            seq += 1
            while f"{community}{seq:03d}" in taken:
                seq += 1
            if seq > MAX_SEQ:
                raise InvalidInput(
                    f"community {community}: grid sequence would exceed {MAX_SEQ} (3-digit sequence space used up)"
                )
            codes[i] = f"{community}{seq:03d}"
    return [c for c in codes if c is not None]
