"""The sample street: 呼和浩特市新城区中山东路街道 (150102003000) and its four communities.

The location is real (about 111.675-111.700 E, 40.811-40.823 N, Gauss-Krüger coordinates below);
roads, compounds, buildings, people and ID numbers are invented. 中山东路 runs east-west through
the middle as a 40 m main road; 团结社区 is one small block, too small for two grids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.synth.dwellings import make_dwellings
from geo.synth.layout import MAIN, MINOR, SECONDARY, make_grid
from geo.synth.people import iter_persons
from geo.synth.plan import Area, CommunitySpec, assemble, plan_community
from geo.synth.seeds import rng_for

CITY, DISTRICT = "呼和浩特市", "新城区"
STREET_CODE, STREET_NAME = "150102003000", "中山东路街道"
XINHUA, YINGBIN, ZHONGSHAN, TUANJIE = "150102003001", "150102003002", "150102003003", "150102003004"
COMMUNITY_NAMES = {
    XINHUA: "新华社区",
    YINGBIN: "迎宾南路社区",
    ZHONGSHAN: "中山社区",
    TUANJIE: "团结社区",
}
DEFAULT_SEED = 20240630

#: north-west corner of the street (EPSG:4546), ≈ 111.6755 E, 40.8231 N
ORIGIN = (557000.0, 4521100.0)
COL_WIDTHS = (280, 270, 290, 260, 300, 280, 270)
ROW_HEIGHTS = (290, 280, 300, 280)
#: half widths of the vertical roads (west → east) and horizontal roads (north → south)
X_HALF = (SECONDARY, MINOR, MINOR, MAIN, MINOR, SECONDARY, MINOR, SECONDARY)
Y_HALF = (SECONDARY, MINOR, MAIN, MINOR, SECONDARY)  # 中山东路 is the third line
#: community of each cell, rows north → south
CELL_MAP = (
    "XXXYYZZ",
    "XXXYYZZ",
    "XXTYYZZ",
    "XXXYYZZ",
)
_CELL_CODE = {"X": XINHUA, "Y": YINGBIN, "Z": ZHONGSHAN, "T": TUANJIE}


def street_grid():
    return make_grid(ORIGIN[0], ORIGIN[1], COL_WIDTHS, ROW_HEIGHTS, X_HALF, Y_HALF)


def street_specs() -> list[CommunitySpec]:
    cells: dict[str, list[tuple[int, int]]] = {c: [] for c in _CELL_CODE.values()}
    for r, line in enumerate(CELL_MAP):
        for c, ch in enumerate(line):
            cells[_CELL_CODE[ch]].append((r, c))
    return [
        CommunitySpec(
            XINHUA,
            COMMUNITY_NAMES[XINHUA],
            cells[XINHUA],
            target=5200,
            bias="old",
            school="中山东路小学",
            offices=("新城区档案馆",),
            local="新华",
        ),
        CommunitySpec(
            YINGBIN,
            COMMUNITY_NAMES[YINGBIN],
            cells[YINGBIN],
            target=4600,
            bias="mixed",
            offices=("迎宾大厦",),
            big_tower=True,
            vacant=True,
            local="迎宾",
        ),
        CommunitySpec(
            ZHONGSHAN,
            COMMUNITY_NAMES[ZHONGSHAN],
            cells[ZHONGSHAN],
            target=5300,
            bias="old",
            bungalows=260,
            offices=("中山东路派出所",),
            local="中山东路",
        ),
        CommunitySpec(
            TUANJIE,
            COMMUNITY_NAMES[TUANJIE],
            cells[TUANJIE],
            target=240,
            bias="old",
            offices=("中山东路街道办事处",),
            local="团结",
            compound_max=125,
        ),
    ]


def generate_street_layout(seed: int | np.random.Generator = DEFAULT_SEED) -> Area:
    """Communities, compounds and buildings of the sample street (no people yet)."""
    rng = rng_for(seed)
    grid = street_grid()
    used: set[str] = set()
    specs = street_specs()
    children = rng.spawn(len(specs))
    plans = [plan_community(grid, s, r, used) for s, r in zip(specs, children, strict=True)]
    return assemble(grid, plans)


def area_prefixes() -> dict[str, str]:
    """Community code → 市+区+街道+社区, the start of every standard address in the street."""
    return {code: f"{CITY}{DISTRICT}{STREET_NAME}{name}" for code, name in COMMUNITY_NAMES.items()}


@dataclass
class Sample:
    """Everything in the sample street: layers (EPSG:4546), dwellings and persons."""

    area: Area
    dwellings: pd.DataFrame
    persons: pd.DataFrame


def generate_street(seed: int | np.random.Generator = DEFAULT_SEED) -> Sample:
    """The sample street with its dwellings and residents (deterministic for a seed)."""
    rng = rng_for(seed)
    layout_rng, dwell_rng, people_rng = rng.spawn(3)
    area = generate_street_layout(layout_rng)
    names = dict(zip(area.compounds["id"], area.compounds["name"], strict=True))
    dwellings = make_dwellings(area.buildings, names, area_prefixes(), dwell_rng)
    persons = pd.concat(list(iter_persons(dwellings, people_rng)), ignore_index=True)
    return Sample(area, dwellings, persons)
