"""The printable 网格公示牌 (grid signboard): an A3 or A4 PDF and PNG drawn with matplotlib.

A signboard is public: it shows the grid's plan (its outline, the neighbouring grids and the
numbered buildings, no basemap), the grid's code and name, its worker and the worker's public phone,
the household and resident counts, and a QR code (一格一码) that opens the grid's page
(``{base_url}/grids/{code}/map``). No resident is named on it.

The QR code is made with ``segno`` (pure Python, no Pillow or other dependency, ISO/IEC 18004
compliant, and it hands back the module matrix that is drawn here as an image, so the printed code
is exactly the encoder's output). Chinese text needs a CJK font: Noto Sans CJK (Debian's
``fonts-noto-cjk``) or another one found by matplotlib's font manager; without one,
:func:`cjk_font` says what to install instead of printing boxes.
"""

from __future__ import annotations

import datetime as dt
import glob
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
import segno
import shapely
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath

from geo.crs import STORAGE_CRS, metric_crs_for
from geo.errors import InvalidInput, SetupError
from geo.maps import style
from geo.maps.data import GridMapData

PAPER_MM = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}  # portrait width, height
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Noto Sans CJK JP",
    "Noto Serif CJK SC",
)
_FONT_GLOBS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK*.tt[cf]",
    "/usr/share/fonts/opentype/noto/NotoSansCJK*.otf",
    "/usr/share/fonts/truetype/wqy/*.tt[cf]",
    "/usr/share/fonts/**/*CJK*.tt[cf]",
)
HEADER_RED = "#c0392b"


@lru_cache(maxsize=1)
def cjk_font() -> str:
    """The family name of an installed CJK font, or :class:`SetupError` saying what to install."""

    def pick() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((f for f in CJK_FAMILIES if f in names), None)

    found = pick()
    if found is None:  # installed after matplotlib built its font cache
        for pattern in _FONT_GLOBS:
            for path in glob.glob(pattern, recursive=True):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = pick()
    if found is None:
        raise SetupError(
            "no CJK font for the signboard's Chinese text: install Noto Sans CJK "
            "(Debian/Ubuntu: apt-get install -y fonts-noto-cjk) and run again"
        )
    return found


def grid_url(base_url: str, code: str) -> str:
    """The page a grid's QR code opens."""
    base = (base_url or "").strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise InvalidInput(f"the base URL must start with http:// or https://, got {base_url!r}")
    return f"{base}/grids/{code}/map"


def qr_modules(url: str, border: int = 4) -> np.ndarray:
    """The QR code of ``url`` as a boolean matrix (True = dark), quiet zone of ``border`` modules included."""
    qr = segno.make(url, error="m", micro=False)
    return np.array([list(row) for row in qr.matrix_iter(scale=1, border=border)], dtype=bool)


@dataclass(frozen=True)
class Signboard:
    """What :func:`render_signboard` wrote; ``qr_box`` is the QR's (x0, y0, x1, y1) in page fractions
    from the bottom-left corner, ``qr`` the module matrix drawn there (quiet zone included)."""

    code: str
    url: str
    size: str
    pdf: Path | None
    png: Path | None
    qr: np.ndarray
    qr_box: tuple[float, float, float, float]


# -- drawing -----------------------------------------------------------------------------------------
def _patch(geom: Any, **kw: Any) -> PathPatch | None:
    """A matplotlib patch of a (Multi)Polygon, holes included."""
    if geom is None or geom.is_empty:
        return None
    verts: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.geom_type != "Polygon":
            continue
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords)[:, :2]
            c = np.full(len(xy), MplPath.LINETO, dtype=np.uint8)
            c[0] = MplPath.MOVETO
            c[-1] = MplPath.CLOSEPOLY
            verts.append(xy)
            codes.append(c)
    if not verts:
        return None
    return PathPatch(MplPath(np.concatenate(verts), np.concatenate(codes)), **kw)


def _qr_patch(modules: np.ndarray, box: tuple[float, float, float, float], transform: Any) -> PathPatch:
    """The dark modules as one vector path (sharp at any print size; no seams between modules)."""
    x, y, w, h = box
    n = modules.shape[0]
    rows, cols = np.nonzero(modules)
    x0 = x + cols * w / n
    y1 = y + h - rows * h / n
    x1, y0 = x0 + w / n, y1 - h / n
    verts = np.stack([np.c_[x0, y0], np.c_[x1, y0], np.c_[x1, y1], np.c_[x0, y1], np.c_[x0, y0]], axis=1).reshape(-1, 2)
    codes = np.tile(
        np.array([MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, MplPath.LINETO, MplPath.CLOSEPOLY], dtype=np.uint8),
        len(rows),
    )
    return PathPatch(MplPath(verts, codes), facecolor="black", edgecolor="none", transform=transform, zorder=2)


def _nice_length(span_m: float) -> float:
    target = span_m / 5
    for v in (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if v >= target:
            return float(v)
    return 10000.0


_USE_FILL = {"residential": "#f6dcae", "bungalow": "#ead2a4"}


def _draw_plan(ax: Any, data: GridMapData, s: float) -> None:
    outline = data.boundary
    if outline is None or outline.is_empty:  # a grid without a polygon: frame its buildings
        if not len(data.buildings):
            raise InvalidInput(f"grid {data.code} has neither a boundary nor buildings to draw")
        outline = shapely.union_all(data.buildings.geometry.values).envelope
    frames = gpd.GeoDataFrame(geometry=[outline], crs=data.buildings.crs or STORAGE_CRS)
    crs = metric_crs_for(frames)
    boundary = frames.to_crs(crs).geometry.iloc[0]
    buildings = data.buildings.to_crs(crs) if len(data.buildings) else data.buildings
    neighbours = data.neighbours.to_crs(crs) if len(data.neighbours) else data.neighbours

    minx, miny, maxx, maxy = boundary.bounds
    pad = max(maxx - minx, maxy - miny) * 0.08 + 20
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    # widen the view to the axes' shape so that the plan keeps its proportions
    bb = ax.get_position()
    fig_w, fig_h = ax.figure.get_size_inches()
    box_ratio = (bb.height * fig_h) / (bb.width * fig_w)
    w, h = maxx - minx, maxy - miny
    if h / w < box_ratio:
        extra = (w * box_ratio - h) / 2
        miny, maxy = miny - extra, maxy + extra
    else:
        extra = (h / box_ratio - w) / 2
        minx, maxx = minx - extra, maxx + extra
    view = shapely.box(minx, miny, maxx, maxy)

    for n in neighbours.itertuples(index=False):
        p = _patch(n.geometry, facecolor="none", edgecolor="#8c8c8c", lw=0.9 * s, ls=(0, (4, 3)), zorder=1)
        if p is not None:
            ax.add_patch(p)
    grid_fill = _patch(boundary, facecolor="#fff7f5", edgecolor="none", zorder=0)
    if grid_fill is not None:
        ax.add_patch(grid_fill)
    for b in buildings.itertuples(index=False):
        p = _patch(b.geometry, facecolor=_USE_FILL.get(b.use, "#dedede"), edgecolor="#555555", lw=0.5 * s, zorder=3)
        if p is not None:
            ax.add_patch(p)
    outline = _patch(boundary, facecolor="none", edgecolor=style.GRID_LINE, lw=2.6 * s, zorder=4)
    if outline is not None:
        ax.add_patch(outline)
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor("#444444")
        spine.set_linewidth(0.8 * s)

    # labels: buildings (residential first, larger first), then neighbours; overlapping ones are dropped
    texts: list[tuple[float, Any]] = []
    for b in buildings.itertuples(index=False):
        pt = shapely.point_on_surface(b.geometry)
        rank = (1e6 if b.use == "residential" else 0) + float(b.households)
        t = ax.text(
            pt.x, pt.y, b.label, ha="center", va="center", fontsize=7.5 * s, fontweight="bold", zorder=6, color="#111"
        )
        texts.append((rank, t))
    for n in neighbours.itertuples(index=False):
        inside = n.geometry.intersection(view)
        if inside.is_empty:
            continue
        pt = shapely.point_on_surface(inside)
        t = ax.text(pt.x, pt.y, n.name, ha="center", va="center", fontsize=8 * s, color="#7a7a7a", zorder=2)
        texts.append((-1.0, t))
    renderer = ax.figure.canvas.get_renderer()
    axes_box = ax.get_window_extent(renderer)
    kept: list[Any] = []
    for _rank, t in sorted(texts, key=lambda rt: -rt[0]):
        box = t.get_window_extent(renderer).expanded(1.05, 1.1)
        if not axes_box.contains(box.x0, box.y0) or not axes_box.contains(box.x1, box.y1):
            t.remove()
        elif any(box.overlaps(k) for k in kept):
            t.remove()
        else:
            kept.append(box)

    # north arrow (top right) and scale bar (bottom left), in axes fractions
    ax.annotate(
        "",
        xy=(0.94, 0.965),
        xytext=(0.94, 0.885),
        xycoords="axes fraction",
        arrowprops={"arrowstyle": "simple,head_width=1.2,head_length=1.2", "color": "#222", "lw": 0},
        zorder=7,
    )
    ax.text(0.94, 0.86, "N", transform=ax.transAxes, ha="center", va="top", fontsize=11 * s, fontweight="bold")
    length = _nice_length(maxx - minx)
    x0, y0 = minx + (maxx - minx) * 0.04, miny + (maxy - miny) * 0.035
    bar_h = (maxy - miny) * 0.008
    for i, colour in enumerate(("#222222", "#ffffff")):
        ax.add_patch(
            Rectangle(
                (x0 + i * length / 2, y0), length / 2, bar_h, facecolor=colour, edgecolor="#222", lw=0.6 * s, zorder=7
            )
        )
    for x, text in ((x0, "0"), (x0 + length / 2, f"{length / 2:g}"), (x0 + length, f"{length:g} 米")):
        ax.text(x, y0 + bar_h * 1.6, text, ha="center", va="bottom", fontsize=7 * s, zorder=7)


def _phone(p: str | None) -> str:
    digits = "".join(ch for ch in (p or "") if ch.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    return p or ""


def render_signboard(
    data: GridMapData,
    base_url: str,
    *,
    size: str = "A4",
    pdf: str | Path | None = None,
    png: str | Path | None = None,
    dpi: int = 150,
    today: dt.date | None = None,
) -> Signboard:
    """Draw the signboard of ``data``'s grid and write it to ``pdf`` and/or ``png``."""
    if size not in PAPER_MM:
        raise InvalidInput(f"unknown paper size {size!r}; use A3 or A4")
    url = grid_url(base_url, data.code)
    font = cjk_font()
    width_mm, height_mm = PAPER_MM[size]
    s = width_mm / 210.0  # type scale: A3 is √2 × A4
    today = today or dt.date.today()
    with matplotlib.rc_context(
        {
            "font.family": [font],
            "font.sans-serif": [font, "DejaVu Sans"],
            "axes.unicode_minus": False,
            "pdf.compression": 6,
        }
    ):
        fig = Figure(figsize=(width_mm / 25.4, height_mm / 25.4), dpi=dpi)
        FigureCanvasAgg(fig)
        # header
        fig.patches.append(Rectangle((0, 0.885), 1, 0.115, transform=fig.transFigure, facecolor=HEADER_RED, zorder=0))
        fig.text(0.5, 0.952, "网格公示牌", ha="center", va="center", color="white", fontsize=38 * s, fontweight="bold")
        place = " · ".join(x for x in (data.street_name, data.community_name) if x) or data.name
        fig.text(0.5, 0.905, place, ha="center", va="center", color="white", fontsize=15 * s)
        # the grid, its worker, its counts
        w = data.worker
        x = 0.065
        fig.text(x, 0.845, data.name, fontsize=22 * s, fontweight="bold", va="center")
        fig.text(x, 0.805, f"网格编码  {data.code}", fontsize=13 * s, va="center", color="#333")
        fig.text(
            x, 0.767, f"{w.title if w else '网格员'}  {w.name if w else '（待配备）'}", fontsize=18 * s, va="center"
        )
        fig.text(x, 0.727, "联系电话", fontsize=13 * s, va="center", color="#333")
        fig.text(
            x + 0.135,
            0.727,
            _phone(w.phone) if w and w.phone else "—",
            fontsize=24 * s,
            fontweight="bold",
            va="center",
            color=HEADER_RED,
        )
        fig.text(
            x,
            0.687,
            f"{data.households} 户   {data.residents} 人   {len(data.buildings)} 栋楼",
            fontsize=15 * s,
            va="center",
        )
        # QR code (一格一码): square on paper
        modules = qr_modules(url)
        qw = 0.27
        qh = qw * width_mm / height_mm
        qx, qy = 0.965 - qw, 0.873 - qh
        fig.patches.append(_qr_patch(modules, (qx, qy, qw, qh), fig.transFigure))
        fig.text(qx + qw / 2, qy - 0.008, "扫码查看本网格 · 一格一码", ha="center", va="top", fontsize=10.5 * s)
        # the plan
        fig.text(x, 0.635, "网格平面图", fontsize=13 * s, fontweight="bold", va="center")
        legend = "红线：本网格边界    虚线：相邻网格    数字：楼栋号"
        fig.text(0.935, 0.635, legend, fontsize=9 * s, va="center", ha="right", color="#555")
        ax = fig.add_axes((0.065, 0.06, 0.87, 0.56))
        _draw_plan(ax, data, s)
        fig.text(
            0.5,
            0.03,
            f"网格编码 {data.code}    打印日期 {today:%Y-%m-%d}    {url}",
            ha="center",
            va="center",
            fontsize=8 * s,
            color="#666",
        )
        meta = {"Title": f"网格公示牌 {data.code} {data.name}", "Creator": "GridMap"}
        if pdf is not None:
            pdf = Path(pdf)
            pdf.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(pdf, format="pdf", metadata=meta)
        if png is not None:
            png = Path(png)
            png.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(
                png,
                format="png",
                dpi=dpi,
                metadata={"Title": meta["Title"], "Software": "GridMap"},
                pil_kwargs={"compress_level": 2},  # zlib's default (6) doubles the time for a few % of size
            )
    return Signboard(data.code, url, size, pdf, png, modules, (qx, qy, qx + qw, qy + qh))
