"""The planner's page in a real browser on a 1366×768 laptop screen: propose, move a building and see
the counts and validation change, undo, save, compare, approve (and a stale draft's 409)."""

from __future__ import annotations

import re
from collections import Counter

from tests.ui.conftest import LAPTOP, PLANNER_COMMUNITY, Tab, needs_chromium

pytestmark = needs_chromium

# buildings drawn on the map whose centre is really clickable there (not under a panel or a label)
VISIBLE_BUILDINGS = """() => {
  const P = window.gridmapPlanner, m = P.map, rect = m.getContainer().getBoundingClientRect();
  const out = [];
  m.eachLayer(l => {
    const p = l.feature && l.feature.properties;
    if (!p || !p.grid_code || !l._path || !p.households || p.part) return;
    const c = m.latLngToContainerPoint(l.getBounds().getCenter());
    const x = rect.left + c.x, y = rect.top + c.y;
    if (document.elementFromPoint(x, y) === l._path) out.push({id: p.id, grid: p.grid_code, households: p.households, x, y});
  });
  return out;
}"""


# every building drawn on the map: id, grid, households and its centre on the screen
ALL_BUILDINGS = """() => {
  const P = window.gridmapPlanner, m = P.map, rect = m.getContainer().getBoundingClientRect();
  return P.state.buildings.features.map(f => {
    const ring = f.geometry.coordinates[0][0];
    let x = 0, y = 0; ring.slice(0, -1).forEach(c => { x += c[0]; y += c[1]; });
    const c = m.latLngToContainerPoint([y / (ring.length - 1), x / (ring.length - 1)]);
    return {id: f.properties.id, grid: f.properties.grid_code, x: rect.left + c.x, y: rect.top + c.y};
  });
}"""


def assignment(site, plan_id: int) -> dict[str, set[str]]:
    r = site["http"].get(
        f"/plans/{plan_id}/buildings.geojson", headers={"Authorization": f"Bearer {site['tokens']['planner']}"}
    )
    out: dict[str, set[str]] = {}
    for f in r.json()["features"]:
        out.setdefault(f["properties"]["id"], set()).add(f["properties"]["grid_code"])
    return out


def label_households(tab: Tab, code: str) -> int:
    text = tab.page.inner_text(f'.gm-grid-label .hh[data-grid="{code}"]')
    return int(re.sub(r"\D", "", text))


def api_grids(site, plan_id: int) -> dict[str, dict]:
    r = site["http"].get(
        f"/plans/{plan_id}/grids.geojson",
        headers={"Authorization": f"Bearer {site['tokens']['planner']}"},
    )
    r.raise_for_status()
    return {f["properties"]["code"]: f for f in r.json()["features"]}


def test_planner_moves_a_building_saves_compares_and_approves(site, tab_factory) -> None:
    tab = tab_factory(LAPTOP)
    page = tab.page
    page.goto(f"{site['base']}/planner")
    page.wait_for_selector("#gm-token")
    assert page.is_disabled("#propose")
    tab.login(site["tokens"]["planner"])
    # the token is kept in sessionStorage, never in the URL
    assert page.evaluate("sessionStorage.getItem('gridmap.token')") == site["tokens"]["planner"]
    assert site["tokens"]["planner"] not in page.url

    # pick the community: its active plan opens read-only
    page.select_option("#community", PLANNER_COMMUNITY)
    page.wait_for_selector("#plan-status")
    tab.idle()
    assert page.inner_text("#plan-status") == "现行"
    assert page.is_disabled("#move")

    # a stale draft made elsewhere before ours is approved (for the 409 at the end)
    h = {"Authorization": f"Bearer {site['tokens']['planner']}"}
    stale = site["http"].post("/plans", json={"community": PLANNER_COMMUNITY}, headers=h)
    assert stale.status_code == 201, stale.text
    stale_id = stale.json()[0]["plan_id"]

    # propose: a new draft opens
    page.click("#propose")
    tab.wait_for(
        "document.querySelector('#plan-status') && document.querySelector('#plan-status').textContent === '草稿'"
    )
    tab.idle()
    plan_id = page.evaluate("window.gridmapPlanner.state.plan.id")
    assert plan_id != stale_id
    assert f"plan={plan_id}" in page.url
    before = api_grids(site, plan_id)
    for code, f in before.items():
        if f["properties"]["households"]:
            assert label_households(tab, code) == f["properties"]["households"]
    in_band_before = page.inner_text("#in-band")

    # select a building (click), then a second one (shift-click) and deselect it again (shift-click)
    buildings = page.evaluate(VISIBLE_BUILDINGS)
    assert len(buildings) >= 2
    b, b2 = buildings[0], next(x for x in buildings[1:] if x["id"] != buildings[0]["id"])
    page.mouse.click(b["x"], b["y"])
    assert page.inner_text("#sel-count") == "1"
    page.keyboard.down("Shift")
    page.mouse.click(b2["x"], b2["y"])
    assert page.inner_text("#sel-count") == "2"
    page.mouse.click(b2["x"], b2["y"])
    page.keyboard.up("Shift")
    assert page.inner_text("#sel-count") == "1"
    # move it to the largest other grid, so that grid goes over the band (or gets closer)
    target = max(
        (c for c in before if c != b["grid"] and before[c]["properties"]["kind"] == "basic"),
        key=lambda c: before[c]["properties"]["households"],
    )
    page.select_option("#target", target)
    page.click("#move")
    page.wait_for_selector("#banner[data-kind=ok]")
    tab.idle()
    assert "已保存到草稿" in page.inner_text("#banner")
    after = api_grids(site, plan_id)
    src_hh, dst_hh = before[b["grid"]]["properties"]["households"], before[target]["properties"]["households"]
    assert after[target]["properties"]["households"] == dst_hh + b["households"]
    assert after[b["grid"]]["properties"]["households"] == src_hh - b["households"]
    # the labels and the validation panel show the new counts
    assert label_households(tab, target) == dst_hh + b["households"]
    if src_hh - b["households"]:
        assert label_households(tab, b["grid"]) == src_hh - b["households"]
    row = page.locator(f'#validation tr[data-grid="{target}"]')
    assert "changed" in row.get_attribute("class")
    assert str(dst_hh + b["households"]) in row.inner_text().replace(",", "")
    plan = site["http"].get(f"/plans/{plan_id}", headers=h).json()
    in_band = sum(g["in_band"] for g in plan["validation"]["grids"] if g["kind"] == "basic")
    assert page.inner_text("#in-band") == str(in_band)
    if dst_hh + b["households"] > 500:
        assert page.get_attribute('[data-check="band"]', "class") == "warn"
        assert int(page.inner_text("#in-band")) < int(in_band_before)

    # undo puts it back; the move again (kept for the approval)
    page.click("#undo")
    tab.wait_for("document.querySelector('#banner').textContent.includes('已撤销')")
    tab.idle()
    assert api_grids(site, plan_id)[target]["properties"]["households"] == dst_hh
    assert label_households(tab, target) == dst_hh
    assert page.inner_text("#in-band") == in_band_before

    # redraw a boundary: click a rectangle around one grid's buildings, double-click to
    # finish; the buildings inside join that grid. Then undo it.
    start = assignment(site, plan_id)
    drawn = page.evaluate(ALL_BUILDINGS)
    code = next(
        c for c in sorted(before) if c != target and c != b["grid"] and before[c]["properties"]["kind"] == "basic"
    )
    mine = [x for x in drawn if x["grid"] == code]
    # the rectangle also takes in the nearest whole building of another grid, so the redraw changes
    # something (a compact grid's own bounding box may hold no one else's building)
    parts = Counter(x["id"] for x in drawn)
    mx0, mx1 = min(x["x"] for x in mine), max(x["x"] for x in mine)
    my0, my1 = min(x["y"] for x in mine), max(x["y"] for x in mine)
    near = min(
        (x for x in drawn if x["grid"] != code and parts[x["id"]] == 1),
        key=lambda x: max(mx0 - x["x"], 0, x["x"] - mx1) ** 2 + max(my0 - x["y"], 0, x["y"] - my1) ** 2,
    )
    box = [*mine, near]
    x0, x1 = min(x["x"] for x in box) - 8, max(x["x"] for x in box) + 8
    y0, y1 = min(x["y"] for x in box) - 8, max(x["y"] for x in box) + 8
    page.click("#mode-draw")
    page.select_option("#draw-grid", code)
    page.mouse.click(x0, y0)
    page.mouse.click(x1, y0)
    page.mouse.click(x1, y1)
    assert page.inner_text("#draw-count") == "已添加 3 个顶点"
    page.mouse.dblclick(x0, y1)
    tab.wait_for("document.querySelector('#banner').textContent.includes('重绘')")
    tab.idle()
    assert "已保存到草稿" in page.inner_text("#banner")
    redrawn = assignment(site, plan_id)
    now_mine = {i for i, g in redrawn.items() if g == {code}}

    def inside(x: dict, margin: float) -> bool:
        return x0 + margin < x["x"] < x1 - margin and y0 + margin < x["y"] < y1 - margin

    assert {x["id"] for x in mine} <= now_mine
    assert near["id"] in now_mine and start[near["id"]] != {code}
    assert {x["id"] for x in drawn if inside(x, 3)} <= now_mine
    assert now_mine <= {x["id"] for x in drawn if inside(x, -3)}
    shown = page.evaluate(
        "window.gridmapPlanner.state.grids.features.map(f => [f.properties.code, f.properties.households])"
    )
    api_now = api_grids(site, plan_id)
    assert dict(shown) == {c: f["properties"]["households"] for c, f in api_now.items()}
    page.click("#undo")
    tab.wait_for("document.querySelector('#banner').textContent.includes('已撤销')")
    tab.idle()
    assert assignment(site, plan_id) == start
    page.click("#mode-select")

    page.mouse.click(b["x"], b["y"])
    page.select_option("#target", target)
    page.click("#move")
    tab.wait_for("document.querySelector('#banner').textContent.includes('已保存到草稿')")
    tab.idle()
    assert label_households(tab, target) == dst_hh + b["households"]

    # "save draft" confirms that the server has it
    page.click("#save")
    tab.wait_for("document.querySelector('#banner').textContent.includes('已保存在服务器')")
    tab.idle()

    # compare with the active plan: the buildings that moved (the re-balance's own and ours) are
    # counted as the API counts them and highlighted on the map
    diff = site["http"].get(f"/plans/{plan_id}/diff", headers=h).json()
    moved = {m["ext_id"] for m in diff["moves"]}
    page.click("#diff")
    page.wait_for_selector("#diff-summary")
    tab.idle()
    assert re.search(rf"(?<!\d){diff['buildings_moved']}\s*栋楼改变网格", page.inner_text("#diff-summary"))
    strokes = page.evaluate(
        """() => { const s = {}; window.gridmapPlanner.map.eachLayer(l => {
             if (l.feature && l.feature.properties.grid_code && l._path) s[l.feature.properties.id] = l._path.getAttribute('stroke'); });
             return s; }"""
    )
    assert {i for i, stroke in strokes.items() if stroke == "#c000c0"} == moved
    tab.shot("planner.png")

    # approve (with the in-page confirmation)
    page.click("#approve")
    page.click("#approve-yes")
    page.wait_for_selector("#approve-out[data-kind=ok]")
    tab.idle()
    assert "已批准" in page.inner_text("#approve-out")
    assert page.inner_text("#plan-status") == "现行"
    # the grid layer was re-fetched and is the active grids' boundary now
    active = site["http"].get(f"/grids/{target}").json()
    assert active["plan_id"] == plan_id
    shown = page.evaluate(
        "code => window.gridmapPlanner.state.grids.features.find(f => f.properties.code === code).geometry", target
    )
    assert shown["coordinates"] == active["boundary"]["coordinates"]
    assert label_households(tab, target) == dst_hh + b["households"]

    # the stale draft (based on the plan that was active before) cannot be approved: 409, said clearly
    page.select_option("#plans", str(stale_id))
    page.click("#open")
    tab.wait_for(f"window.gridmapPlanner.state.plan && window.gridmapPlanner.state.plan.id === {stale_id}")
    tab.idle()
    page.click("#approve")
    page.click("#approve-yes")
    page.wait_for_selector("#approve-out[data-kind=error]")
    text = page.inner_text("#approve-out")
    assert "冲突" in text and "409" in text
    assert page.get_attribute("#approve-out", "role") == "alert"
    tab.check_clean()


def test_planner_page_refuses_other_roles_and_scopes(site, tab_factory) -> None:
    tab = tab_factory(LAPTOP)
    page = tab.page
    page.goto(f"{site['base']}/planner")
    tab.login(site["tokens"]["worker"])
    page.wait_for_selector("#banner[data-kind=error]")
    assert "仅供规划员和管理员使用" in page.inner_text("#banner")
    assert page.is_disabled("#propose")
    page.click(".login button.link")  # log out
    page.wait_for_selector("#gm-token")
    assert page.evaluate("sessionStorage.getItem('gridmap.token')") is None
    tab.login(site["tokens"]["other_planner"])
    page.select_option("#community", PLANNER_COMMUNITY)
    # plans outside one's scope are not listed
    tab.wait_for("document.querySelector('#plans').textContent === '（无方案，请生成）'")
    page.click("#propose")
    page.wait_for_selector("#banner[data-kind=error]")
    text = page.inner_text("#banner")
    assert "不在您的管辖范围内" in text and "403" in text
    assert page.locator(".gm-grid-label").count() == 0
    tab.check_clean()
