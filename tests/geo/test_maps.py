"""The 以房找人 map and the signboard rendered from hand-made frames (no database)."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import wgs84_to_gcj02
from geo.db.mapdata import dwellings_of_parts
from geo.errors import InvalidInput
from geo.maps import external_resources, prepare, render_grid_map, style
from geo.maps.plan_map import payload

CODE = "150102003001001"
X0, Y0 = 111.70, 40.80
ID_NUMBER = re.compile(r"(?<![\d*])\d{17}[\dXx](?![\d*])")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _box(x: float, y: float, w: float = 0.0004, h: float = 0.00015) -> shapely.Polygon:
    return shapely.box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


def frames() -> dict:
    buildings = gpd.GeoDataFrame(
        {
            "building_id": ["B1", "B2", "B3"],
            "number": ["1号楼", "2号楼", None],
            "name": [None, None, "迎宾饭店"],
            "compound": ["长青家园", "长青家园", None],
            "floors": [6, 6, 2],
            "units": [2, 1, 1],
            "use": ["residential", "residential", "commercial"],
        },
        geometry=[_box(0.0002, 0.0002), _box(0.0002, 0.0006), _box(0.0007, 0.0002)],
        crs="EPSG:4490",
    )
    rows = [
        {"dwelling_id": f"{b}-{u}-{f}0{r}", "building_id": b, "unit": u, "floor": f, "room": f"{f}0{r}", "use": "owner"}
        for b, units in (("B1", 2), ("B2", 1))
        for u in range(1, units + 1)
        for f in range(1, 7)
        for r in (1, 2)
    ]
    rows.append(
        {"dwelling_id": "B3-1", "building_id": "B3", "unit": None, "floor": 1, "room": "1", "use": "commercial"}
    )
    persons = pd.DataFrame(
        [
            {
                "person_id": 1,
                "dwelling_id": "B1-1-101",
                "name": "张三明",
                "sex": "男",
                "birth_date": dt.date(1950, 1, 2),
                "relation": "户主",
                "residence_type": "常住",
                "care_tags": ["独居老人"],
                "phone": "13812345678",
                "id_masked": "150102********1237",
            },
            {
                "person_id": 2,
                "dwelling_id": "B2-1-502",
                "name": "王芳",
                "sex": "女",
                "birth_date": dt.date(1990, 5, 2),
                "relation": "户主",
                "residence_type": "流动",
                "care_tags": [],
                "phone": None,
                "id_masked": "150102********0021",
            },
            {
                "person_id": 3,
                "dwelling_id": "B2-1-502",
                "name": "李小红",
                "sex": "女",
                "birth_date": dt.date(2015, 9, 1),
                "relation": "子女",
                "residence_type": "流动",
                "care_tags": ["留守儿童"],
                "phone": None,
                "id_masked": "150102********0045",
            },
        ]
    )
    neighbours = gpd.GeoDataFrame(
        {"code": ["150102003001002"], "name": ["新华社区第2网格"]},
        geometry=[shapely.box(X0 + 0.0012, Y0, X0 + 0.0024, Y0 + 0.001)],
        crs="EPSG:4490",
    )
    return {
        "code": CODE,
        "boundary": shapely.box(X0, Y0, X0 + 0.0012, Y0 + 0.001),
        "buildings": buildings,
        "dwellings": pd.DataFrame(rows),
        "persons": persons,
        "neighbours": neighbours,
        "workers": [{"name": "李网格", "phone": "13900001111", "role": "worker"}],
        "community_name": "新华社区居委会",
        "street_name": "中山东路街道",
        "today": dt.date(2026, 1, 1),
    }


def grid_data(role: str = "worker"):
    return prepare(role=role, **frames())


def embedded(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="gridmap-data">(.*?)</script>', page, re.S)
    assert m, "the page embeds its data"
    return json.loads(m.group(1))


# -- data and masking -----------------------------------------------------------------------------------
def test_prepare_counts_buildings() -> None:
    d = grid_data()
    b = d.buildings.set_index("building_id")
    assert b.loc["B1", "households"] == 24 and b.loc["B1", "occupied"] == 1 and b.loc["B1", "care"] == 1
    assert b.loc["B2", "residents"] == 2 and b.loc["B2", "groups"] == {"留守儿童": 1}
    assert b.loc["B3", "households"] == 0 and np.isnan(b.loc["B3", "occupancy"])
    assert b.loc["B1", "occupancy"] == pytest.approx(1 / 24)
    assert (d.households, d.residents, d.care) == (36, 3, 2)
    assert d.name == "新华社区第1网格" and d.community_name == "新华社区"
    assert list(b["label"]) == ["1号楼", "2号楼", "迎宾饭店"]


def test_roles_mask_names_phones_and_ids() -> None:
    worker, viewer = grid_data("worker"), grid_data("viewer")
    assert set(worker.persons["name"]) == {"张三明", "王芳", "李小红"}
    assert set(viewer.persons["name"]) == {"张*明", "王*", "李*红"}
    for d in (worker, viewer):
        assert "13812345678" not in set(d.persons["phone"]) and "138****5678" in set(d.persons["phone"])
    assert set(worker.persons["id_masked"]) >= {"150102********1237"}
    assert viewer.persons["id_masked"].isna().all()
    with pytest.raises(InvalidInput):
        grid_data("guest")


def test_full_id_numbers_given_by_mistake_are_masked() -> None:
    f = frames()
    f["persons"].loc[0, "id_masked"] = "150102195001021237"
    d = prepare(role="admin", **f)
    assert d.persons.loc[0, "id_masked"] == "150102********1237"


# -- the page -------------------------------------------------------------------------------------------
def test_page_has_every_building_the_title_and_the_legend() -> None:
    page = render_grid_map(grid_data(), "occupancy")
    data = embedded(page)
    assert [f["properties"]["label"] for f in data["buildings"]["features"]] == ["1号楼", "2号楼", "迎宾饭店"]
    for text in ("1号楼", "2号楼", "迎宾饭店", "新华社区第1网格", CODE, "李网格", "13900001111"):
        assert text in page
    title = re.search(r'<div id="gm-title".*?</div></div>', page, re.S).group(0)
    assert CODE in title and "李网格" in title and "13900001111" in title
    legend = re.search(r'<div id="gm-legend".*?相邻网格</div></div>', page, re.S).group(0)
    assert style.MEASURES["occupancy"].label in legend and "≥ 95%" in legend
    assert 'id="gm-north"' in page and "L.control.scale" in page
    assert f"<title>新华社区第1网格 {CODE}" in page


def test_page_loads_nothing_from_the_network() -> None:
    page = render_grid_map(grid_data())
    assert external_resources(page) == []
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", page, re.I)
    for cdn in ("cdn.jsdelivr", "code.jquery", "bootstrapcdn", "cdnjs", "unpkg"):
        assert cdn not in page
    assert "L.map(" in page and "Leaflet 1.9.4" in page  # Leaflet itself is inlined
    served = render_grid_map(grid_data(), assets_url="/static/vendor")
    assert '<script src="/static/vendor/leaflet/leaflet.js">' in served and external_resources(served) == []


def test_viewer_page_masks_names_and_no_page_has_id_numbers_or_phones() -> None:
    worker = render_grid_map(grid_data("worker"))
    viewer = render_grid_map(grid_data("viewer"))
    assert "张三明" in worker and "李小红" in worker
    for full in ("张三明", "王芳", "李小红"):
        assert full not in viewer
    assert "张*明" in viewer and "李*红" in viewer and "姓名已脱敏" in viewer
    for page in (worker, viewer):
        assert not ID_NUMBER.search(page)
        assert "13812345678" not in page  # a resident's phone, always masked
        assert "13900001111" in page  # the worker's public phone
    assert "150102********1237" in worker and "150102********1237" not in viewer


def test_care_tags_travel_with_residents() -> None:
    data = embedded(render_grid_map(grid_data()))
    by_name = {p["n"]: p for p in data["people"]}
    assert by_name["张三明"]["c"] == ["独居老人"] and by_name["王芳"]["c"] == []
    b1 = next(f for f in data["buildings"]["features"] if f["properties"]["id"] == "B1")["properties"]
    assert b1["groups"] == {"独居老人": 1} and b1["care"] == 1
    cell = next(d for d in data["dwellings"]["B1"] if d["id"] == "B1-1-101")
    assert [data["people"][i]["n"] for i in cell["p"]] == ["张三明"]
    assert cell["a"] == "长青家园1号楼1单元101室"


def test_script_breakout_in_data_is_escaped() -> None:
    f = frames()
    f["persons"].loc[1, "name"] = "</script><script>alert(1)</script>"
    page = render_grid_map(prepare(role="worker", **f))
    assert "<script>alert(1)" not in page
    assert any(p["n"] == "</script><script>alert(1)</script>" for p in embedded(page)["people"])


def test_measures_and_colours() -> None:
    occ = style.measure("occupancy")
    assert occ.color(None) == style.NO_DATA and occ.color(0.1) == occ.colors[0] and occ.color(0.99) == occ.colors[-1]
    for key in style.MEASURES:
        page = render_grid_map(grid_data(), key)
        assert embedded(page)["measure"] == key
        assert f'<option value="{key}" selected>' in page
    with pytest.raises(InvalidInput):
        render_grid_map(grid_data(), "height")


def test_amap_basemap_shifts_the_overlay_to_gcj02() -> None:
    d = grid_data()
    plain = payload(d, "occupancy", None)
    amap = payload(d, "occupancy", style.basemap("amap"))
    (x, y), (gx, gy) = plain["boundary"]["coordinates"][0][0], amap["boundary"]["coordinates"][0][0]
    ex, ey = wgs84_to_gcj02(x, y)
    assert (gx, gy) == pytest.approx((float(ex), float(ey)), abs=2e-6)
    assert abs(gx - x) > 1e-4  # hundreds of metres in Hohhot
    page = render_grid_map(d, basemap="amap")
    assert "autonavi.com" in page and external_resources(page) == []


def test_tianditu_basemap_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDMAP_TIANDITU_TK", raising=False)
    with pytest.raises(InvalidInput, match="GRIDMAP_TIANDITU_TK"):
        render_grid_map(grid_data(), basemap="tianditu")
    page = render_grid_map(grid_data(), basemap="tianditu", tk="abc123")
    assert "tianditu.gov.cn/vec_w" in page and "tk=abc123" in page
    assert (
        payload(grid_data(), "occupancy", style.basemap("tianditu", "k"))["boundary"]
        == payload(grid_data(), "occupancy", None)["boundary"]
    )  # CGCS2000 tiles: no shift
    with pytest.raises(InvalidInput):
        render_grid_map(grid_data(), basemap="google")


def test_render_is_fast() -> None:
    import time

    d = grid_data()
    render_grid_map(d)
    t = time.perf_counter()
    render_grid_map(d)
    assert time.perf_counter() - t < 0.5


# -- parts of split towers ---------------------------------------------------------------------------------
def test_dwellings_of_parts() -> None:
    dw = pd.DataFrame(
        [
            {"dwelling_id": i, "building_id": 7, "unit": u, "floor": f, "room": f"{f}01", "use": "owner"}
            for i, (u, f) in enumerate((u, f) for u in (1, 2, 3) for f in range(1, 25))
        ]
    )

    def pick(label: str, all_parts: list[str], sizes: list[int]) -> set[tuple[int, int]]:
        parts = pd.DataFrame(
            {"building_id": [7], "part": [label], "all_parts": [all_parts], "part_households": [sizes]}
        )
        got = dwellings_of_parts(dw, parts)
        return set(zip(got["unit"], got["floor"], strict=True))

    assert pick("1-2", ["1-2", "3"], [48, 24]) == {(u, f) for u in (1, 2) for f in range(1, 25)}
    assert pick("3", ["1-2", "3"], [48, 24]) == {(3, f) for f in range(1, 25)}
    assert pick("2:13-24,3", ["1-2:12", "2:13-24,3"], [36, 36]) == {(2, f) for f in range(13, 25)} | {
        (3, f) for f in range(1, 25)
    }
    second = pick("#2/3", ["#1/3", "#2/3", "#3/3"], [24, 24, 24])
    assert second == {(2, f) for f in range(1, 25)}


# -- the page in a browser -------------------------------------------------------------------------------------
def chromium_dom(page: str, fragment: str = "") -> str:
    """The DOM of ``page`` after its scripts ran in headless Chromium (opened as a file, no network)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "map.html"
        path.write_text(page, encoding="utf-8")
        proc = subprocess.run(
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={tmp}/profile",
                "--window-size=1200,800",
                "--virtual-time-budget=5000",
                "--dump-dom",
                path.as_uri() + fragment,
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_search_finds_a_person_and_opens_the_building_table_in_a_browser() -> None:
    dom = chromium_dom(render_grid_map(grid_data("worker")), "#q=" + "张三明")
    assert 'data-ready="1"' in dom and 'data-selected="B1"' in dom
    panel = re.search(r'<div class="gm-panel gm-open".*', dom, re.S).group(0)
    assert "长青家园1号楼" in panel and "1单元" in panel and "2单元" in panel
    hit = re.search(r'<div class="gm-dw[^"]*gm-hit[^"]*" id="gm-dw-B1-1-101"', panel)
    assert hit and "gm-has-care" in hit.group(0)
    assert re.search(r'<li class="gm-person gm-care gm-hit"[^>]*>张三明', panel)
    assert panel.count('class="gm-dw') == 24  # every dwelling of the building is a cell of the 楼盘表
    # an address, in the short 楼-单元-室 form
    dom = chromium_dom(render_grid_map(grid_data("viewer")), "#q=2-1-502")
    assert 'data-selected="B2"' in dom and 'id="gm-dw-B2-1-502"' in dom
    assert "李*红" in dom and "李小红" not in dom


# -- the signboard -------------------------------------------------------------------------------------------
def _pdf_size(path: Path) -> tuple[float, float]:
    from pypdf import PdfReader

    box = PdfReader(str(path)).pages[0].mediabox
    return float(box.width), float(box.height)


@pytest.mark.parametrize("size", ["A4", "A3"])
def test_signboard_pdf_and_png(tmp_path: Path, size: str) -> None:
    from matplotlib.image import imread

    from geo.maps.signboard import PAPER_MM, grid_url, qr_modules, render_signboard

    d = prepare(role="viewer", **frames())
    url = grid_url("https://gridmap.example.cn/", CODE)
    assert url == f"https://gridmap.example.cn/grids/{CODE}/map"
    sb = render_signboard(d, "https://gridmap.example.cn/", size=size, pdf=tmp_path / "s.pdf", png=tmp_path / "s.png")
    w_mm, h_mm = PAPER_MM[size]
    assert _pdf_size(sb.pdf) == pytest.approx((w_mm / 25.4 * 72, h_mm / 25.4 * 72), abs=0.5)
    img = imread(sb.png)
    assert img.shape[:2] == pytest.approx((h_mm / 25.4 * 150, w_mm / 25.4 * 150), abs=1)
    # the QR drawn is the one for the URL, module for module, read back from the PNG's pixels
    assert np.array_equal(sb.qr, qr_modules(url))
    x0, y0, x1, y1 = sb.qr_box
    h, w = img.shape[:2]
    n = sb.qr.shape[0]
    xs = x0 * w + (np.arange(n) + 0.5) * (x1 - x0) * w / n
    ys = (1 - y1) * h + (np.arange(n) + 0.5) * (y1 - y0) * h / n
    grey = img[..., :3].mean(axis=2)
    sampled = grey[np.ix_(ys.astype(int), xs.astype(int))] < 0.5
    assert np.array_equal(sampled, sb.qr)
    zbar = shutil.which("zbarimg")
    if zbar:  # a real decoder, where one is installed
        out = subprocess.run([zbar, "-q", "--raw", str(sb.png)], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == url
    # public: no resident's name, but the worker's phone
    from pypdf import PdfReader

    text = PdfReader(str(sb.pdf)).pages[0].extract_text()
    assert "李网格" in text and "139 0000 1111" in text and CODE in text
    assert "张三明" not in text and "张*明" not in text


def test_signboard_finds_a_cjk_font_and_checks_its_inputs(tmp_path: Path) -> None:
    from geo.maps.signboard import CJK_FAMILIES, cjk_font, render_signboard

    assert cjk_font() in CJK_FAMILIES
    d = prepare(role="viewer", **frames())
    with pytest.raises(InvalidInput):
        render_signboard(d, "https://x.cn", size="A5", pdf=tmp_path / "x.pdf")
    with pytest.raises(InvalidInput):
        render_signboard(d, "gridmap.local", size="A4", pdf=tmp_path / "x.pdf")


def test_a_grid_without_a_polygon_still_draws(tmp_path: Path) -> None:
    from geo.maps.signboard import render_signboard

    f = frames()
    f["boundary"] = None
    d = prepare(role="worker", **f)
    page = render_grid_map(d)
    assert embedded(page)["boundary"] is None and "1号楼" in page
    sb = render_signboard(d, "https://x.cn", size="A4", png=tmp_path / "s.png")
    assert sb.png.exists() and sb.pdf is None
