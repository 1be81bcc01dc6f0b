"""The 以房找人 map of a grid: a standalone folium/Leaflet HTML page that works with no network.

The page holds the grid's boundary, its neighbours' outlines and every building (numbered and
coloured by a measure), a title (code, name, worker, phone), a legend, a north arrow and a scale
bar. Clicking a building opens its 楼盘表 (floors × units, each dwelling with its residents, care
tags highlighted); the search box finds a person, an address or a building (以人找房). All of it is
drawn in the browser from JSON embedded in the page, so nothing is fetched at run time.

Folium loads Leaflet, jQuery and Bootstrap from CDNs by default; here the map's ``default_js`` and
``default_css`` are emptied and Leaflet (vendored under ``map_ui/static/vendor/``) is inlined, or
referenced under ``assets_url`` when a server serves those files. The only URLs that may remain are
the optional basemap's tile templates; :func:`external_resources` checks that.
"""

from __future__ import annotations

import base64
import html
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.template import Template

from geo.crs import wgs84_to_gcj02
from geo.errors import InvalidInput
from geo.maps import style
from geo.maps.data import GridMapData

ASSETS = Path(__file__).resolve().parent / "assets"
VENDOR = Path(__file__).resolve().parents[2] / "map_ui" / "static" / "vendor"
_PRECISION = 6  # decimal degrees: ~0.1 m


# -- assets -------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _leaflet_inline() -> str:
    leaflet = VENDOR / "leaflet"
    try:
        js = (leaflet / "leaflet.js").read_text(encoding="utf-8")
        css = (leaflet / "leaflet.css").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"Leaflet is missing from {leaflet} (see map_ui/static/vendor/README.md)") from None
    js = re.sub(r"^//# sourceMappingURL=.*$", "", js, flags=re.M)

    def data_uri(m: re.Match) -> str:
        png = leaflet / m.group(1)
        return f"url(data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()})"

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", data_uri, css)
    return f"<style>{css}</style>\n<script>{js}</script>"


@lru_cache(maxsize=1)
def _ui_inline() -> str:
    css = (ASSETS / "gridmap.css").read_text(encoding="utf-8")
    js = (ASSETS / "gridmap.js").read_text(encoding="utf-8")
    return f"<style>{css}</style>\n<script>{js}</script>"


def _assets(assets_url: str | None) -> str:
    if assets_url is None:
        return _leaflet_inline() + "\n" + _ui_inline()
    base = assets_url.rstrip("/")
    return (
        f'<link rel="stylesheet" href="{html.escape(base)}/leaflet/leaflet.css"/>\n'
        f'<script src="{html.escape(base)}/leaflet/leaflet.js"></script>\n' + _ui_inline()
    )


_LINK_RE = re.compile(
    r"""<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*["']?((?:https?:)?//[^"'\s>]+)""", re.I
)


def external_resources(page: str) -> list[str]:
    """Every absolute URL a page loads through a ``<script>``, ``<link>``, ``<img>`` or ``<iframe>`` tag."""
    return _LINK_RE.findall(page)


# -- geometry -----------------------------------------------------------------------------------------
def _shift(geom: Any, gcj: bool) -> Any:
    if not gcj or geom is None:
        return geom

    def f(xy: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geom, f)


def _geojson(geom: Any, gcj: bool) -> dict | None:
    if geom is None or geom.is_empty:
        return None
    geom = shapely.set_precision(_shift(geom, gcj), 10.0**-_PRECISION, mode="pointwise")
    return json.loads(shapely.to_geojson(geom))


def _str(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return ""
    return str(v)


def _label_point(geom: Any, gcj: bool) -> list[float] | None:
    """[lat, lon] of a point inside ``geom`` where its label goes."""
    if geom is None or geom.is_empty:
        return None
    pt = _shift(shapely.point_on_surface(geom), gcj)
    return [round(pt.y, _PRECISION), round(pt.x, _PRECISION)]


def _num(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float):
        return None if v != v else round(v, 4)
    return v


# -- payload ------------------------------------------------------------------------------------------
def payload(data: GridMapData, measure: str = "occupancy", basemap: style.Basemap | None = None) -> dict:
    """The JSON the page draws from: grid, neighbours, buildings with counts, 楼盘表 rows, residents."""
    gcj = basemap is not None and basemap.datum == "gcj02"
    b = data.buildings
    features = []
    for row in b.itertuples(index=False):
        props = {
            "id": row.building_id,
            "label": row.label,
            "title": row.title,
            "floors": _num(row.floors),
            "units": _num(row.units),
            "use": _str(row.use),
            "part": _str(row.part),
            "dwellings": int(row.dwellings),
            "households": int(row.households),
            "occupied": int(row.occupied),
            "residents": int(row.residents),
            "care": int(row.care),
            "groups": row.groups,
            "occupancy": _num(row.occupancy),
            "care_share": _num(row.care_share),
            "at": _label_point(row.geometry, gcj),
        }
        features.append({"type": "Feature", "properties": props, "geometry": _geojson(row.geometry, gcj)})
    neighbours = [
        {
            "type": "Feature",
            "properties": {"code": _str(n.code), "name": _str(n.name), "at": _label_point(n.geometry, gcj)},
            "geometry": _geojson(n.geometry, gcj),
        }
        for n in data.neighbours.itertuples(index=False)
    ]
    p = data.persons
    index_of = {pid: i for i, pid in enumerate(p["person_id"])}
    people = [
        {
            "n": _str(n),
            "s": _str(s),
            "a": _num(a),
            "rel": _str(rel),
            "t": _str(t),
            "c": list(c),
            "ph": _str(ph) or None,
            "id": _str(idm) or None,
            "d": d,
        }
        for n, s, a, rel, t, c, ph, idm, d in zip(
            p["name"],
            p["sex"],
            p["age"],
            p["relation"],
            p["residence_type"],
            p["care_tags"],
            p["phone"],
            p["id_masked"],
            p["dwelling_id"],
            strict=True,
        )
    ]
    by_dwelling: dict[str, list[int]] = {}
    for pid, did in zip(p["person_id"], p["dwelling_id"], strict=True):
        by_dwelling.setdefault(did, []).append(index_of[pid])
    d = data.dwellings.sort_values(["building_id", "unit", "floor", "room"], na_position="first")
    dwellings: dict[str, list[dict]] = {bid: [] for bid in b["building_id"]}
    for did, bid, unit, floor, room, use, addr in zip(
        d["dwelling_id"], d["building_id"], d["unit"], d["floor"], d["room"], d["use"], d["address"], strict=True
    ):
        dwellings[bid].append(
            {
                "id": did,
                "u": None if unit != unit or unit is None else int(unit),
                "f": None if floor != floor or floor is None else int(floor),
                "r": str(room),
                "use": _str(use),
                "a": _str(addr),
                "p": by_dwelling.get(did, []),
            }
        )
    w = data.worker
    return {
        "grid": {
            "code": data.code,
            "name": data.name,
            "community": data.community_name,
            "street": data.street_name,
            "kind": data.kind,
            "households": data.households,
            "residents": data.residents,
            "buildings": len(b),
            "care": data.care,
            "worker": None if w is None else {"title": w.title, "name": w.name, "phone": w.phone},
        },
        "role": data.role,
        "masked": data.masked,
        "measure": measure,
        "measures": [m.as_json() for m in style.MEASURES.values()],
        "colors": {
            "grid": style.GRID_LINE,
            "neighbour": style.NEIGHBOUR_LINE,
            "selected": style.SELECTED_LINE,
            "care": style.CARE_MARK,
            "noData": style.NO_DATA,
        },
        "basemap": None if basemap is None else basemap.key,
        "boundary": _geojson(data.boundary, gcj),
        "neighbours": {"type": "FeatureCollection", "features": neighbours},
        "buildings": {"type": "FeatureCollection", "features": features},
        "dwellings": dwellings,
        "people": people,
    }


def _json_for_script(obj: Any) -> str:
    """JSON safe inside a <script> element (no ``</script>``, no ``<!--``)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


# -- overlays (plain HTML, readable without JavaScript and in print) ---------------------------------
_NORTH = (
    '<svg width="34" height="48" viewBox="0 0 34 48" aria-label="北"><text x="17" y="13" text-anchor="middle" '
    'font-size="13" font-weight="700" font-family="sans-serif">N</text><polygon points="17,16 27,44 17,37 7,44" '
    'fill="#222"/><polygon points="17,16 17,37 7,44" fill="#fff" stroke="#222" stroke-width="1"/></svg>'
)


def _overlays(data: GridMapData, measure: style.Measure) -> str:
    e = html.escape
    w = data.worker
    worker = (
        f'<div class="gm-worker">{e(w.title)} {e(w.name)}'
        + (f' <a href="tel:{e(w.phone)}">{e(w.phone)}</a>' if w.phone else "")
        + "</div>"
        if w
        else '<div class="gm-worker">网格员：未配备</div>'
    )
    place = " · ".join(x for x in (data.street_name, data.community_name) if x)
    title = (
        '<div id="gm-title" class="gm-box gm-title">'
        '<button id="gm-print" class="gm-print" type="button" title="打印以房找人图">打印</button>'
        f'<div class="gm-name">{e(data.name)}</div>'
        f'<div class="gm-code">网格编码 {e(data.code)}{" · " + e(place) if place else ""}</div>'
        f"{worker}"
        f'<div class="gm-stats">{data.households}户 · {data.residents}人 · {len(data.buildings)}栋'
        f"{f' · 重点人群 {data.care}人' if data.care else ''}</div>"
        + ('<div class="gm-masked">姓名已脱敏（查看者权限）</div>' if data.masked else "")
        + "</div>"
    )
    options = "".join(
        f'<option value="{k}"{" selected" if k == measure.key else ""}>{e(m.label)}</option>'
        for k, m in style.MEASURES.items()
    )
    classes = "".join(
        f'<div><span class="gm-swatch" style="background:{c}"></span>{e(t)}</div>' for c, t in measure.classes()
    )
    legend = (
        '<div id="gm-legend" class="gm-box gm-legend">'
        f'<div class="gm-legend-title" id="gm-legend-title">{e(measure.label)}</div>'
        f'<select id="gm-measure" aria-label="着色指标">{options}</select>'
        f'<div id="gm-legend-classes">{classes}'
        f'<div><span class="gm-swatch" style="background:{style.NO_DATA}"></span>无数据（非住宅或无人）</div></div>'
        f'<div><span class="gm-line" style="border-top:3px solid {style.GRID_LINE}"></span>本网格边界</div>'
        f'<div><span class="gm-line" style="border-top:2px dashed {style.NEIGHBOUR_LINE}"></span>相邻网格</div>'
        "</div>"
    )
    north = f'<div id="gm-north" class="gm-box gm-north" title="指北">{_NORTH}</div>'
    search = (
        '<div id="gm-search" class="gm-box gm-search">'
        '<input id="gm-q" type="search" placeholder="找人或地址：姓名 / 3号楼2单元501 / 3-2-501" '
        'aria-label="搜索姓名或地址" autocomplete="off"/>'
        '<ul id="gm-results" class="gm-results"></ul></div>'
    )
    return title + north + legend + search


class _Raw(Element):
    """Markup inserted as it is (branca would compile a plain Element's text as a Jinja template)."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self._markup = markup

    def render(self, **kwargs: Any) -> str:
        return self._markup


class _GridMapUI(MacroElement):
    """Starts the page's script once the map exists."""

    _template = Template(
        """{% macro script(this, kwargs) %}
GridMapUI.init({{ this._parent.get_name() }}, JSON.parse(document.getElementById("gridmap-data").textContent));
{% endmacro %}"""
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "GridMapUI"


# -- render -------------------------------------------------------------------------------------------
def render_grid_map(
    data: GridMapData,
    measure: str = "occupancy",
    basemap: str | style.Basemap | None = None,
    *,
    tk: str | None = None,
    assets_url: str | None = None,
) -> str:
    """The standalone HTML page of ``data``'s 以房找人 map.

    ``basemap``: None (default: no basemap, works offline), ``"tianditu"``/``"tianditu-satellite"``
    (key ``tk`` or ``GRIDMAP_TIANDITU_TK``) or ``"amap"`` (GCJ-02: the overlay is shifted to match).
    ``assets_url``: reference Leaflet under this URL (``/static/vendor``) instead of inlining it.
    """
    m = style.measure(measure)
    bm = style.basemap(basemap, tk)
    gcj = bm is not None and bm.datum == "gcj02"
    focus = data.boundary if data.boundary is not None and not data.boundary.is_empty else None
    if focus is None:
        focus = shapely.union_all(data.buildings.geometry.values) if len(data.buildings) else shapely.Point(111.7, 40.8)
    minx, miny, maxx, maxy = _shift(focus, gcj).bounds
    fmap = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=17,
        tiles=None,
        control_scale=False,
        zoom_control=True,
    )
    fmap.default_js = []
    fmap.default_css = []
    if bm is not None:
        for i, src in enumerate(bm.layers):
            folium.TileLayer(
                tiles=src.url,
                attr=src.attribution,
                subdomains=src.subdomains,
                max_zoom=src.max_zoom,
                max_native_zoom=src.max_zoom,
                name=f"{bm.key}-{i}",
                overlay=i > 0,
                control=False,
            ).add_to(fmap)
    root = fmap.get_root()
    root.title = html.escape(f"{data.name} {data.code} · 以房找人")
    root.header.add_child(_Raw('<meta name="robots" content="noindex"/>'), name="gm_meta")
    root.header.add_child(_Raw(_assets(assets_url)), name="gm_assets")
    root.html.add_child(_Raw(_overlays(data, m)), name="gm_overlays")
    root.html.add_child(
        _Raw(
            '<script type="application/json" id="gridmap-data">'
            + _json_for_script(payload(data, measure, bm))
            + "</script>"
        ),
        name="gm_data",
    )
    fmap.add_child(_GridMapUI())
    page = root.render()
    allowed = {src.url for src in bm.layers} if bm else set()
    stray = [u for u in external_resources(page) if u not in allowed]
    if stray:  # a folium element brought its CDN links back: refuse rather than ship a page that needs a network
        raise InvalidInput(f"the map would load {stray[0]} from the network")
    return page
