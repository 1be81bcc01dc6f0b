"""Tower splitting by stairwell units (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.balance.towers import plan_split


def test_building_within_the_band_stays_whole():
    plan = plan_split(480, 300, 500, 400, units=4, floors=20)
    assert plan.reason == "whole"
    assert [(p.households, p.label) for p in plan.parts] == [(480, "")]


def test_900_households_six_units_split_in_halves():
    plan = plan_split(900, 300, 500, 400, units=6, floors=30)
    assert plan.reason == "units"
    assert [(p.households, p.label) for p in plan.parts] == [(450, "1-3"), (450, "4-6")]
    assert [(p.start, p.end) for p in plan.parts] == [(0.0, 0.5), (0.5, 1.0)]


def test_unit_above_the_maximum_is_split_by_floors():
    # 4 units of 275: no run of whole units fits 300-500, so the cut falls between floors
    plan = plan_split(1100, 300, 500, 400, units=4, floors=25)
    assert plan.reason == "floors"
    assert sum(p.households for p in plan.parts) == 1100
    assert all(300 <= p.households <= 500 for p in plan.parts)
    assert len(plan.parts) == 3
    assert ":" in plan.parts[0].label or ":" in plan.parts[1].label


def test_slightly_over_stays_whole_when_a_split_is_worse():
    plan = plan_split(520, 300, 500, 400, units=4, floors=26)
    assert plan.reason == "over_band_not_split"
    assert len(plan.parts) == 1


def test_units_estimated_when_unknown():
    plan = plan_split(960, 300, 500, 400, units=None, floors=30)
    assert plan.units_estimated
    assert all(300 <= p.households <= 500 for p in plan.parts)


def test_nothing_known_splits_households_evenly():
    plan = plan_split(1000, 300, 500, 400)
    assert plan.reason == "households"
    assert [p.label for p in plan.parts] == ["#1/3", "#2/3", "#3/3"]
    assert sorted(p.households for p in plan.parts) == [333, 333, 334]


@settings(max_examples=60, deadline=None)
@given(
    units=st.integers(2, 8),
    floors=st.integers(6, 34),
    per=st.integers(2, 6),
)
def test_split_parts_cover_the_building_in_band(units, floors, per):
    h = units * floors * per
    plan = plan_split(h, 300, 500, 400, units=units, floors=floors)
    assert sum(p.households for p in plan.parts) == h
    ends = [0.0] + [p.end for p in plan.parts]
    assert ends[-1] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(ends, ends[1:], strict=False))
    if h <= 500:
        assert len(plan.parts) == 1
    elif -(-h // 500) <= h // 300:
        # some number of parts fits the band: units or, below that, floors achieve it
        assert all(300 <= p.households <= 500 for p in plan.parts)
    else:
        # none does (e.g. 560 = 2 x 280): the split closest to the band, still by units/floors
        assert plan.reason in ("units", "floors", "over_band_not_split")
