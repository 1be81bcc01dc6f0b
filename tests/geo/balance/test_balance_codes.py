"""Grid codes: 12-digit community code + 3-digit sequence, reading order, stability (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from geo.balance.codes import assign_codes, check_community_code, max_sequence, reading_order
from geo.errors import InvalidInput

C = "150102001001"


def test_reading_order_rows_north_to_south_then_west_to_east():
    # two rows (row height 100 m from the top at y=200): NE, NW, SE, SW given in shuffled order
    xy = np.array([[150.0, 150.0], [50.0, 160.0], [160.0, 40.0], [40.0, 60.0]])
    assert reading_order(xy, top=200.0, row_height=100.0) == [1, 0, 3, 2]


def test_new_plan_numbered_from_001_in_reading_order():
    xy = np.array([[150.0, 150.0], [50.0, 160.0], [160.0, 40.0], [40.0, 60.0]])
    codes = assign_codes(C, xy, top=200.0, area=40000.0)
    assert codes == [C + "002", C + "001", C + "004", C + "003"]


def test_new_plan_starts_above_codes_ever_issued():
    xy = np.array([[0.0, 0.0], [10.0, 0.0]])
    codes = assign_codes(C, xy, top=0.0, area=100.0, issued={C + "007", "150102001002009"})
    assert codes == [C + "008", C + "009"]


def test_reserved_codes_are_skipped_not_numbered_above():
    xy = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]])
    codes = assign_codes(C, xy, top=0.0, area=100.0, reserved={C + "002"})
    assert codes == [C + "001", C + "003", C + "004"]


def test_rebalance_keeps_codes_one_to_one_and_never_reuses_retired():
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [200.0, 0.0]])
    kept = {
        0: {C + "001": 380, C + "002": 20},
        1: {C + "001": 100, C + "002": 300},  # 002 keeps most of its households here
        2: {C + "001": 10},  # 001 already taken by grid 0: a new code
    }
    issued = {C + "001", C + "002", C + "003"}  # 003 was retired earlier
    codes = assign_codes(C, xy, top=0.0, area=1e4, kept=kept, issued=issued)
    assert codes == [C + "001", C + "002", C + "004"]


def test_max_sequence_ignores_other_communities():
    assert max_sequence(C, [C + "005", "150102001002099", "bad"]) == 5


@pytest.mark.parametrize("bad", ["15010200100", "1501020010011", "15010200100x", None])
def test_community_code_must_have_12_digits(bad):
    with pytest.raises(InvalidInput, match="12 digits"):
        check_community_code(bad)


def test_sequence_space_exhausted():
    with pytest.raises(InvalidInput, match="999"):
        assign_codes(C, np.array([[0.0, 0.0], [1.0, 0.0]]), 0.0, 1.0, issued={C + "999"})
