"""The grid worker's page in a real browser on a 390×844 phone: the own grid with numbered buildings, a
building's 楼盘表, finding a person and an address; another grid's people stay hidden (403, said clearly)."""

from __future__ import annotations

import csv

from tests.conftest import SAMPLE
from tests.ui.conftest import PHONE, needs_chromium, one

pytestmark = needs_chromium


def person_in(site, grid: str, *, unique_name: bool) -> dict[str, str]:
    """A resident of ``grid`` from the sample's persons.csv (with the plain ID number)."""
    row = one(
        site["engine"],
        """
        SELECT d.ext_id AS dwelling, b.ext_id AS building, p.name, d.address
        FROM grid g JOIN grid_plan pl ON pl.id = g.plan_id AND pl.status = 'active'
        JOIN grid_assignment a ON a.grid_id = g.id JOIN building b ON b.id = a.building_id
        JOIN dwelling d ON d.building_id = b.id AND part_covers(a.part, d.unit, d.floor)
        JOIN person p ON p.dwelling_id = d.id AND p.status = 'active'
        WHERE g.code = :g AND (NOT :u OR (SELECT count(*) FROM person q WHERE q.name = p.name) = 1)
        ORDER BY d.ext_id, p.id LIMIT 1""",
        g=grid,
        u=unique_name,
    )
    with open(SAMPLE / "persons.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["dwelling_id"] == row.dwelling and r["name"] == row.name:
                return {**r, "building": row.building, "address": row.address}
    raise AssertionError(f"no person of {row.dwelling} in persons.csv")


def test_worker_opens_a_table_and_finds_a_person_on_a_phone(site, tab_factory) -> None:
    tab = tab_factory(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = tab.page
    page.goto(f"{site['base']}/worker")
    tab.login(site["tokens"]["worker"])
    page.wait_for_selector("#blist li")
    tab.idle()
    assert f"#grid={site['grid']}" in page.url
    h = {"Authorization": f"Bearer {site['tokens']['worker']}"}
    fc = site["http"].get(f"/grids/{site['grid']}/buildings.geojson", headers=h).json()
    info = site["http"].get(f"/grids/{site['grid']}").json()
    assert page.locator("#blist li").count() == len(fc["features"]) == int(page.inner_text("#bcount"))
    assert page.locator(".gm-bnum").count() == len(fc["features"])  # numbered on the map
    assert page.inner_text("#title") == info["name"]
    assert f"{info['households']:,}" in page.inner_text("#info")
    # mobile first: nothing wider than the phone
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    tab.shot("worker.png")

    # tap a residential building: its 楼盘表
    first = next(f["properties"] for f in fc["features"] if f["properties"]["households"])
    page.click(f'#blist li[data-b="{first["id"]}"]')
    page.wait_for_selector("table.lpb td[data-d]")
    table = site["http"].get(f"/buildings/{first['id']}/table", headers=h).json()
    assert page.locator("table.lpb td[data-d]").count() == table["dwellings"]
    assert page.locator(".unit").count() == len(table["table"])
    assert table["number"] in page.inner_text("#sheet-title")
    occupied = next(d for u in table["table"] for fl in u["floors"] for d in fl["dwellings"] if d["residents"])
    page.click(f'table.lpb td[data-d="{occupied["dwelling_id"]}"]')
    detail = page.inner_text("#dwelling")
    assert all(r["name"] in detail for r in occupied["residents"])
    assert "********" in detail  # ID numbers masked for workers
    tab.shot("worker-table.png")
    page.click("#sheet-close")
    assert page.is_hidden("#sheet")

    # find a person by name: the result opens the building's table at the dwelling
    p = person_in(site, site["grid"], unique_name=True)
    page.fill("#q", p["name"])
    page.click("#search button[type=submit]")
    page.wait_for_selector("#results li[data-k]")
    assert page.locator("#results li[data-k]").count() == 1
    assert p["address"] in page.inner_text("#results")
    page.click("#results li[data-k]")
    page.wait_for_selector(f'table.lpb td.hit[data-d="{p["dwelling_id"]}"]')
    assert p["name"] in page.inner_text("#dwelling")
    assert page.get_attribute(f'#blist li[data-b="{p["building"]}"]', "class") == "hit"
    page.click("#sheet-close")

    # and by ID number (sent in the body, never in the URL)
    page.fill("#q", p["id_number"])
    page.click("#search button[type=submit]")
    page.wait_for_selector("#results li[data-k]")
    assert p["name"] in page.inner_text("#results")
    assert not any(p["id_number"] in u or p["name"] in u for u in tab.requests)

    # find a dwelling by its address
    page.click("#by-address")
    page.fill("#q", p["address"].split("社区", 1)[1])
    page.click("#search button[type=submit]")
    page.wait_for_selector("#results li[data-k]")
    page.click("#results li[data-k]")
    page.wait_for_selector(f'table.lpb td.hit[data-d="{p["dwelling_id"]}"]')
    page.click("#sheet-close")

    # the standalone 以房找人 map of the grid, with its residents, saved as one HTML file
    with page.expect_download() as dl:
        page.click("#download-map")
    saved = dl.value.path().read_text(encoding="utf-8")
    assert dl.value.suggested_filename == f"{site['grid']}-以房找人图.html"
    assert p["name"] in saved and "<html" in saved.lower()

    # printing: a print stylesheet (search and controls hidden, map and buildings kept)
    page.emulate_media(media="print")
    assert page.is_hidden("#search-card") and page.is_visible("#map") and page.is_visible("#blist")
    page.emulate_media(media="screen")
    tab.check_clean()


def test_worker_cannot_open_another_grids_people(site, tab_factory) -> None:
    tab = tab_factory(PHONE, is_mobile=True, has_touch=True)
    page = tab.page
    other = site["other_grid"]
    page.goto(f"{site['base']}/worker#grid={other}")
    tab.login(site["tokens"]["worker"])
    page.wait_for_selector("#msg[data-status='403']")
    text = page.inner_text("#msg")
    assert "不在您的负责范围内" in text and "403" in text
    assert page.get_attribute("#msg", "role") == "alert"
    # nothing of that grid is rendered
    assert page.is_hidden("#content")
    assert page.locator("#blist li").count() == 0
    assert page.locator(".leaflet-interactive").count() == 0
    assert page.locator("table.lpb").count() == 0

    # a building of the other grid, straight from a link: 403, no table
    theirs = person_in(site, other, unique_name=False)
    page.goto(f"{site['base']}/worker#building={theirs['building']}")
    page.reload()
    page.wait_for_selector("#sheet-msg[data-status='403']")
    assert "无权查看住户" in page.inner_text("#sheet-msg")
    assert page.locator("table.lpb td").count() == 0
    page.click("#sheet-close")

    # their own grid still works; a search for the other grid's resident by ID number is refused
    page.select_option("#grid", site["grid"])
    page.wait_for_selector("#blist li")
    page.fill("#q", theirs["id_number"])
    page.click("#search button[type=submit]")
    page.wait_for_selector("#search-msg[data-kind=error]")
    assert "不在您负责的网格内" in page.inner_text("#search-msg")
    assert page.locator("#results li").count() == 0
    tab.check_clean()
