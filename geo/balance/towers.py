"""Splitting a building above the band's maximum into parts by stairwell units (单元).

A tower is never split unless it holds more households than the band allows. It is then cut into
``p`` parts, each a run of consecutive stairwell units, so that every part is a grid of its own and
lies inside the band. When no run of whole units fits (a single unit above the maximum), the
sequence is cut by floors instead: the dwellings are ordered unit by unit, floor by floor, and a
part may start or end in the middle of a unit.

Households are spread evenly over units (and over the floors of a unit) when only the building's
total is known; the first units (floors) take the remainder.

Spatially, units sit side by side along a slab's long axis, so a part is also a slice of the
footprint across that axis; :func:`cut_positions` gives the cumulative shares at which to cut.

Part labels (``units`` in the assignment):
    ``""``          the whole building (not split)
    ``"1-2"``       units 1 to 2 (``"3"`` for a single unit)
    ``"3:1-12"``    unit 3, floors 1 to 12; segments are joined with ``","`` (``"2:13-24,3"``)
    ``"#2/3"``      part 2 of 3, used only when neither units nor floors are known
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a building: its households, its unit label and its share of the footprint."""

    households: int
    label: str
    start: float  # cumulative share (0..1) of the building's households where the part starts
    end: float


@dataclass(frozen=True, slots=True)
class SplitPlan:
    """How one building is divided; ``reason`` is a machine-readable code."""

    parts: tuple[Part, ...]
    reason: str  # "whole" | "units" | "floors" | "households" | "over_band_not_split"
    units_estimated: bool = False

    @property
    def is_split(self) -> bool:
        return len(self.parts) > 1


def _spread(total: int, n: int) -> list[int]:
    base, extra = divmod(total, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


def band_deviation(h: float, lo: int, hi: int) -> float:
    """How far ``h`` households lie outside ``[lo, hi]`` (0 inside the band)."""
    return max(0.0, lo - h) + max(0.0, h - hi)


def choose_parts(h: int, lo: int, hi: int, target: int) -> list[int]:
    """Candidate part counts for ``h`` households, best first.

    Best = smallest total deviation from the band of an even split, then closest to the target
    size, then fewer parts.
    """
    if h <= hi:
        return [1]
    pmax = max(1, math.ceil(h / max(lo, 1)) + 1)
    cands = range(1, pmax + 1)
    return sorted(cands, key=lambda p: (p * band_deviation(h / p, lo, hi), abs(h / p - target), p))


def _best_runs(sizes: list[int], p: int, lo: int, hi: int, strict: bool = True) -> list[int] | None:
    """Cut ``sizes`` into ``p`` consecutive runs each within ``[lo, hi]``.

    Returns the cut indices (``p - 1`` of them) minimising the sum of squared deviations from the
    mean part size, or ``None`` when no such cut exists (dynamic programming, O(p n^2)). With
    ``strict=False`` runs may leave the band: the total distance from the band is minimised
    first.
    """
    n = len(sizes)
    if p > n:
        return None
    pre = [0]
    for s in sizes:
        pre.append(pre[-1] + s)
    mean = pre[-1] / p
    inf = float("inf")
    # best[j][i]: cost of cutting the first i items into j runs
    best = [[inf] * (n + 1) for _ in range(p + 1)]
    back = [[-1] * (n + 1) for _ in range(p + 1)]
    best[0][0] = 0.0
    for j in range(1, p + 1):
        for i in range(j, n + 1):
            for k in range(j - 1, i):
                if best[j - 1][k] == inf:
                    continue
                s = pre[i] - pre[k]
                if strict and not lo <= s <= hi:
                    continue
                if s > 0 or strict:
                    c = best[j - 1][k] + (s - mean) ** 2 + 1e9 * band_deviation(s, lo, hi)
                    if c < best[j][i] - 1e-9:
                        best[j][i] = c
                        back[j][i] = k
    if best[p][n] == inf:
        return None
    cuts = []
    i = n
    for j in range(p, 0, -1):
        k = back[j][i]
        cuts.append(k)
        i = k
    cuts = sorted(cuts)[1:]  # drop the leading 0
    return cuts


def _unit_label(a: int, b: int) -> str:
    return str(a) if a == b else f"{a}-{b}"


def _cells_label(cells: list[tuple[int, int]], floors_of: list[int]) -> str:
    """Label a run of (unit, floor) cells, compressing whole units into ranges."""
    by_unit: dict[int, list[int]] = {}
    for u, f in cells:
        by_unit.setdefault(u, []).append(f)
    segs: list[str] = []
    whole_run: list[int] = []
    for u in sorted(by_unit):
        fl = by_unit[u]
        if len(fl) == floors_of[u - 1]:
            whole_run.append(u)
            continue
        if whole_run:
            segs.append(_unit_label(whole_run[0], whole_run[-1]))
            whole_run = []
        segs.append(f"{u}:{min(fl)}-{max(fl)}" if min(fl) != max(fl) else f"{u}:{min(fl)}")
    if whole_run:
        segs.append(_unit_label(whole_run[0], whole_run[-1]))
    return ",".join(segs)


def plan_split(
    households: int,
    lo: int,
    hi: int,
    target: int,
    units: int | None = None,
    floors: int | None = None,
) -> SplitPlan:
    """Decide how a building of ``households`` dwellings is divided into grid parts.

    Buildings within the band's maximum stay whole. Above it, the number of parts is chosen so that
    every part fits the band (closest to ``target``), cutting between whole units when possible,
    else between floors. A building only slightly above the maximum (e.g. 520 with a band of
    300-500) stays whole when any split would leave the parts further outside the band.
    """
    h = int(households)
    if h <= hi:
        return SplitPlan((Part(h, "", 0.0, 1.0),), "whole")
    counts = choose_parts(h, lo, hi, target)
    if counts[0] == 1:
        return SplitPlan((Part(h, "", 0.0, 1.0),), "over_band_not_split")
    estimated = False
    if not units or units < 1:
        # two dwellings per floor per unit is the common slab layout
        estimated = True
        units = max(1, round(h / (2 * floors))) if floors and floors > 0 else 0
    if units:
        unit_sizes = _spread(h, int(units))
        for p in counts:
            if p == 1:
                continue
            cuts = _best_runs(unit_sizes, p, lo, hi)
            if cuts is None:
                continue
            bounds = [0, *cuts, len(unit_sizes)]
            parts = []
            acc = 0
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                s = sum(unit_sizes[a:b])
                parts.append(Part(s, _unit_label(a + 1, b), acc / h, (acc + s) / h))
                acc += s
            return SplitPlan(tuple(parts), "units", estimated)
        if floors and floors > 0:
            floors_of = [int(floors)] * len(unit_sizes)
            cells: list[tuple[int, int]] = []
            cell_sizes: list[int] = []
            for u, us in enumerate(unit_sizes, start=1):
                for f, fs in enumerate(_spread(us, int(floors)), start=1):
                    cells.append((u, f))
                    cell_sizes.append(fs)
            for p in counts:
                if p == 1:
                    continue
                cuts = _best_runs(cell_sizes, p, lo, hi)
                if cuts is None:
                    continue
                bounds = [0, *cuts, len(cells)]
                parts = []
                acc = 0
                for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                    s = sum(cell_sizes[a:b])
                    parts.append(Part(s, _cells_label(cells[a:b], floors_of), acc / h, (acc + s) / h))
                    acc += s
                return SplitPlan(tuple(parts), "floors", estimated)
    p = next(c for c in counts if c > 1)
    if units:
        # no in-band cut exists: cut as close to the band as the units (or floors) allow
        for level in ("units", "floors"):
            if level == "floors" and not (floors and floors > 0):
                continue
            if level == "units":
                cells = [(u, 0) for u in range(1, len(unit_sizes) + 1)]
                cell_sizes = unit_sizes
            else:
                cells, cell_sizes = [], []
                for u, us in enumerate(unit_sizes, start=1):
                    for f, fs in enumerate(_spread(us, int(floors)), start=1):
                        cells.append((u, f))
                        cell_sizes.append(fs)
            cuts = _best_runs(cell_sizes, p, lo, hi, strict=False)
            if cuts is None:
                continue
            bounds = [0, *cuts, len(cells)]
            sizes_ = [sum(cell_sizes[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
            if level == "units" and len(unit_sizes) >= p and max(sizes_) - min(sizes_) > max(unit_sizes):
                continue  # whole units are too coarse for an even cut: try floors
            parts = []
            acc = 0
            for a, b, sz in zip(bounds[:-1], bounds[1:], sizes_, strict=True):
                label = (
                    _unit_label(a + 1, b)
                    if level == "units"
                    else _cells_label(cells[a:b], [int(floors)] * len(unit_sizes))
                )
                parts.append(Part(sz, label, acc / h, (acc + sz) / h))
                acc += sz
            return SplitPlan(tuple(parts), level, estimated)
    # neither units nor floors are known: split the households evenly
    sizes = _spread(h, p)
    parts = []
    acc = 0
    for i, s in enumerate(sizes, start=1):
        parts.append(Part(s, f"#{i}/{p}", acc / h, (acc + s) / h))
        acc += s
    return SplitPlan(tuple(parts), "households", True)
