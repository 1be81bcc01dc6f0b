"""Dwellings (户室) of every residential building, with standard addresses and their use.

A slab's dwellings are numbered unit by unit, floor by floor: room ``501`` is floor 5, position 1;
``1502`` floor 15, position 2. A bungalow has one dwelling, room ``1``. Uses: 自住 (owner
occupied), 出租 (let), 空置 (vacant), 商用 (used as a shop or office, mostly on the ground floor).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from geo.synth.address import standard

#: public columns of dwellings.csv
COLUMNS = ("dwelling_id", "building_id", "unit", "floor", "room", "address", "use")

#: probabilities of (空置, 商用 on the ground floor, 出租) by building kind
USE_RATES = {"flat": (0.105, 0.06, 0.19), "bungalow": (0.13, 0.0, 0.32), "big": (0.1, 0.0, 0.33)}


def make_dwellings(
    buildings: pd.DataFrame,
    compound_names: Mapping[str, str],
    areas: Mapping[str, str],
    rng: np.random.Generator,
    *,
    id_fmt: str = "D{:07d}",
    start: int = 1,
    with_address: bool = True,
) -> pd.DataFrame:
    """One row per planned dwelling of ``buildings`` (columns id, number, floors, units,
    per_floor, dwellings, compound_id, community_code, use), in building order.

    ``compound_names`` maps compound id → name, ``areas`` community code → 市区街道社区 prefix.
    Besides :data:`COLUMNS` the frame keeps ``community_code``, ``area`` (the address prefix),
    ``compound``, ``number``, ``pos`` and ``bungalow`` for the people generator.
    """
    b = buildings[buildings["dwellings"] > 0]
    n_per = b["dwellings"].to_numpy(np.int64)
    total = int(n_per.sum())
    bi = np.repeat(np.arange(len(b)), n_per)
    starts = np.concatenate([[0], np.cumsum(n_per)[:-1]])
    local = np.arange(total) - np.repeat(starts, n_per)
    floors = b["floors"].to_numpy(np.int64)[bi]
    k = np.maximum(b["per_floor"].to_numpy(np.int64)[bi], 1)
    per_unit = floors * k
    unit = local // per_unit + 1
    rem = local % per_unit
    floor = rem // k + 1
    pos = rem % k + 1
    bungalow = (b["use"].to_numpy() == "bungalow")[bi]
    room = np.where(bungalow, "1", (floor * 100 + pos).astype("U4"))

    big = (b["dwellings"].to_numpy() > 500)[bi]
    kind_rates = np.array([USE_RATES["flat"], USE_RATES["bungalow"], USE_RATES["big"]])
    kind = np.where(bungalow, 1, np.where(big, 2, 0))
    vac, shop, let = kind_rates[kind].T
    u = rng.random(total)
    use = np.full(total, "自住", dtype=object)
    use[u < vac + let] = "出租"
    use[u < vac] = "空置"
    use[(floor == 1) & ~bungalow & (rng.random(total) < shop)] = "商用"

    comp_id = b["compound_id"].fillna("").to_numpy(object)[bi]
    comp_name = np.array([compound_names.get(c, "") if c else "" for c in b["compound_id"].fillna("")], dtype=object)[
        bi
    ]
    number = b["number"].to_numpy(object)[bi]
    comm = b["community_code"].to_numpy(object)[bi]
    out = pd.DataFrame(
        {
            "dwelling_id": [id_fmt.format(i) for i in range(start, start + total)],
            "building_id": b["id"].to_numpy(object)[bi],
            "unit": unit,
            "floor": floor,
            "room": room,
            "use": use,
            "community_code": comm,
            "compound_id": comp_id,
            "compound": comp_name,
            "number": number,
            "pos": pos,
            "bungalow": bungalow,
        }
    )
    area = np.array([areas[c] for c in b["community_code"]], dtype=object)[bi]
    out["area"] = area
    if with_address:
        out["address"] = [
            standard(a, c, nb, u_, r, bg)
            for a, c, nb, u_, r, bg in zip(area, comp_name, number, unit.tolist(), room, bungalow.tolist(), strict=True)
        ]
    return out
