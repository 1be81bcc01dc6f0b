"""``propose_many`` (parallel, progress) and ``balance_file`` (GeoPackage in and out)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from geo.balance import BalanceParams, Proposal, balance_file, propose, propose_many
from geo.errors import InvalidInput
from tests.geo.balance import checks
from tests.geo.balance import synth_data as sd


@pytest.fixture(scope="module")
def two_communities():
    a = sd.make_community(21, code="150102001011", nx=2, ny=1)
    # the second community sits east of the first
    b = sd.make_community(22, code="150102001012", nx=2, ny=1, x0=sd.X0 + 400.0)
    buildings = pd.concat([a.buildings, b.buildings], ignore_index=True)
    communities = pd.concat([a.community, b.community], ignore_index=True)
    compounds = pd.concat([a.compounds, b.compounds], ignore_index=True)
    return a, b, buildings, communities, compounds


def test_propose_many_matches_propose_and_reports_progress(two_communities):
    a, b, buildings, communities, compounds = two_communities
    seen = []
    out = propose_many(
        buildings,
        communities,
        compounds=compounds,
        jobs=2,
        progress=lambda done, total, code: seen.append((done, total, code)),
    )
    assert list(out) == [a.code, b.code]
    assert sorted(seen) == [(1, 2, seen[0][2]), (2, 2, seen[1][2])]
    single = propose(a.buildings, a.community, compounds=a.compounds)
    cols = ["building_id", "grid_code", "units", "households", "note"]
    pd.testing.assert_frame_equal(out[a.code].assignment[cols], single.assignment[cols])
    for c in (a, b):
        checks.check_tiling(out[c.code], c.community)
    both = Proposal.concat(out.values())
    assert len(both.communities) == 2
    assert both.grids["code"].is_unique


def test_propose_many_without_codes_on_buildings_uses_location(two_communities):
    a, b, buildings, communities, compounds = two_communities
    anonymous = buildings.drop(columns=["community_code"])
    out = propose_many(anonymous, communities, compounds=compounds, jobs=1)
    assert set(out[a.code].assignment["building_id"]) == set(a.buildings["id"])
    assert set(out[b.code].assignment["building_id"]) == set(b.buildings["id"])


def test_balance_file_writes_grids_and_assignment(tmp_path, two_communities):
    a, b, buildings, communities, compounds = two_communities
    src = tmp_path / "city.gpkg"
    buildings.to_file(src, layer="buildings")
    communities.to_file(src, layer="communities")
    compounds.to_file(src, layer="compounds")
    out = tmp_path / "grids.gpkg"
    props = balance_file(
        src,
        src,
        out,
        layer="buildings",
        community_layer="communities",
        compounds_layer="compounds",
        params=BalanceParams(seed=2),
    )
    assert set(props) == {a.code, b.code}
    layers = dict(pyogrio.list_layers(out))
    assert layers["grids"] in ("Polygon", "MultiPolygon")
    assert layers["assignment"] is None  # a non-spatial table
    grids = gpd.read_file(out, layer="grids")
    assert {"code", "community_code", "households", "buildings", "geometry"} <= set(grids.columns)
    assert grids.crs == buildings.crs
    table = pyogrio.read_dataframe(out, layer="assignment", read_geometry=False)
    assert {"building_id", "grid_code"} <= set(table.columns)
    assert len(table) == len(buildings)
    assert set(table["grid_code"]) == set(grids["code"])

    # a re-balance from the written assignment keeps every code
    existing = tmp_path / "existing.csv"
    table[["building_id", "grid_code", "units"]].fillna("").to_csv(existing, index=False)
    again = balance_file(
        src,
        src,
        tmp_path / "again.gpkg",
        layer="buildings",
        community_layer="communities",
        compounds_layer="compounds",
        existing_csv=existing,
    )
    assert set(Proposal.concat(again.values()).grids["code"]) == set(grids["code"])
    assert all(p.communities.iloc[0]["kept_share"] == 1.0 for p in again.values())


def test_balance_file_refuses_missing_file(tmp_path):
    with pytest.raises(InvalidInput, match="not found"):
        balance_file(tmp_path / "nope.gpkg", tmp_path / "nope.gpkg", tmp_path / "out.gpkg")
