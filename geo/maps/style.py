"""Colours, measures, legends and basemaps of GridMap's maps (shared by the web map and the signboard).

A *measure* colours every building of a grid's map:

``occupancy``  occupied share of the building's dwellings (households with at least one resident)
``residents``  number of residents
``care``       share of the residents with a care tag (重点人群)

Each measure has fixed class breaks, so that two grids' maps read the same way side by side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from geo.errors import InvalidInput

# ColorBrewer sequential schemes, 5 classes (light → dark).
_BLUES = ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c")
_GREENS = ("#edf8e9", "#bae4b3", "#74c476", "#31a354", "#006d2c")
_ORANGES = ("#feedde", "#fdbe85", "#fd8d3c", "#e6550d", "#a63603")

NO_DATA = "#d9d9d9"  # buildings without dwellings (shops, schools) or without residents
GRID_LINE = "#d7191c"  # the grid's own boundary
NEIGHBOUR_LINE = "#737373"  # neighbouring grids' outlines
SELECTED_LINE = "#2b83ba"  # the building picked on the map or found by search
CARE_MARK = "#c0392b"  # care-tagged residents in the 楼盘表


@dataclass(frozen=True, slots=True)
class Measure:
    """How one measure colours buildings: ``breaks`` are the upper bounds of all classes but the last."""

    key: str
    label: str  # legend title
    field: str  # the building property holding the value
    breaks: tuple[float, ...]
    colors: tuple[str, ...]
    percent: bool

    def color(self, value: float | None) -> str:
        if value is None or value != value:  # None or NaN
            return NO_DATA
        for upper, colour in zip(self.breaks, self.colors, strict=False):
            if value < upper:
                return colour
        return self.colors[-1]

    def classes(self) -> list[tuple[str, str]]:
        """(colour, label) of every class, for the legend."""

        def fmt(v: float) -> str:
            return f"{v * 100:.0f}%" if self.percent else f"{v:g}"

        out = []
        lows = (None, *self.breaks)
        highs = (*self.breaks, None)
        for colour, lo, hi in zip(self.colors, lows, highs, strict=True):
            if lo is None:
                text = f"< {fmt(hi)}"
            elif hi is None:
                text = f"≥ {fmt(lo)}"
            else:
                text = f"{fmt(lo)} – {fmt(hi)}"
            out.append((colour, text))
        return out

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "field": self.field,
            "breaks": list(self.breaks),
            "colors": list(self.colors),
            "classes": [{"color": c, "label": t} for c, t in self.classes()],
        }


MEASURES: dict[str, Measure] = {
    "occupancy": Measure(
        "occupancy", "入住率（有人居住的户 / 总户数）", "occupancy", (0.5, 0.7, 0.85, 0.95), _BLUES, True
    ),
    "residents": Measure("residents", "居住人数", "residents", (10, 30, 60, 120), _GREENS, False),
    "care": Measure("care", "重点人群占比", "care_share", (0.02, 0.05, 0.1, 0.2), _ORANGES, True),
}


def measure(key: str) -> Measure:
    try:
        return MEASURES[key]
    except KeyError:
        raise InvalidInput(f"unknown measure {key!r}; use one of {', '.join(MEASURES)}") from None


# -- basemaps ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TileSource:
    url: str
    attribution: str
    subdomains: str
    max_zoom: int = 18


@dataclass(frozen=True, slots=True)
class Basemap:
    """A web basemap: its tile layers and the datum its tiles are drawn in (``gcj02`` shifts the overlay)."""

    key: str
    layers: tuple[TileSource, ...]
    datum: str  # "wgs84" (CGCS2000 agrees within a metre) or "gcj02"


_TDT = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={tk}"
)
_TDT_ATTR = "© 天地图 Tianditu"
_AMAP = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
BASEMAPS = ("tianditu", "tianditu-satellite", "amap")


def basemap(key: str | Basemap | None, tk: str | None = None) -> Basemap | None:
    """The basemap named ``key`` (None: no basemap, the map works offline).

    Tianditu needs a key (``tk``), given here or in ``GRIDMAP_TIANDITU_TK``; its tiles are in
    CGCS2000 web mercator, so the overlay is drawn as stored. Amap's tiles are in GCJ-02.
    """
    if key is None or isinstance(key, Basemap):
        return key
    if key in ("tianditu", "tianditu-satellite"):
        tk = tk or os.environ.get("GRIDMAP_TIANDITU_TK")
        if not tk:
            raise InvalidInput("the Tianditu basemap needs a key: set GRIDMAP_TIANDITU_TK (or pass tk)")
        base, notes = ("vec", "cva") if key == "tianditu" else ("img", "cia")
        return Basemap(
            key,
            tuple(
                TileSource(_TDT.format(s="{s}", layer=layer, tk=tk), _TDT_ATTR, "01234567") for layer in (base, notes)
            ),
            "wgs84",
        )
    if key == "amap":
        return Basemap("amap", (TileSource(_AMAP, "© 高德地图 AutoNavi", "1234"),), "gcj02")
    raise InvalidInput(f"unknown basemap {key!r}; use one of {', '.join(BASEMAPS)} (or none)")
