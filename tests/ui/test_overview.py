"""一屏统览 in a real browser: drill down from the city to a grid and back up by the breadcrumb;
plus the index page and the small read endpoint the worker's page uses."""

from __future__ import annotations

import httpx

from api.routes.pages import content_policy
from tests.ui.conftest import LAPTOP, STREET, WORKER_COMMUNITY, needs_chromium

pytestmark = needs_chromium

CITY = "150100000000"
DISTRICT = "150102000000"


def kpi(page, label: str) -> str:
    return page.locator(".kpi", has_text=label).locator("b").inner_text()


def test_overview_drills_down_from_the_city_to_a_grid(site, tab_factory) -> None:
    tab = tab_factory(LAPTOP)
    page = tab.page
    base = site["base"]
    page.goto(f"{base}/overview")

    def at(code: str) -> None:
        page.wait_for_selector(f"body[data-code='{code}'][aria-busy=false]")

    at(CITY)
    city = site["http"].get(f"/stats/{CITY}").json()
    assert page.inner_text("#area-title").startswith("呼和浩特市")
    assert kpi(page, "网格") == f"{city['grids']:,}"
    assert kpi(page, "户数") == f"{city['households']:,}"
    assert kpi(page, "居民") == f"{city['residents']:,}"
    assert page.inner_text("#link-rate") == f"{city['link_rate'] * 100:.2f}%"

    for code in (DISTRICT, STREET, WORKER_COMMUNITY):
        page.click(f"#kids tr.drill[data-code='{code}']")
        at(code)
        s = site["http"].get(f"/stats/{code}").json()
        assert kpi(page, "户数") == f"{s['households']:,}"
        assert page.locator("#kids tbody tr").count() == len(s["children"])
    # the community: its grids drawn on the choropleth, labelled with their households
    assert page.locator(".gm-grid-label").count() == len(s["children"])
    assert page.locator("path.leaflet-interactive[fill='#1a9641']").count() >= 1  # link rate ≥ 99.5 %
    tab.shot("overview.png")

    grid = s["children"][0]["code"]
    page.click(f"#kids tr.drill[data-code='{grid}']")
    at(grid)
    g = site["http"].get(f"/grids/{grid}").json()
    crumbs = page.inner_text("#crumbs")
    for name in ("呼和浩特市", "新城区", "中山东路街道", "新华社区", g["name"]):
        assert name in crumbs
    assert kpi(page, "户数") == f"{g['households']:,}"
    assert kpi(page, "楼栋") == f"{g['buildings']:,}"
    assert f"#code={grid}" in page.url

    # back up by the breadcrumb
    page.click(f"#crumbs a[data-code='{STREET}']")
    at(STREET)
    assert page.inner_text("#crumbs").endswith("中山东路街道")
    # a click on a community polygon drills into it
    box = page.locator(".gm-area-label", has_text="新华社区").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # labels let clicks through
    at(WORKER_COMMUNITY)
    tab.check_clean()


def test_index_and_static_files(site, tab_factory) -> None:
    base = site["base"]
    r = site["http"].get("/", follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"] == "/home"
    assert site["http"].get("/ui/vendor/leaflet/leaflet.js").status_code == 200
    assert site["http"].get("/ui/js/planner.js").headers["content-type"].startswith("text/javascript")
    for bad in (
        "/ui/../api/main.py",
        "/ui/%2e%2e/%2e%2e/pyproject.toml",
        "/ui/js/nothing.js",
        "/ui/vendor/README.md/x",
    ):
        assert site["http"].get(bad).status_code == 404, bad
    csp = site["http"].get("/worker").headers["content-security-policy"]
    assert "script-src 'self';" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "img-src 'self' data: blob: https://*.tiles.example.cn;" in content_policy(
        "https://{s}.tiles.example.cn/{z}/{x}/{y}.png"
    )
    tab = tab_factory(LAPTOP)
    tab.page.goto(base)
    assert tab.page.url == f"{base}/home"
    links = tab.page.eval_on_selector_all(".cards a", "as => as.map(a => a.getAttribute('href'))")
    assert links == ["/planner", "/worker", "/overview"]
    for link in links:
        assert site["http"].get(link).status_code == 200
    tab.check_clean()


def test_grid_buildings_endpoint_checks_scope(site) -> None:
    grid, other = site["grid"], site["other_grid"]

    def get(code: str, who: str | None) -> httpx.Response:
        h = {"Authorization": f"Bearer {site['tokens'][who]}"} if who else {}
        return site["http"].get(f"/grids/{code}/buildings.geojson", headers=h)

    assert get(grid, None).status_code == 401
    assert get(other, "worker").status_code == 403
    assert get(grid, "other_planner").status_code == 403
    assert get(f"{grid[:12]}999", "planner").status_code == 404
    assert get("123", "planner").status_code == 422
    body = get(grid, "worker").json()
    for who in ("planner", "viewer"):
        assert get(grid, who).json() == body
    feats = body["features"]
    assert body["grid_code"] == grid and feats
    assert [f["properties"]["seq"] for f in feats] == list(range(1, len(feats) + 1))
    keys = set().union(*(f["properties"].keys() for f in feats))
    assert keys == {
        "id",
        "seq",
        "number",
        "compound",
        "part",
        "households",
        "dwellings",
        "floors",
        "units",
        "use",
        "at",
    }
    info = site["http"].get(f"/grids/{grid}").json()
    assert sum(f["properties"]["dwellings"] for f in feats) == info["dwellings"]
    assert len({f["properties"]["id"] for f in feats}) == info["buildings"]
