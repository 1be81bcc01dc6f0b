"""Fixtures for the balancing tests: generated communities and their proposals, computed once."""

from __future__ import annotations

import pytest

from geo.balance import propose
from tests.geo.balance import synth_data as sd

#: seeds of the mixed communities checked for the hard rules (varied: towers, bungalows, open blocks)
SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="session")
def mixed():
    """(community, proposal) for a few mixed communities of 3 × 2 blocks."""
    out = []
    for seed in SEEDS:
        c = sd.make_community(seed, big_tower=(seed == 0))
        out.append((c, propose(c.buildings, c.community, compounds=c.compounds)))
    return out


@pytest.fixture(scope="session")
def tiny():
    c = sd.tiny_community()
    return c, propose(c.buildings, c.community, compounds=c.compounds)


@pytest.fixture(scope="session")
def corner():
    c = sd.corner_compound_community()
    return c, propose(c.buildings, c.community, compounds=c.compounds, dedicated=c.dedicated)


@pytest.fixture(scope="session")
def tower():
    c = sd.tower_community()
    return c, propose(c.buildings, c.community, compounds=c.compounds)
