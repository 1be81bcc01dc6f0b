"""Building footprints: residential slabs in walled compounds, bungalow lanes, shops, schools, offices.

Footprints are rectangles rotated by a small angle about their centre. Placement works on the
rotated rectangles' axis-aligned bounding boxes (plus gaps and a wall setback), so buildings never
overlap and always lie strictly inside the rectangle they were placed in.

A residential slab has ``units`` stairwells (单元) of about 15 m each, ``floors`` storeys and
``per_floor`` dwellings per stairwell and storey; its planned dwellings are the product. Walk-ups
have 6-7 storeys and 2 per floor, mid-rises 11-18 and 2-3, towers 24-33 and 3-4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from geo.synth.layout import Rect, shrink

#: columns of a building batch (a dict of equal-length numpy arrays)
COLUMNS = (
    "cx",
    "cy",
    "length",
    "depth",
    "angle",
    "floors",
    "units",
    "per_floor",
    "use",
    "number",
    "name",
)

USES_ZH = {
    "residential": "住宅",
    "bungalow": "平房",
    "commercial": "商业",
    "school": "学校",
    "office": "办公",
}


@dataclass(frozen=True)
class Style:
    floors: tuple[int, ...]
    floors_p: tuple[float, ...]
    units: tuple[int, ...]
    units_p: tuple[float, ...]
    per_floor: tuple[int, ...]
    per_floor_p: tuple[float, ...]
    unit_len: tuple[float, float]
    depth: tuple[float, float]
    row_gap: tuple[float, float]
    col_gap: tuple[float, float]


STYLES: dict[str, Style] = {
    "walkup": Style(
        (6, 7),
        (0.8, 0.2),
        (2, 3, 4, 5, 6),
        (0.1, 0.3, 0.3, 0.2, 0.1),
        (2,),
        (1.0,),
        (14.0, 16.0),
        (11.0, 13.0),
        (18.0, 24.0),
        (8.0, 14.0),
    ),
    "midrise": Style(
        (11, 12, 14, 15, 16, 17, 18),
        (0.2, 0.15, 0.1, 0.15, 0.15, 0.1, 0.15),
        (2, 3, 4),
        (0.4, 0.4, 0.2),
        (2, 3),
        (0.8, 0.2),
        (15.0, 17.0),
        (12.5, 14.5),
        (26.0, 34.0),
        (12.0, 18.0),
    ),
    "tower": Style(
        (24, 26, 28, 30, 32, 33),
        (0.15, 0.2, 0.15, 0.2, 0.15, 0.15),
        (2, 3),
        (0.6, 0.4),
        (3, 4),
        (0.3, 0.7),
        (18.0, 21.0),
        (16.0, 19.0),
        (34.0, 44.0),
        (15.0, 24.0),
    ),
}
#: the one oversized tower a street may have: 33 floors × 4 units × 4 per floor = 528 dwellings
BIG_TOWER = (33, 4, 4)

#: dwellings per m² of compound a style reaches when a compound is filled (measured on samples)
STYLE_DENSITY = {"walkup": 0.016, "midrise": 0.028, "tower": 0.052}


def empty_batch() -> dict[str, np.ndarray]:
    return {c: np.array([], dtype=object if c in ("use", "number", "name") else float) for c in COLUMNS}


def concat(batches: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    batches = [b for b in batches if len(b["cx"])]
    if not batches:
        return empty_batch()
    return {c: np.concatenate([b[c] for b in batches]) for c in COLUMNS}


def _batch(rows: list[tuple]) -> dict[str, np.ndarray]:
    if not rows:
        return empty_batch()
    cols = list(zip(*rows, strict=True))
    return {
        c: np.array(v, dtype=object if c in ("use", "number", "name") else float)
        for c, v in zip(COLUMNS, cols, strict=True)
    }


def half_extent(length: float | np.ndarray, depth: float | np.ndarray, angle: float | np.ndarray):
    """Half width and half height of the bounding box of a rectangle rotated by ``angle`` (radians)."""
    c, s = np.abs(np.cos(angle)), np.abs(np.sin(angle))
    return length / 2 * c + depth / 2 * s, length / 2 * s + depth / 2 * c


def footprints(batch: dict[str, np.ndarray]) -> np.ndarray:
    """Rotated-rectangle polygons for a batch (vectorised), rounded to the centimetre."""
    cx, cy = batch["cx"].astype(float), batch["cy"].astype(float)
    hl, hd = batch["length"].astype(float) / 2, batch["depth"].astype(float) / 2
    a = batch["angle"].astype(float)
    c, s = np.cos(a), np.sin(a)
    local = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)], dtype=float)
    lx = local[None, :, 0] * hl[:, None]
    ly = local[None, :, 1] * hd[:, None]
    x = cx[:, None] + lx * c[:, None] - ly * s[:, None]
    y = cy[:, None] + lx * s[:, None] + ly * c[:, None]
    coords = np.round(np.stack([x, y], axis=-1), 2)
    return shapely.polygons(coords)


def _choice(rng: np.random.Generator, values: tuple, p: tuple[float, ...]):
    return values[int(rng.choice(len(values), p=np.asarray(p) / sum(p)))]


def fill_compound(
    rect: Rect,
    style: str,
    budget: int,
    rng: np.random.Generator,
    *,
    setback: float = 6.0,
    big_tower: bool = False,
    row_styles: tuple[str, ...] | None = None,
) -> tuple[dict[str, np.ndarray], Rect]:
    """Rows of slabs from the north wall southwards until ``budget`` dwellings or the space run out.

    Returns the buildings (numbered later) and the part of ``rect`` actually used (the compound's
    walls): when the budget ends early the southern remainder is given back.
    """
    x0, y0, x1, y1 = shrink(rect, setback)
    theta_c = float(np.clip(rng.normal(0.0, math.radians(3.0)), -math.radians(7), math.radians(7)))
    rows: list[tuple] = []
    placed = 0
    y = y1
    force_big = big_tower
    done = False
    while not done:
        st_name = style if not row_styles else row_styles[int(rng.integers(0, len(row_styles)))]
        if force_big:
            st_name = "tower"
        st = STYLES[st_name]
        floors = int(_choice(rng, st.floors, st.floors_p))
        per_floor = int(_choice(rng, st.per_floor, st.per_floor_p))
        unit_len = float(rng.uniform(*st.unit_len))
        depth = float(rng.uniform(*st.depth))
        x = x0 + float(rng.uniform(0.0, 6.0))
        row_h = 0.0
        n_in_row = 0
        while True:
            f, k, ul, d = floors, per_floor, unit_len, depth
            units = int(_choice(rng, st.units, st.units_p))
            if force_big:
                f, units, k = BIG_TOWER
                ul, d = 18.5, 18.0
            remaining = budget - placed
            if remaining < f * 2 * k:
                done = True
                break
            units = min(units, remaining // (f * k))
            theta = theta_c + float(rng.normal(0.0, math.radians(0.6)))
            fitted = False
            while units >= 2:
                hw, hh = half_extent(units * ul, d, theta)
                if y - 2 * hh < y0:
                    done = done or n_in_row == 0
                    break
                if x + 2 * hw <= x1:
                    fitted = True
                    break
                units -= 1
            if not fitted:
                break
            rows.append((x + hw, y - hh, units * ul, d, theta, f, units, k, "residential", "", ""))
            placed += f * units * k
            force_big = False
            x += 2 * hw + float(rng.uniform(*st.col_gap))
            row_h = max(row_h, 2 * hh)
            n_in_row += 1
        if n_in_row == 0:
            break
        y -= row_h + float(rng.uniform(*st.row_gap))
        if budget - placed < 24:
            break
    batch = _batch(rows)
    if not rows:
        return batch, rect
    _, hh_all = half_extent(batch["length"], batch["depth"], batch["angle"])
    bottom = float(np.min(batch["cy"] - hh_all)) - setback
    used = rect
    if bottom - rect[1] > 45.0:
        used = (rect[0], round(bottom, 1), rect[2], rect[3])
    return batch, used


def number_compound(batch: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Number buildings ``1号楼``, ``2号楼``… in placement order; some compounds skip 4 (and 14)."""
    n = len(batch["cx"])
    skip_four = rng.random() < 0.12
    nums, k = [], 0
    while len(nums) < n:
        k += 1
        if skip_four and k % 10 == 4:
            continue
        nums.append(k)
    batch["number"] = np.array([f"{k}号楼" for k in nums], dtype=object)


def fill_bungalows(
    rect: Rect, n_max: int, rng: np.random.Generator, start_no: int = 1
) -> tuple[dict[str, np.ndarray], Rect]:
    """Lanes of one-storey houses (~8 m × 10 m, one dwelling each), numbered ``平房区12号``."""
    slot_w, slot_d = 10.0, 14.5
    x0, y0, x1, y1 = shrink(rect, 3.0)
    nx, ny = int((x1 - x0) // slot_w), int((y1 - y0) // slot_d)
    if nx <= 0 or ny <= 0 or n_max <= 0:
        return empty_batch(), rect
    iy, ix = np.divmod(np.arange(nx * ny), nx)
    keep = rng.random(nx * ny) >= 0.08
    iy, ix = iy[keep][:n_max], ix[keep][:n_max]
    n = len(ix)
    w = rng.uniform(7.4, 8.6, n)
    d = rng.uniform(9.2, 10.6, n)
    ang = np.clip(rng.normal(0.0, math.radians(0.8), n), -math.radians(2), math.radians(2))
    cx = x0 + (ix + 0.5) * slot_w
    cy = y1 - iy * slot_d - 1.0 - 5.4  # house north edge near the top of its slot, lane to the south
    numbers = np.array([f"平房区{k}号" for k in range(start_no, start_no + n)], dtype=object)
    batch = {
        "cx": cx,
        "cy": cy,
        "length": w,
        "depth": d,
        "angle": ang,
        "floors": np.ones(n),
        "units": np.ones(n),
        "per_floor": np.ones(n),
        "use": np.full(n, "bungalow", dtype=object),
        "number": numbers,
        "name": np.full(n, "", dtype=object),
    }
    used_rows = int(iy.max()) + 1 if n else 0
    bottom = y1 - used_rows * slot_d - 3.0
    used = rect if bottom - rect[1] < 45.0 else (rect[0], round(bottom, 1), rect[2], rect[3])
    return batch, used


def single_building(
    rect: Rect,
    rng: np.random.Generator,
    *,
    length: float,
    depth: float,
    floors: int,
    use: str,
    number: str,
    name: str,
    units: int = 1,
    setback: float = 8.0,
) -> dict[str, np.ndarray]:
    """One non-residential building (school block, office, market) inside ``rect``, or nothing if it cannot fit."""
    x0, y0, x1, y1 = shrink(rect, setback)
    theta = float(rng.normal(0.0, math.radians(1.5)))
    length = min(length, (x1 - x0) * 0.9)
    depth = min(depth, (y1 - y0) * 0.9)
    if length < 10 or depth < 8:
        return empty_batch()
    hw, hh = half_extent(length, depth, theta)
    if 2 * hw > x1 - x0 or 2 * hh > y1 - y0:
        theta = 0.0
        hw, hh = length / 2, depth / 2
    cx = float(rng.uniform(x0 + hw, x1 - hw)) if x1 - x0 > 2 * hw else (x0 + x1) / 2
    cy = float(rng.uniform(y0 + hh, y1 - hh)) if y1 - y0 > 2 * hh else (y0 + y1) / 2
    return _batch([(cx, cy, length, depth, theta, floors, units, 1, use, number, name)])


def fill_shops(strip: Rect, rng: np.random.Generator, names: list[str], *, along_x: bool) -> dict[str, np.ndarray]:
    """Street-front shops (商业) along a strip, named from ``names`` (consumed in order)."""
    rows = []
    x0, y0, x1, y1 = shrink(strip, 3.0)
    span = (x1 - x0) if along_x else (y1 - y0)
    thick = (y1 - y0) if along_x else (x1 - x0)
    pos = float(rng.uniform(0.0, 15.0))
    while names:
        length = float(rng.uniform(18.0, 45.0))
        depth = float(min(thick - 1.0, rng.uniform(10.0, 16.0)))
        if pos + length > span or depth < 8:
            break
        floors = int(_choice(rng, (1, 2, 3, 4), (0.3, 0.35, 0.25, 0.1)))
        name = names.pop(0)
        if along_x:
            rows.append(
                (
                    x0 + pos + length / 2,
                    (y0 + y1) / 2,
                    length,
                    depth,
                    0.0,
                    floors,
                    1,
                    1,
                    "commercial",
                    name,
                    name,
                )
            )
        else:
            rows.append(
                (
                    (x0 + x1) / 2,
                    y0 + pos + length / 2,
                    depth,
                    length,
                    0.0,
                    floors,
                    1,
                    1,
                    "commercial",
                    name,
                    name,
                )
            )
        pos += length + float(rng.uniform(6.0, 30.0))
    return _batch(rows)
