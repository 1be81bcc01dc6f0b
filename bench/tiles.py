"""Tile benchmark: a Hohhot-sized city, GridMap's tile endpoint vs tipg, same database, same run.

The data set (database ``gridmap_bench_tiles``, kept between runs unless ``--rebuild``): a
synthetic city of ~150,000 buildings with ~2 million dwellings (``geo.synth.generate_city`` when it
exists, else ``bench/import.py``'s ``make_city``), imported with GridMap's own import, and one
active grid plan per community (the balancer, ``geo.db.plans``; ``--grids squares`` cuts each
community into squares of ~400 households instead, which is much faster to set up).

The load: a fixed, seeded list of map views (a 3 × 2 block of tiles around a random building, zoom
12–17 weighted towards 15–17), the same z/x/y for both servers, sent by ``wrk`` (apt) or, without
it, by a Python client, at concurrency 1, 8 and 32, for the ``buildings`` and ``grids`` layers.
GridMap runs with its tile cache off (uncached) and on (cached, after a warm-up), under uvicorn
with 1 and 2 workers; tipg with 1 and 2 workers on the ``building`` and ``grid`` tables.

    .venv/bin/python bench/tiles.py [--rebuild] [--seconds 6] [--no-write]

Results are written into docs/benchmarks.md between the ``tiles`` markers.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from geo.db import migrate  # noqa: E402
from geo.db.cluster import create_database, drop_database  # noqa: E402
from geo.db.copy import copy_rows  # noqa: E402
from geo.db.engine import make_engine  # noqa: E402
from geo.db.imports import import_paths  # noqa: E402
from geo.db.load import load_divisions  # noqa: E402
from geo.db.settings import get_db_settings  # noqa: E402
from geo.db.tiles import lonlat_to_tile  # noqa: E402

DB_NAME = "gridmap_bench_tiles"
DIVISIONS = ROOT / "sample_shapefiles" / "nmg_divisions.csv"
#: share of map views per zoom: mostly street-level (15-17), where grid workers and planners look
ZOOM_WEIGHTS = {12: 0.05, 13: 0.10, 14: 0.15, 15: 0.20, 16: 0.25, 17: 0.25}
CONCURRENCY = (1, 8, 32)
BIN = ROOT / ".venv" / "bin"
TIPG_LIMIT = 10_000  # tipg's default max_features_per_tile
#: the columns tipg is asked for: those GridMap's layers send (like for like; by default tipg would
#: send every column of the table, GridMap's bookkeeping ones included)
TIPG_PROPERTIES = {
    "building": "id,number,name,floors,use,tile_households,tile_grid",
    "grid": "id,code,name,kind,households,community_code,plan_id",
}


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------------------
# the data set


def city_layers(communities: int, seed: int, density: float):
    """(source, divisions frame of synthetic codes, communities, compounds, buildings, dwellings)."""
    gen = getattr(importlib.import_module("geo.synth"), "generate_city", None)
    if gen is None:
        try:
            gen = importlib.import_module("geo.synth.city").generate_city
        except (ImportError, AttributeError):
            gen = None
    if gen is not None:
        from geo.synth import export

        city = gen(communities, seed, density_scale=density)
        extra = pd.concat(
            [
                pd.DataFrame(
                    {
                        "code": city.streets["code"],
                        "name": city.streets["name"],
                        "level": "town",
                        "parent_code": city.streets["district_code"] + "000000",
                    }
                ),
                pd.DataFrame(
                    {
                        "code": city.communities["code"],
                        "name": city.communities["name"],
                        "level": "village",
                        "parent_code": city.communities["street_code"],
                    }
                ),
            ]
        )
        dwellings = city.dwellings(seed, with_address=False)
        return (
            "geo.synth.generate_city",
            extra,
            export.communities_frame(city.communities),
            export.compounds_frame(city.compounds),
            export.buildings_frame(city.buildings),
            dwellings,
        )
    make_city = importlib.import_module("bench.import").make_city
    comm, buildings = make_city(150_000, seed)
    return "bench/import.py make_city", pd.DataFrame(), comm, None, buildings, None


def build_database(server: str, args: argparse.Namespace) -> tuple[str, dict]:
    """The benchmark database (reused when it holds the same data set), and its description."""
    url = sa.engine.make_url(server).set(database=DB_NAME).render_as_string(hide_password=False)
    wanted = {
        "communities": args.communities,
        "density": args.density,
        "seed": args.seed,
        "grids": args.grids,
        "schema": "0002",
    }
    if not args.rebuild:
        try:
            engine = make_engine(url)
            with engine.connect() as conn:
                meta = conn.execute(sa.text("SELECT meta FROM bench_tiles_meta")).scalar_one()
            engine.dispose()
            if all(meta.get(k) == v for k, v in wanted.items()):
                say(f"reusing database {DB_NAME} ({meta['buildings']:,} buildings, {meta['grids_n']:,} grids)")
                return url, meta
        except sa.exc.SQLAlchemyError:
            pass
    t0 = time.perf_counter()
    drop_database(server, DB_NAME)
    create_database(server, DB_NAME)
    engine = make_engine(url)
    migrate.upgrade(engine)
    source, extra, comm, compounds, buildings, dwellings = city_layers(args.communities, args.seed, args.density)
    with tempfile.TemporaryDirectory() as tmp:
        divisions = pd.read_csv(DIVISIONS, dtype=str, keep_default_na=False)
        if len(extra):
            extra = extra[~extra["code"].isin(divisions["code"])]
            divisions = pd.concat([divisions, extra], ignore_index=True)
        div_path = Path(tmp) / "divisions.csv"
        divisions.to_csv(div_path, index=False)
        load_divisions(engine, div_path)
        paths = []
        for name, frame in (("communities", comm), ("compounds", compounds), ("buildings", buildings)):
            if frame is not None:
                paths.append(Path(tmp) / f"{name}.gpkg")
                frame.to_file(paths[-1], layer=name, engine="pyogrio")
        say(f"importing {len(buildings):,} buildings ({source})")
        for rep in import_paths(engine, paths):
            say(f"  {rep.kind}: {rep.inserted:,} inserted, {rep.rejected:,} rejected")
    if dwellings is not None:
        say(f"loading {len(dwellings):,} dwellings")
        with engine.begin() as conn:
            ids = dict(conn.execute(sa.text("SELECT ext_id, id FROM building")).all())
            frame = pd.DataFrame(
                {
                    "ext_id": dwellings["dwelling_id"],
                    "building_id": dwellings["building_id"].map(ids),
                    "unit": pd.array(dwellings["unit"], dtype="Int64"),
                    "floor": pd.array(dwellings["floor"], dtype="Int64"),
                    "room": dwellings["room"].astype(str),
                }
            ).dropna(subset=["building_id"])
            frame["building_id"] = frame["building_id"].astype("int64")
            copy_rows(conn, "dwelling", list(frame.columns), frame)
    grids_method = make_grids(engine, args)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
        counts = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM building), (SELECT count(*) FROM dwelling), "
                "(SELECT count(*) FROM admin_area WHERE geom IS NOT NULL), "
                "(SELECT count(*) FROM grid g JOIN grid_plan p ON p.id = g.plan_id WHERE p.status = 'active')"
            )
        ).one()
        meta = {
            **wanted,
            "source": source,
            "grids_method": grids_method,
            "buildings": counts[0],
            "dwellings": counts[1],
            "communities_n": counts[2],
            "grids_n": counts[3],
            "setup_s": round(time.perf_counter() - t0),
        }
        conn.execute(sa.text("CREATE TABLE bench_tiles_meta (meta jsonb)"))
        conn.execute(sa.text("INSERT INTO bench_tiles_meta VALUES (CAST(:m AS jsonb))"), {"m": json.dumps(meta)})
    engine.dispose()
    say(f"database ready in {meta['setup_s']} s: {meta}")
    return url, meta


SQUARES_SQL = """
WITH hh AS (
    SELECT b.community_code AS code,
           sum(coalesce(nullif((SELECT count(*) FROM dwelling d WHERE d.building_id = b.id), 0),
                        b.planned_dwellings, 0)) AS households
    FROM building b GROUP BY 1
), c AS (
    SELECT a.code, ST_Transform(a.geom, 4546) AS g, hh.households
    FROM admin_area a JOIN hh ON hh.code = a.code
    WHERE a.level = 'village' AND a.geom IS NOT NULL
), plan AS (
    INSERT INTO grid_plan (community_code, status, approved_at, approved_by, note)
    SELECT code, 'active', now(), 'bench', 'squares of ~400 households' FROM c
    RETURNING id, community_code
), cells AS (
    SELECT c.code, s.geom, row_number() OVER (PARTITION BY c.code ORDER BY ST_YMax(s.geom) DESC, ST_XMin(s.geom)) AS seq
    FROM c, ST_SquareGrid(sqrt(ST_Area(c.g) / greatest(1, round(c.households / 400.0))), c.g) AS s
    WHERE ST_Intersects(s.geom, c.g) AND ST_Area(ST_Intersection(s.geom, c.g)) > 1
)
INSERT INTO grid (plan_id, code, community_code, geom)
SELECT p.id, cells.code || lpad(cells.seq::text, 3, '0'), cells.code,
       ST_Multi(ST_CollectionExtract(ST_Transform(ST_Intersection(cells.geom, c.g), 4490), 3))
FROM cells JOIN c ON c.code = cells.code JOIN plan p ON p.community_code = cells.code
"""
SQUARES_ASSIGN_SQL = """
INSERT INTO grid_assignment (plan_id, building_id, grid_id, households)
SELECT DISTINCT ON (b.id) g.plan_id, b.id, g.id,
       coalesce(nullif((SELECT count(*) FROM dwelling d WHERE d.building_id = b.id), 0), b.planned_dwellings, 0)
FROM building b JOIN grid g ON g.community_code = b.community_code AND ST_Intersects(g.geom, ST_PointOnSurface(b.geom))
ORDER BY b.id, g.id;
UPDATE grid g SET households = s.n FROM (
    SELECT grid_id, sum(households) AS n FROM grid_assignment GROUP BY 1) s WHERE s.grid_id = g.id;
"""


def make_grids(engine, args: argparse.Namespace) -> str:
    """One active plan per community: the balancer's (default) or squares of ~400 households."""
    t0 = time.perf_counter()
    if args.grids == "balance":
        try:
            from geo.db import plans

            with engine.connect() as conn:
                codes = plans.community_codes(conn, all_=True)
            say(f"balancing {len(codes)} communities (2 processes)")
            errors: dict[str, str] = {}
            rows = plans.balance(engine, codes, jobs=2, created_by="bench", errors=errors)
            for row in rows:
                plans.approve(engine, row["plan_id"], approved_by="bench")
            say(f"balanced and approved {len(rows)} plans in {time.perf_counter() - t0:.0f} s ({len(errors)} failed)")
            return f"geo.db.plans.balance + approve ({len(rows)} communities, {len(errors)} failed)"
        except Exception as exc:  # noqa: BLE001 - fall back to squares, and say so
            say(f"balancer failed ({exc.__class__.__name__}: {exc}); using squares")
            with engine.begin() as conn:
                conn.execute(sa.text("TRUNCATE grid_plan CASCADE"))
    with engine.begin() as conn:
        conn.execute(sa.text(SQUARES_SQL))
        conn.connection.dbapi_connection.cursor().execute(SQUARES_ASSIGN_SQL)
    say(f"square grids in {time.perf_counter() - t0:.0f} s")
    return "squares of ~400 households per community (SQL)"


# ------------------------------------------------------------------------------------------
# the tile list


def tile_list(url: str, seed: int, views: int) -> list[tuple[int, int, int]]:
    """Unique z/x/y of ``views`` map views (3 × 2 tiles) around random buildings, zoom by ZOOM_WEIGHTS."""
    engine = make_engine(url)
    with engine.connect() as conn:
        pts = np.array(
            conn.execute(
                sa.text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM building ORDER BY id) q"
                )
            ).all()
        )
    engine.dispose()
    rng = np.random.default_rng(seed)
    zooms = np.array(list(ZOOM_WEIGHTS))
    probs = np.array(list(ZOOM_WEIGHTS.values()))
    out: dict[tuple[int, int, int], None] = {}
    for _ in range(views):
        z = int(rng.choice(zooms, p=probs / probs.sum()))
        lon, lat = pts[rng.integers(len(pts))]
        x, y = lonlat_to_tile(lon, lat, z)
        n = 1 << z
        for dx in (-1, 0, 1):
            for dy in (0, 1):
                out.setdefault((z, min(max(x + dx, 0), n - 1), min(y + dy, n - 1)), None)
    return list(out)


def features_per_tile(url: str, tiles: list[tuple[int, int, int]], table: str) -> list[int]:
    """How many rows of ``table`` each tile's envelope touches (to see where tipg truncates)."""
    engine = make_engine(url)
    q = sa.text(
        f"SELECT count(*) FROM {table} t WHERE t.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490)"
        + (" AND t.plan_id IN (SELECT id FROM grid_plan WHERE status = 'active')" if table == "grid" else "")
    )
    with engine.connect() as conn:
        out = [conn.execute(q, {"z": z, "x": x, "y": y}).scalar_one() for z, x, y in tiles]
    engine.dispose()
    return out


# ------------------------------------------------------------------------------------------
# servers and load


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A uvicorn subprocess (its own process group), stopped on exit."""

    def __init__(self, name: str, app: list[str], env: dict[str, str], workers: int, probe: str) -> None:
        self.name, self.port = name, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [str(BIN / "uvicorn"), *app, "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--workers", str(workers), "--no-access-log", "--log-level", "warning"]
        self.proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, start_new_session=True)
        import httpx

        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if httpx.get(self.base + probe, timeout=30).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"{name} exited with {self.proc.returncode}")
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"{name} did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


WRK_LUA = r"""
local threads = {}
local counter = 1
function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end
function init(args)
  paths = {}
  for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
  pos = math.floor((id - 1) * #paths / 2)
  misses, hits, bad = 0, 0, 0
  hdrs = {["Accept-Encoding"] = "gzip"}
end
function request()
  pos = pos + 1
  if pos > #paths then pos = 1 end
  return wrk.format("GET", paths[pos], hdrs)
end
function response(status, headers, body)
  if status >= 400 then bad = bad + 1 end
  local c = headers["x-tile-cache"] or headers["X-Tile-Cache"]
  if c == "miss" then misses = misses + 1 elseif c == "hit" then hits = hits + 1 end
end
function done(summary, latency, requests)
  local m, h, b = 0, 0, 0
  for _, t in ipairs(threads) do m = m + t:get("misses"); h = h + t:get("hits"); b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "bad": %d, "misses": %d, "hits": %d, ' ..
    '"p50": %d, "p95": %d, "p99": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, b, m, h,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def warm_cache(base: str, paths: list[str], max_rounds: int = 60) -> int:
    """Load the tiles until rounds that asked for every tile three times in a row found them all cached.

    Connections land on the worker processes at random and each worker has its own cache, so only
    an unbroken run of hits covering the list three times counts.
    """
    streak = 0
    for n in range(1, max_rounds + 1):
        r = load(base, paths, 32, 5.0)
        streak = streak + r["requests"] if r["misses"] == 0 else 0
        if streak >= 3 * len(paths):
            return n
    raise SystemExit(f"the tile cache of {base} is still missing tiles after {max_rounds} rounds")


def load(base: str, paths: list[str], concurrency: int, seconds: float) -> dict:
    """Closed-loop load: ``concurrency`` connections cycling through ``paths`` for ``seconds``."""
    with tempfile.TemporaryDirectory() as tmp:
        plist = Path(tmp) / "paths.txt"
        plist.write_text("\n".join(paths) + "\n")
        if shutil.which("wrk"):
            script = Path(tmp) / "tiles.lua"
            script.write_text(WRK_LUA)
            argv = ["wrk", "-t", str(min(2, concurrency)), "-c", str(concurrency), "-d", f"{max(1, round(seconds))}s"]
            argv += ["--timeout", "30s", "-s", str(script), base]
            out = subprocess.run(argv, env={**os.environ, "WRK_PATHS": str(plist)}, capture_output=True, text=True)
            line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
            if not line:
                raise SystemExit(f"wrk failed: {out.stdout}\n{out.stderr}")
            r = json.loads(line[-1])
            return {
                "rps": r["requests"] / (r["duration_us"] / 1e6),
                "p50": r["p50"] / 1000,
                "p95": r["p95"] / 1000,
                "p99": r["p99"] / 1000,
                "requests": r["requests"],
                "errors": r["errors"] + r["bad"],
                "misses": r["misses"],
                "hits": r["hits"],
            }
    return load_python(base, paths, concurrency, seconds)


def load_python(base: str, paths: list[str], concurrency: int, seconds: float) -> dict:
    """The same closed loop with httpx threads (when wrk is not installed; costs more client CPU)."""
    import httpx

    lat: list[float] = []
    errors = misses = hits = 0
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        nonlocal errors, misses, hits
        i = k * len(paths) // max(concurrency, 1)
        mine: list[float] = []
        e = m = h = 0
        with httpx.Client(base_url=base, headers={"Accept-Encoding": "gzip"}, timeout=30) as c:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = c.get(paths[i % len(paths)])
                mine.append(time.perf_counter() - t)
                e += r.status_code >= 400
                m += r.headers.get("x-tile-cache") == "miss"
                h += r.headers.get("x-tile-cache") == "hit"
                i += 1
        with lock:
            lat.extend(mine)
            errors, misses, hits = errors + e, misses + m, hits + h

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    q = np.percentile(np.array(lat) * 1000, [50, 95, 99])
    return {
        "rps": len(lat) / dt,
        "p50": q[0],
        "p95": q[1],
        "p99": q[2],
        "requests": len(lat),
        "errors": errors,
        "misses": misses,
        "hits": hits,
    }


# ------------------------------------------------------------------------------------------
# the run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--communities", type=int, default=560, help="communities of the synthetic city")
    ap.add_argument("--density", type=float, default=1.15, help="household density scale of the synthetic city")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--grids", choices=["balance", "squares"], default="balance")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the database even when it exists")
    ap.add_argument("--views", type=int, default=400, help="map views in the tile list")
    ap.add_argument("--seconds", type=float, default=6.0, help="duration of each measurement")
    ap.add_argument("--workers", default="1,2", help="uvicorn worker counts to try")
    ap.add_argument("--setup-only", action="store_true", help="build (or check) the database and stop")
    ap.add_argument("--no-write", action="store_true", help="print only; do not touch docs/benchmarks.md")
    args = ap.parse_args()
    t_start = time.perf_counter()
    loads: list[float] = [os.getloadavg()[0]]

    server = get_db_settings().url
    url, meta = build_database(server, args)
    if args.setup_only:
        return
    u = sa.engine.make_url(url)
    pg_url = f"postgresql://{u.username}{':' + u.password if u.password else ''}@{u.host}:{u.port}/{u.database}"

    tiles = tile_list(url, args.seed, args.views)
    lists = {
        # GridMap draws footprints from z14 (z12-13: 204, the labels layer carries the overview);
        # compared where both servers send footprints
        "buildings": [t for t in tiles if t[0] >= 14],
        "grids": tiles,
    }
    counts = {"buildings": features_per_tile(url, lists["buildings"], "building")}
    low = [t for t in tiles if t[0] < 14]
    low_counts = features_per_tile(url, low, "building")
    say(
        f"{len(tiles)} tiles ({len(lists['buildings'])} at z14-17); busiest building tile {max(counts['buildings']):,} "
        f"features; z12-13 tiles over tipg's limit: {sum(c > TIPG_LIMIT for c in low_counts)} of {len(low)}"
    )
    paths = {
        "gridmap": {layer: [f"/tiles/{layer}/{z}/{x}/{y}.mvt" for z, x, y in ts] for layer, ts in lists.items()},
        "tipg": {
            layer: [
                f"/collections/public.{table}/tiles/WebMercatorQuad/{z}/{x}/{y}?properties={TIPG_PROPERTIES[table]}"
                for z, x, y in ts
            ]
            for (layer, ts), table in zip(lists.items(), ("building", "grid"), strict=True)
        },
    }
    workers = [int(w) for w in args.workers.split(",")]
    results: dict[tuple[str, str, int, str], dict] = {}  # (server config, layer, workers, "c") -> figures
    floors: dict[tuple[str, int], float] = {}  # (server, workers) -> p50 ms of a request without database work

    configs = [("tipg", None)] + [("gridmap", "uncached"), ("gridmap", "cached")]
    for w in workers:
        for name, mode in configs:
            if name == "tipg":
                env = {
                    "DATABASE_URL": pg_url,
                    "TIPG_DB_SCHEMAS": '["public"]',
                    "TIPG_DB_TABLES": '["public.building", "public.grid"]',
                    "TIPG_CATALOG_TTL": "3600",
                }
                srv = Server("tipg", ["tipg.main:app"], env, w, "/collections")
                trivial = "/healthz"
            else:
                env = {"GRIDMAP_API_DATABASE_URL": url, "GRIDMAP_TILES_CACHE_MB": "0" if mode == "uncached" else "512"}
                srv = Server("gridmap", ["api.main:create_app", "--factory"], env, w, "/health")
                trivial = "/openapi.json"
            label = name if mode is None else f"{name} {mode}"
            try:
                # the server's own floor: an answer without database work, one request at a time
                floors[(name, w)] = load(srv.base, [trivial], 1, 2.0)["p50"]
                for layer in ("buildings", "grids"):
                    p = paths[name][layer]
                    if mode != "cached":  # warm the database pages: the same start for both servers
                        load(srv.base, p, 8, max(3.0, args.seconds / 2))
                    else:  # and for the cached runs, the tile cache of every worker
                        rounds = warm_cache(srv.base, p)
                        say(f"{label} w={w} {layer}: every tile cached in every worker after {rounds} rounds")
                    for c in CONCURRENCY:
                        loads.append(os.getloadavg()[0])
                        r = load(srv.base, p, c, args.seconds)
                        results[(label, layer, w, c)] = r
                        say(
                            f"{label:18s} w={w} {layer:9s} c={c:2d}: {r['rps']:7.1f} tiles/s  p50 {r['p50']:6.1f}  "
                            f"p95 {r['p95']:6.1f}  p99 {r['p99']:6.1f} ms  errors {r['errors']}  "
                            f"hits {r['hits']} misses {r['misses']}"
                        )
            finally:
                srv.stop()
    loads.append(os.getloadavg()[0])
    text = report(
        meta, tiles, lists, counts, low, low_counts, workers, results, floors, loads, time.perf_counter() - t_start
    )
    print(text)
    if not args.no_write:
        write_section("tiles", "Vector tiles: GridMap vs tipg, Hohhot-sized city", text)


def report(meta, tiles, lists, counts, low, low_counts, workers, results, floors, loads, elapsed) -> str:
    def best(label: str, layer: str, c: int) -> tuple[dict, int]:
        cands = [(results[(label, layer, w, c)], w) for w in workers if (label, layer, w, c) in results]
        return max(cands, key=lambda rw: rw[0]["rps"])

    by_zoom = pd.Series([t[0] for t in tiles]).value_counts().sort_index()
    lines = [
        f"Data: {meta['buildings']:,} buildings, {meta['dwellings']:,} dwellings, {meta['communities_n']} communities, "
        f"{meta['grids_n']:,} active grids ({meta['source']}; grids: {meta['grids_method']}). "
        f"{platform.machine()}, {os.cpu_count()} cores; PostgreSQL, servers and load generator "
        f"({'wrk' if shutil.which('wrk') else 'Python httpx threads'}) on the same machine; 1-minute load average "
        f"{min(loads):.1f}–{max(loads):.1f} during the run (other work included); run took {elapsed / 60:.1f} min.",
        "",
        f"Tiles: {len(tiles)} distinct z/x/y from {len(tiles) // 6}-odd seeded map views "
        f"({', '.join(f'z{z}: {n}' for z, n in by_zoom.items())}), the same for both servers, gzip accepted. "
        f"Buildings are compared on the {len(lists['buildings'])} tiles at z14–17 (largest: "
        f"{max(counts['buildings']):,} buildings): GridMap has no footprints below z14 (204; its `labels` layer "
        f"carries the overview), where tipg would send up to {TIPG_LIMIT:,} footprints and silently drop the rest "
        f"({sum(c > TIPG_LIMIT for c in low_counts)} of the {len(low)} z12–13 tiles of the list are over that). "
        "Grids are compared on every tile. Each cell: the best of uvicorn with "
        + " or ".join(str(w) for w in workers)
        + " worker(s) (shown as w), tiles/s and latency percentiles in ms.",
        "",
        "| layer | c | tipg tiles/s | p50 / p95 / p99 | GridMap uncached tiles/s | p50 / p95 / p99 | vs tipg "
        "| GridMap cached tiles/s | p50 / p95 / p99 |",
        "|---|---:|---:|---|---:|---|---:|---:|---|",
    ]
    verdicts = []
    for layer in ("buildings", "grids"):
        for c in CONCURRENCY:
            t, tw = best("tipg", layer, c)
            g, gw = best("gridmap uncached", layer, c)
            k, kw = best("gridmap cached", layer, c)
            ratio = g["rps"] / t["rps"]
            verdicts.append((layer, c, ratio, k["p95"]))

            def pct(r: dict) -> str:
                return f"{r['p50']:.1f} / {r['p95']:.1f} / {r['p99']:.1f}"

            lines.append(
                f"| {layer} | {c} | {t['rps']:.0f} (w{tw}) | {pct(t)} | {g['rps']:.0f} (w{gw}) | {pct(g)} | "
                f"{ratio:.2f}× | {k['rps']:.0f} (w{kw}) | {pct(k)} |"
            )
    lines += ["", "Per worker count (tiles/s, buildings / grids, at c = 1, 8, 32):", ""]
    lines += ["| server | workers | buildings | grids |", "|---|---:|---|---|"]
    for label in ("tipg", "gridmap uncached", "gridmap cached"):
        for w in workers:
            cells = [
                " / ".join(f"{results[(label, layer, w, c)]['rps']:.0f}" for c in CONCURRENCY)
                for layer in ("buildings", "grids")
            ]
            lines.append(f"| {label} | {w} | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        "Request floor (p50 ms of an answer without database work, c = 1): "
        + ", ".join(f"{name} w{w}: {ms:.1f}" for (name, w), ms in sorted(floors.items()))
        + ".",
    ]
    slow = [ms for (_, w), ms in floors.items() if w > 1]
    if slow and min(slow) > 20:
        lines[-1] += (
            f" With `uvicorn --workers N>1` every answer of either server waits at least {min(slow):.0f} ms here "
            "(the 40 ms signature of Nagle's algorithm meeting delayed ACKs on the connections the worker "
            "processes accept), so one worker is the honest best configuration on this machine."
        )
    low_ratio = min(v[2] for v in verdicts)
    p95s = {(v[0], v[1]): v[3] for v in verdicts}
    lines += [
        "",
        f"Targets: uncached ≥ 2 × tipg at every concurrency — lowest ratio measured {low_ratio:.2f}× "
        f"({'met' if low_ratio >= 2 else 'not met'}); cached p95 ≤ 10 ms — "
        + ", ".join(f"{layer} c={c}: {p:.1f} ms" for (layer, c), p in p95s.items())
        + ". At c = 32 on two cores shared with PostgreSQL and the load generator, latency is bounded below by "
        "queueing (Little's law: 32 / throughput), so the cached p95 target is a c = 1 and c = 8 figure.",
        "",
        "What each server sends: GridMap's building tiles carry the id (as the feature id), number, name, floors, use, households "
        "(dwelling count) and the active grid code (kept on the building row by triggers, migration 0004); "
        "tipg is asked for the same columns (`properties=`, the id as an attribute: tipg sets no feature id; "
        + "; ".join(f"{t}: {c}" for t, c in TIPG_PROPERTIES.items())
        + "). "
        "Every error or non-2xx answer would be counted; there were "
        f"{sum(r['errors'] for r in results.values())}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
