"""The optional basemap: with a GCJ-02 (Amap-style) basemap the pages shift the data onto it, and a
click on the map goes back to CGCS2000 (the JavaScript conversion agrees with geo.crs)."""

from __future__ import annotations

import pytest

from geo.crs import gcj02_to_wgs84, wgs84_to_gcj02
from tests.ui.conftest import PHONE, needs_chromium

pytestmark = needs_chromium


@pytest.fixture
def gcj02_basemap(site, monkeypatch):
    # tiles from the server itself (they 404: no network is needed, and none is used)
    monkeypatch.setenv("GRIDMAP_BASEMAP_URL", f"{site['base']}/ui/basemap/{{z}}/{{x}}/{{y}}.png")
    monkeypatch.setenv("GRIDMAP_BASEMAP_CRS", "gcj02")
    monkeypatch.setenv("GRIDMAP_BASEMAP_ATTRIBUTION", "测试底图")


def test_worker_map_is_shifted_onto_a_gcj02_basemap(site, tab_factory, gcj02_basemap) -> None:
    tab = tab_factory(PHONE)
    page = tab.page
    page.goto(f"{site['base']}/worker")
    tab.login(site["tokens"]["worker"])
    page.wait_for_selector("#blist li")
    assert "测试底图" in page.inner_text(".leaflet-control-attribution")
    assert page.locator(".leaflet-tile-pane img").count() > 0
    h = {"Authorization": f"Bearer {site['tokens']['worker']}"}
    fc = site["http"].get(f"/grids/{site['grid']}/buildings.geojson", headers=h).json()
    # the numbered marker of the first building sits at its label point shifted to GCJ-02
    at = page.evaluate(
        """() => { const m = Object.values(window.gridmapWorker.markers)[0]; const ll = m.getLatLng(); return [ll.lng, ll.lat]; }"""
    )
    first = next(x for x in fc["features"] if x["properties"]["seq"] == 1)["properties"]["at"]
    glon, glat = wgs84_to_gcj02(*first)
    assert abs(at[0] - glon) < 1e-7 and abs(at[1] - glat) < 1e-7
    assert abs(at[0] - first[0]) > 1e-3  # hundreds of metres apart
    # the page's conversions agree with geo.crs both ways
    for lon, lat in [(111.67, 40.82), (116.39, 39.91), (87.6, 43.8)]:
        js = page.evaluate("p => window.GM.wgs84ToGcj02(p[0], p[1])", [lon, lat])
        py = [float(v) for v in wgs84_to_gcj02(lon, lat)]
        assert js == pytest.approx(py, abs=1e-9)
        back = page.evaluate("p => window.GM.gcj02ToWgs84(p[0], p[1])", py)
        assert back == pytest.approx([float(v) for v in gcj02_to_wgs84(*py)], abs=1e-7)
        assert back == pytest.approx([lon, lat], abs=1e-6)
    assert not tab.errors
    assert all(u.startswith(site["base"]) or u.startswith("data:") for u in tab.requests)
