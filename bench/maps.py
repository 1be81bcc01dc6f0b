"""Maps benchmark: the 以房找人 map of a grid, every grid of the sample street in batch, and a signboard.

Loads the sample street (中山东路街道: 4 communities, 582 buildings, ~15k dwellings, ~33k persons) into
a fresh database, balances and approves it, then measures, each as the median of ``--runs``:

* one grid's map (read from PostGIS, mask, render the standalone HTML), for a typical grid and the
  grid with the most buildings; peer: a plain folium map (``folium.GeoJson`` with a tooltip, CDN assets, no
  楼盘表, no residents) of the same grid's buildings, rendered to HTML;
* every grid's map written to files, in one process and in ``--jobs`` processes (as ``gridmap maps --all``);
* one signboard, A4 and A3, PDF + PNG at 150 dpi; peer: ``GeoDataFrame.plot()`` of the same buildings
  saved as PDF + PNG of the same size.

    .venv/bin/python bench/maps.py [--runs 5] [--jobs 2] [--no-write]

Results are written into docs/benchmarks.md between the ``maps`` markers.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from geo.db import mapdata, migrate, plans  # noqa: E402
from geo.db.cluster import create_database, drop_database  # noqa: E402
from geo.db.engine import make_engine  # noqa: E402
from geo.db.imports import import_paths  # noqa: E402
from geo.db.load import load_divisions  # noqa: E402
from geo.db.people import import_dwellings, import_persons  # noqa: E402
from geo.db.settings import get_db_settings  # noqa: E402

SAMPLE = ROOT / "sample_shapefiles"
STREET = "150102003000"
BASE_URL = "https://gridmap.example.cn"


def median_time(fn, runs: int) -> float:  # noqa: ANN001
    fn()  # warm-up (imports, font cache, connection)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def load_street(engine) -> None:  # noqa: ANN001
    import_paths(engine, [SAMPLE / "communities.shp", SAMPLE / "compounds.shp", SAMPLE / "buildings.shp"])
    import_dwellings(engine, SAMPLE / "dwellings.csv")
    import_persons(engine, SAMPLE / "persons.csv")
    with engine.connect() as conn:
        codes = plans.community_codes(conn, street=STREET)
    for r in plans.balance(engine, codes, jobs=2, created_by="bench"):
        plans.approve(engine, r["plan_id"], approved_by="bench")
    with engine.begin() as conn:  # a worker with a public phone on every grid
        conn.execute(
            sa.text(
                "INSERT INTO grid_worker (name, phone, grid_code) SELECT '网格员' || right(g.code, 3), "
                "'1390471' || right(g.code, 4), g.code FROM grid g JOIN grid_plan p ON p.id = g.plan_id "
                "WHERE p.status = 'active'"
            )
        )


def explore_peer(engine, code: str) -> str:  # noqa: ANN001
    import geopandas as gpd

    with engine.connect() as conn:
        gdf = gpd.read_postgis(
            sa.text(
                "SELECT b.ext_id, b.number, b.floors, b.geom FROM grid_assignment a JOIN grid g ON g.id = a.grid_id "
                "JOIN grid_plan p ON p.id = g.plan_id AND p.status = 'active' JOIN building b ON b.id = a.building_id "
                "WHERE g.code = :c"
            ),
            conn,
            geom_col="geom",
            params={"c": code},
        )
    import folium

    c = gdf.union_all().centroid
    m = folium.Map(location=[c.y, c.x], zoom_start=17, tiles=None)
    folium.GeoJson(gdf, tooltip=folium.GeoJsonTooltip(["ext_id", "number", "floors"])).add_to(m)
    return m.get_root().render()


def plot_peer(engine, code: str, out: Path) -> None:  # noqa: ANN001
    import geopandas as gpd
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with engine.connect() as conn:
        gdf = gpd.read_postgis(
            sa.text(
                "SELECT b.ext_id, b.geom FROM grid_assignment a JOIN grid g ON g.id = a.grid_id "
                "JOIN grid_plan p ON p.id = g.plan_id AND p.status = 'active' JOIN building b ON b.id = a.building_id "
                "WHERE g.code = :c"
            ),
            conn,
            geom_col="geom",
            params={"c": code},
        )
    fig = Figure(figsize=(297 / 25.4, 420 / 25.4), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    gdf.to_crs(gdf.estimate_utm_crs()).plot(ax=ax, edgecolor="#555")
    fig.savefig(out / "peer.pdf")
    fig.savefig(out / "peer.png", dpi=150)


def batch(url: str, engine, codes: list[str], out: Path, jobs: int) -> float:  # noqa: ANN001
    from geo.commands import maps as cmd

    t0 = time.perf_counter()
    if jobs <= 1:
        cmd._ENGINE = engine
        results = [cmd._render_map(c, str(out), "worker", "occupancy", None) for c in codes]
    else:
        engine.dispose()
        with ProcessPoolExecutor(max_workers=jobs, initializer=cmd._init_worker, initargs=(url,)) as pool:
            results = list(
                pool.map(
                    cmd._render_map,
                    codes,
                    [str(out)] * len(codes),
                    ["worker"] * len(codes),
                    ["occupancy"] * len(codes),
                    [None] * len(codes),
                )
            )
    failed = [(c, e) for c, e, _ in results if e]
    if failed:
        raise SystemExit(f"map of {failed[0][0]} failed: {failed[0][1]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--no-write", action="store_true", help="print only; do not touch docs/benchmarks.md")
    args = ap.parse_args()

    load = os.getloadavg()
    server = get_db_settings().url
    name = "gridmap_bench_maps"
    drop_database(server, name)
    create_database(server, name)
    url = sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        load_divisions(engine, SAMPLE / "nmg_divisions.csv")
        t0 = time.perf_counter()
        load_street(engine)
        print(f"sample street loaded, balanced and approved ({time.perf_counter() - t0:.0f} s)")
        with engine.connect() as conn:
            codes = mapdata.grid_codes(conn, all_=True)
            sizes = dict(
                conn.execute(
                    sa.text(
                        "SELECT g.code, count(*) FROM grid g JOIN grid_plan p ON p.id = g.plan_id AND p.status = 'active' "
                        "JOIN grid_assignment a ON a.grid_id = g.id GROUP BY g.code"
                    )
                ).all()
            )
        by_size = sorted(codes, key=lambda c: (sizes[c], c))
        typical, biggest = by_size[len(by_size) // 2], by_size[-1]
        rows = []
        for label, code in (("typical", typical), ("most buildings", biggest)):
            with engine.connect() as conn:
                d = mapdata.read_grid_map(conn, code, "worker")
            page = mapdata.grid_map_html(engine, code, "worker")
            ours = median_time(lambda c=code: mapdata.grid_map_html(engine, c, "worker"), args.runs)

            def read(c: str = code) -> None:
                with engine.connect() as conn:
                    mapdata.read_grid_map(conn, c, "worker")

            t_read = median_time(read, args.runs)
            peer = median_time(lambda c=code: explore_peer(engine, c), args.runs)
            rows.append((label, code, len(d.buildings), d.households, d.residents, len(page), ours, t_read, peer))
            print(f"{code} ({label}): {ours:.3f} s (read {t_read:.3f} s), plain folium {peer:.3f} s")

        with tempfile.TemporaryDirectory() as tmp:
            serial = batch(url, engine, codes, Path(tmp), 1)
            parallel = batch(url, engine, codes, Path(tmp), args.jobs)
            total_bytes = sum(p.stat().st_size for p in Path(tmp).glob("*.html"))
            print(f"all {len(codes)} grids: {serial:.2f} s in 1 process, {parallel:.2f} s in {args.jobs}")

            boards = {}
            for size in ("A4", "A3"):
                boards[size] = median_time(
                    lambda s=size: mapdata.grid_signboard(
                        engine, typical, BASE_URL, size=s, pdf=Path(tmp) / "s.pdf", png=Path(tmp) / "s.png"
                    ),
                    args.runs,
                )
                print(f"signboard {size}: {boards[size]:.2f} s")
            peer_board = median_time(lambda: plot_peer(engine, typical, Path(tmp)), args.runs)
            print(f"GeoDataFrame.plot() A3 PDF + PNG: {peer_board:.2f} s")
    finally:
        engine.dispose()
        drop_database(server, name)

    lines = [
        f"The sample street (4 communities, {len(codes)} active grids, 582 buildings, ~15k dwellings, ~33k persons), "
        f"balanced and approved; median of {args.runs} runs after a warm-up; {platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} at the start and {os.getloadavg()[0]:.1f} at the end "
        "(other work on the machine slows every figure, the peers' too).",
        "",
        "**One grid's 以房找人 map** (`grid_map_html`: read from PostGIS, mask for the role, render the standalone "
        "HTML with Leaflet inlined). Peer: a plain folium map of the same grid's buildings "
        "(`folium.GeoJson` with a tooltip, CDN links; no 楼盘表, no residents, no search).",
        "",
        "| grid | buildings | households | residents | page (KB) | GridMap (s) | of which read (s) | folium GeoJson (s) "
        "| vs folium |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, code, nb, hh, res, size, ours, t_read, peer in rows:
        lines.append(
            f"| {code} ({label}) | {nb} | {hh} | {res} | {size / 1024:.0f} | {ours:.3f} | {t_read:.3f} | "
            f"{peer:.3f} | {peer / ours:.2f} |"
        )
    lines += [
        "",
        f"Target ≤ 0.5 s per grid. Measured: {max(r[6] for r in rows):.3f} s at most.",
        "",
        f"**Every grid in batch** (`gridmap maps --all`: {len(codes)} HTML files, {total_bytes / 1e6:.1f} MB in all).",
        "",
        "| processes | total (s) | per grid (s) |",
        "|---:|---:|---:|",
        f"| 1 | {serial:.2f} | {serial / len(codes):.3f} |",
        f"| {args.jobs} | {parallel:.2f} | {parallel / len(codes):.3f} |",
        "",
        "**One signboard** (`grid_signboard`: read counts, draw plan + QR with matplotlib and segno, write PDF and "
        f"150 dpi PNG), grid {typical}. Peer: `GeoDataFrame.plot()` of the same buildings saved as A3 PDF + PNG.",
        "",
        "| paper | GridMap (s) | GeoDataFrame.plot() (s) | vs plot() |",
        "|---|---:|---:|---:|",
        f"| A4 | {boards['A4']:.2f} | | |",
        f"| A3 | {boards['A3']:.2f} | {peer_board:.2f} | {peer_board / boards['A3']:.2f} |",
        "",
        f"Target ≤ 2 s per signboard. Measured: {max(boards.values()):.2f} s at most.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("maps", "以房找人 maps and signboards", text)


if __name__ == "__main__":
    main()
