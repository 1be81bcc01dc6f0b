"""Per-community explanations: machine-readable reason codes with a plain-language sentence each.

Reason codes (stable, for the UI and the API):

``no_households``          the community has no households; one grid covers it
``under_band_total``       fewer households in the community than the band's minimum: one grid
``band_infeasible_total``  no number of grids splits the total evenly into the band (e.g. 520)
``isolated_part``          a part cut off from the rest (by a dedicated grid, the boundary or a
                           wall-less gap) is too small or too odd-sized to meet the band on its own
``band_infeasible_layout`` exhaustive search proved no contiguous in-band arrangement exists
                           (with compounds of at most the maximum kept whole)
``band_not_reached``       the search found no in-band arrangement for some grids (not proven)
``tower_split``            a building above the maximum was split by stairwell units
``tower_split_floors``     ... by floors, because a single unit is above the maximum
``tower_split_estimated``  ... with the number of units estimated (not given)
``tower_not_split``        a building slightly above the maximum stays whole (splitting is worse)
``compound_split``         a compound above the maximum was split (into as few grids as it allows)
``compound_extra_split``   ... into more grids than the minimum, to meet the band
``compound_disconnected``  a compound's buildings do not touch each other; its pieces are separate
``no_household_buildings`` buildings without households were attached to neighbouring grids
``dedicated_excluded``     buildings inside dedicated grids (专属网格) were left out
``outside_community``      buildings carrying the community's code lie outside its boundary
``detached_area``          an area without buildings, cut off from the rest, joins the nearest grid
``rebalance``              re-balance summary (households kept, codes kept, new and retired)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    text: str


def fmt_hh(n: float) -> str:
    return f"{int(round(n)):,}"


def band_text(lo: int, hi: int) -> str:
    return f"{lo}–{hi}"
