"""Benchmark the grid-balancing engine against spopt's MaxPHeuristic and gerrychain's ReCom.

Run ``python bench/balance.py`` (about an hour on the 2-core machine, most of it MaxP; use
``--sample 5`` for a quick look). It measures, in one run:

1. a sample of communities of the synthetic Hohhot-sized city (``geo.synth.city.generate_city``),
   with all three methods;
2. the real OpenStreetMap footprints of central Shanghai and of a Wuhan patch, all three methods;
3. the whole synthetic city (~500 communities, ~2 million households), GridMap alone, in parallel.

Fair ground: every method partitions the same areal units — GridMap's building cells (Voronoi
cells of the footprints clipped to the community and its compounds; towers above the maximum
already split by units), with rook adjacency. The peers therefore get the cells for free, and
their times exclude building them; GridMap's times include everything (reading the frames,
cells, partition, polygons, codes). Metrics are computed by one function for all methods.

Peers' settings: MaxP — floor 300 households, attributes = cell centroid x/y (compactness),
``max_iterations_construction=3``, ``max_iterations_sa=1`` (the defaults, 99 and 10, took over
ten minutes for a single 342-unit community here). Each peer run has a time limit (``--limit``,
180 s): a run that does not finish in time counts as unsolved. ReCom — ``k =
round(households / 400)`` districts, a recursive tree partition within ±25 % of the ideal (300-500
households at 400), then 100 ReCom steps with the same tolerance, contiguity enforced.

Re-balance: households of random buildings change by 5 % of the total; GridMap re-balances from
its assignment, MaxP re-solves, ReCom runs 100 more steps from its last partition; grids are
matched to the old ones (one-to-one, most shared households) and the share of households keeping
their grid is reported.

OSM households (documented estimate): residential building types (apartments, residential,
house, detached, dormitory, terrace, semidetached_house, bungalow) and untyped buildings
(``building=yes``) inside a ``landuse=residential`` polygon; households = footprint area × floors
/ 90 m², floors = ``levels``, else height / 3 m, else 6. Other buildings have no households (they
still get a cell). Compounds = the ``landuse_residential`` polygons; the community = the convex
hull of all footprints, buffered by 20 m.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from geo.balance import BalanceParams, Proposal, propose, propose_many  # noqa: E402
from geo.balance.metrics import polsby_popper  # noqa: E402

LO, HI, TARGET = 300, 500, 400
DATA = Path("/work/shared/data")
RESIDENTIAL = {
    "apartments",
    "residential",
    "house",
    "detached",
    "dormitory",
    "terrace",
    "semidetached_house",
    "bungalow",
}


# ------------------------------------------------------------------------------------------------
# instances


@dataclass
class Instance:
    name: str
    code: str
    buildings: gpd.GeoDataFrame  # id, households, compound_id, units, floors, geometry
    community: gpd.GeoDataFrame  # code, geometry
    compounds: gpd.GeoDataFrame | None


def city_instances(city, codes: list[str]) -> list[Instance]:
    b = city.buildings
    out = []
    for code in codes:
        bs = b[b["community_code"] == code].rename(columns={"dwellings": "households"})
        cm = city.communities[city.communities["code"] == code]
        cp = city.compounds[city.compounds["community_code"] == code]
        out.append(Instance(f"synthetic {code}", code, bs, cm, cp))
    return out


def osm_instance(name: str, path: Path, code: str) -> Instance:
    b = gpd.read_file(path, layer="buildings")
    if "feature_kind" in b.columns:
        b = b[b["feature_kind"] != "building_part"]
    b = b[b.geometry.notna() & ~b.geometry.is_empty].copy()
    b["geometry"] = shapely.make_valid(b.geometry.to_numpy())
    metric = b.estimate_utm_crs()
    bm = b.to_crs(metric)
    layers = {row[0] for row in gpd.list_layers(path).itertuples(index=False)}
    landuse = None
    if "landuse_residential" in layers:
        landuse = gpd.read_file(path, layer="landuse_residential").to_crs(metric)
        landuse = landuse[landuse.geometry.notna()].reset_index(drop=True)
    levels = pd.to_numeric(b.get("levels"), errors="coerce")
    height = pd.to_numeric(b.get("height"), errors="coerce")
    floors = levels.where(levels > 0, (height / 3.0).round().where(height > 0)).fillna(6).clip(lower=1)
    kind = b["building_type"].fillna("yes").astype(str)
    res = kind.isin(RESIDENTIAL)
    if landuse is not None and len(landuse):
        reps = bm.geometry.representative_point()
        hit = landuse.sindex.query(reps, predicate="within")
        in_res = np.zeros(len(b), dtype=bool)
        in_res[hit[0]] = True
        res = res | ((kind == "yes") & in_res)
    area = bm.geometry.area.to_numpy()
    hh = np.where(res, np.round(area * floors.to_numpy() / 90.0), 0).astype(int)
    ids = b["osm_id"].astype(str) if "osm_id" in b.columns else pd.Series(range(len(b))).astype(str)
    ids = ids.where(~ids.duplicated(), ids + "_" + ids.groupby(ids).cumcount().astype(str))
    out = gpd.GeoDataFrame(
        {
            "id": ids.to_numpy(),
            "households": hh,
            "floors": floors.to_numpy(),
            "units": np.nan,
            "community_code": code,
        },
        geometry=bm.geometry.to_numpy(),
        crs=metric,
    )
    hull = shapely.convex_hull(shapely.union_all(out.geometry.to_numpy())).buffer(20.0)
    community = gpd.GeoDataFrame({"code": [code]}, geometry=[hull], crs=metric)
    compounds = None
    if landuse is not None and len(landuse):
        compounds = gpd.GeoDataFrame(
            {"id": [f"R{i:03d}" for i in range(len(landuse))]}, geometry=landuse.geometry.to_numpy(), crs=metric
        )
        # buildings' compound: the residential landuse holding them (for the "compounds split" metric)
        reps = out.geometry.representative_point()
        hit = compounds.sindex.query(reps, predicate="within")
        cid = np.array([None] * len(out), dtype=object)
        cid[hit[0]] = compounds["id"].to_numpy()[hit[1]]
        out["compound_id"] = cid
    else:
        out["compound_id"] = None
    return Instance(
        name, code, out.to_crs(4326), community.to_crs(4326), compounds.to_crs(4326) if compounds is not None else None
    )


# ------------------------------------------------------------------------------------------------
# metrics


@dataclass
class Result:
    method: str
    instance: str
    seconds: float
    grids: int = 0
    in_band: float = math.nan
    min_hh: int = 0
    median_hh: float = 0.0
    max_hh: int = 0
    contiguous: float = math.nan
    coverage_err: float = math.nan
    small_compounds: int = 0
    small_split: int = 0
    pp: float = math.nan
    kept: float = math.nan
    note: str = ""
    extra: dict = field(default_factory=dict)


def evaluate(method: str, inst: Instance, units: gpd.GeoDataFrame, labels: np.ndarray, seconds: float) -> Result:
    """Metrics of a partition ``labels`` of ``units`` (metric CRS, with households and compound_id)."""
    lab = pd.Series(labels, index=units.index)
    hh = units.groupby(lab)["households"].sum()
    polys = units.geometry.groupby(lab).apply(lambda s: shapely.union_all(s.to_numpy()))
    geoms = np.array(list(polys.to_numpy()), dtype=object)
    contiguous = float(np.mean(shapely.get_type_id(geoms) == 3))
    community = inst.community.to_crs(units.crs).geometry.iloc[0]
    union = shapely.union_all(geoms)
    cov = shapely.symmetric_difference(union, community).area / community.area
    sizes = hh.to_numpy()
    in_band = float(np.mean((sizes >= LO) & (sizes <= HI)))
    # compounds of at most the maximum, split over grids
    comp = units[units["compound_id"].notna() & (units["households"] > 0)]
    small = comp.groupby("compound_id")["households"].sum()
    small = small[small <= HI]
    split = 0
    for cid in small.index:
        if lab[comp.index[comp["compound_id"] == cid]].nunique() > 1:
            split += 1
    return Result(
        method,
        inst.name,
        seconds,
        grids=len(sizes),
        in_band=in_band,
        min_hh=int(sizes.min()),
        median_hh=float(np.median(sizes)),
        max_hh=int(sizes.max()),
        contiguous=contiguous,
        coverage_err=cov,
        small_compounds=len(small),
        small_split=split,
        pp=float(np.mean(polsby_popper(geoms))),
    )


def kept_share(units: gpd.GeoDataFrame, old: np.ndarray, new: np.ndarray) -> float:
    """Households keeping their grid, new grids matched one-to-one to old ones by shared households."""
    df = pd.DataFrame({"old": old, "new": new, "hh": units["households"].to_numpy()})
    overlap = df.groupby(["new", "old"])["hh"].sum().sort_values(ascending=False)
    used_new, used_old, kept = set(), set(), 0
    for (n, o), h in overlap.items():
        if n in used_new or o in used_old:
            continue
        used_new.add(n)
        used_old.add(o)
        kept += h
    return kept / max(1, df["hh"].sum())


def perturb(buildings: gpd.GeoDataFrame, share: float, seed: int) -> gpd.GeoDataFrame:
    out = buildings.copy()
    rng = np.random.default_rng(seed)
    hh = out["households"].to_numpy().astype(int).copy()
    budget = int(share * hh.sum())
    while budget > 0:
        i = int(rng.integers(len(hh)))
        d = int(min(budget, rng.integers(1, 40)))
        new = max(0, hh[i] + int(rng.choice([-1, 1])) * d)
        budget -= abs(new - hh[i]) or 1
        hh[i] = new
    out["households"] = hh
    return out


# ------------------------------------------------------------------------------------------------
# methods


def units_of(p: Proposal, inst: Instance) -> gpd.GeoDataFrame:
    """GridMap's areal units (building cells, tower parts) in a metric CRS, with compound ids."""
    a = p.assignment
    a = a[a["note"] != "dedicated"]
    u = gpd.GeoDataFrame(a.drop(columns=["cell"]), geometry=list(a["cell"]), crs=p.grids.crs)
    u = u[u.geometry.notna() & ~u.geometry.is_empty]
    comp = inst.buildings.set_index("id")["compound_id"] if "compound_id" in inst.buildings else None
    u["compound_id"] = u["building_id"].map(comp) if comp is not None else None
    u = u.to_crs(u.estimate_utm_crs()).reset_index(drop=True)
    u["x"] = u.geometry.centroid.x
    u["y"] = u.geometry.centroid.y
    return u


def run_gridmap(inst: Instance, b=None, existing=None):
    t = time.perf_counter()
    p = propose(
        inst.buildings if b is None else b,
        inst.community,
        existing=existing,
        compounds=inst.compounds,
        community_code=inst.code,
        params=BalanceParams(),
    )
    return p, time.perf_counter() - t


def _maxp(units: gpd.GeoDataFrame):
    from libpysal.weights import Rook
    from spopt.region import MaxPHeuristic

    np.random.seed(0)
    random.seed(0)
    w = Rook.from_dataframe(units, use_index=False, silence_warnings=True)
    m = MaxPHeuristic(
        units, w, ["x", "y"], "households", LO, top_n=2, max_iterations_construction=3, max_iterations_sa=1
    )
    m.solve()
    return np.asarray(m.labels_), ""


def _child(fn_name: str, payload: bytes, q) -> None:
    import pickle

    warnings.filterwarnings("ignore")
    args, kwargs = pickle.loads(payload)
    t = time.perf_counter()
    try:
        labels, note = globals()[fn_name](*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - reported as the method's failure
        labels, note = None, f"{type(exc).__name__}: {exc}"[:80]
    q.put((labels, time.perf_counter() - t, note))


def run_limited(fn_name: str, limit: float, *args, **kwargs):
    """Run a peer in a child process with a time limit: (labels or None, seconds, note)."""
    import pickle

    ctx = mp.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn_name, pickle.dumps((args, kwargs)), q))
    t = time.perf_counter()
    proc.start()
    try:
        labels, secs, note = q.get(timeout=limit)
    except Exception:  # noqa: BLE001 - timeout: stop our own child process
        labels, secs, note = None, time.perf_counter() - t, f"no result within {limit:.0f} s"
    proc.join(timeout=5)
    if proc.is_alive():
        proc.terminate()
        proc.join()
    return labels, secs, note


def _recom_graph(units):
    from gerrychain import Graph

    return Graph.from_geodataframe(units[["households", "geometry"]].reset_index(drop=True), adjacency="rook")


def _recom(units: gpd.GeoDataFrame, start: np.ndarray | None = None, steps: int = 100, seed: int = 0):
    """ReCom chain from a tree partition (or from ``start``); (labels, note)."""
    from functools import partial

    from gerrychain import MarkovChain, Partition, updaters
    from gerrychain.accept import always_accept
    from gerrychain.constraints import contiguous, within_percent_of_ideal_population
    from gerrychain.partition import recursive_tree_part
    from gerrychain.proposals import recom

    g = _recom_graph(units)
    tot = float(units["households"].sum())
    rng = random.Random(seed)
    if start is None:
        k = max(1, round(tot / TARGET))
        assign = recursive_tree_part(g, range(k), tot / k, "households", 0.25, rng=rng)
    else:
        assign = {i: int(x) for i, x in enumerate(start)}
        k = len(set(assign.values()))
    part = Partition(g, assign, updaters={"population": updaters.Tally("households", alias="population")})
    constraints = [contiguous]
    if start is None:
        constraints.append(within_percent_of_ideal_population(part, 0.25))
    prop = partial(recom, pop_col="households", pop_target=tot / k, epsilon=0.25, node_repeats=0, rng=rng)
    chain = MarkovChain(prop, constraints, always_accept, part, total_steps=steps, rng=rng)
    last = part
    for s in chain:
        last = s
    return np.array([last.assignment[i] for i in range(len(units))]), ""


# ------------------------------------------------------------------------------------------------
# driver


def bench_instance(inst: Instance, limit: float, seed: int) -> list[Result]:
    out = []
    p, secs = run_gridmap(inst)
    units = units_of(p, inst)
    gm_labels = pd.factorize(units["grid_code"])[0]
    r = evaluate("GridMap", inst, units, gm_labels, secs)
    b2 = perturb(inst.buildings, 0.05, seed)
    p2, _ = run_gridmap(inst, b2, existing=p.assignment[["building_id", "grid_code", "units"]])
    a2 = p2.assignment.set_index(["building_id", "units"])["grid_code"]
    new_codes = units.set_index(["building_id", "units"]).index.map(a2).to_numpy()
    units2 = units.copy()
    # households after the change, per unit (a re-split tower falls back to an even share)
    hh2 = p2.assignment.set_index(["building_id", "units"])["households"]
    after = units.set_index(["building_id", "units"]).index.map(hh2).to_numpy(dtype=float)
    per_b = b2.set_index("id")["households"]
    nparts = units.groupby("building_id")["building_id"].transform("size").to_numpy()
    fallback = units["building_id"].map(per_b).to_numpy(dtype=float) / nparts
    units2["households"] = np.where(np.isnan(after), fallback, after).round().astype(int)
    r.kept = kept_share(units2, units["grid_code"].to_numpy(), new_codes)
    out.append(r)

    # MaxP
    cols = ["households", "x", "y", "geometry"]
    labels, secs, note = run_limited("_maxp", limit, units[cols])
    if labels is None:
        out.append(Result("MaxP", inst.name, secs, note=note))
    else:
        r = evaluate("MaxP", inst, units, labels, secs)
        labels2, _, _ = run_limited("_maxp", limit, units2[cols])
        r.kept = kept_share(units2, labels, labels2) if labels2 is not None else math.nan
        out.append(r)

    # ReCom
    cols = ["households", "geometry"]
    labels, secs, note = run_limited("_recom", limit, units[cols], seed=seed)
    if labels is None:
        out.append(Result("ReCom", inst.name, secs, note=note))
    else:
        r = evaluate("ReCom", inst, units, labels, secs)
        labels2, _, _ = run_limited("_recom", limit, units2[cols], start=labels, seed=seed + 1)
        r.kept = kept_share(units2, labels, labels2) if labels2 is not None else math.nan
        out.append(r)
    return out


def summarise(results: list[Result]) -> pd.DataFrame:
    rows = []
    for method in ("GridMap", "MaxP", "ReCom"):
        rs = [r for r in results if r.method == method]
        ok = [r for r in rs if r.grids]
        if not rs:
            continue
        grids = sum(r.grids for r in ok)
        rows.append(
            {
                "method": method,
                "instances solved": f"{len(ok)}/{len(rs)}",
                "time/instance s (mean)": statistics.mean(r.seconds for r in rs),
                "time/instance s (max)": max(r.seconds for r in rs),
                "grids": grids,
                "grids in band": sum(r.in_band * r.grids for r in ok) / grids if grids else math.nan,
                "min hh": min((r.min_hh for r in ok), default=0),
                "median hh": statistics.median(r.median_hh for r in ok) if ok else math.nan,
                "max hh": max((r.max_hh for r in ok), default=0),
                "contiguous": sum(r.contiguous * r.grids for r in ok) / grids if grids else math.nan,
                "coverage error": max((r.coverage_err for r in ok), default=math.nan),
                "compounds ≤500 split": f"{sum(r.small_split for r in ok)}/{sum(r.small_compounds for r in ok)}",
                "mean Polsby-Popper": sum(r.pp * r.grids for r in ok) / grids if grids else math.nan,
                "re-balance kept": statistics.mean([r.kept for r in ok if not math.isnan(r.kept)] or [math.nan]),
            }
        )
    return pd.DataFrame(rows)


def table(df: pd.DataFrame) -> str:
    def fmt(v):
        if isinstance(v, float):
            if math.isnan(v):
                return "–"
            if abs(v) < 1e-3 and v != 0:
                return f"{v:.1e}"
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(fmt(row[c]) for c in cols) + " |")
    return "\n".join(lines)


def per_instance(results: list[Result]) -> pd.DataFrame:
    rows = []
    for r in results:
        rows.append(
            {
                "instance": r.instance,
                "method": r.method,
                "s": r.seconds,
                "grids": r.grids,
                "in band": r.in_band,
                "min/median/max hh": f"{r.min_hh}/{r.median_hh:.0f}/{r.max_hh}" if r.grids else "–",
                "contiguous": r.contiguous,
                "compounds ≤500 split": f"{r.small_split}/{r.small_compounds}" if r.grids else "–",
                "mean PP": r.pp,
                "re-balance kept": r.kept,
                "note": r.note,
            }
        )
    return pd.DataFrame(rows)


def city_run(city, jobs: int) -> tuple[str, dict]:
    t = time.perf_counter()
    done = [0]

    def progress(d, total, code):
        done[0] = d
        if d % 50 == 0 or d == total:
            print(f"  city: {d}/{total} communities, {time.perf_counter() - t:.0f} s", flush=True)

    out = propose_many(city.buildings, city.communities, compounds=city.compounds, jobs=jobs, progress=progress)
    wall = time.perf_counter() - t
    p = Proposal.concat(out.values())
    g = p.grids
    unavoidable = {
        "band_infeasible_layout",
        "isolated_part",
        "tower_not_split",
        "under_band_total",
        "band_infeasible_total",
        "no_households",
    }
    feasible = ~g["reason"].isin(unavoidable)
    stats = {
        "communities": len(out),
        "households": int(g["households"].sum()),
        "households in input": int(city.buildings["dwellings"].sum()),
        "buildings": len(city.buildings),
        "grids": len(g),
        "wall s": wall,
        "grids in band": float(g["in_band"].mean()),
        "in band where feasible": float(g.loc[feasible, "in_band"].mean()),
        "contiguous": float(g["contiguous"].mean()),
        "mean Polsby-Popper": float(g["polsby_popper"].mean()),
        "mean inertia compactness": float(g["inertia_compactness"].mean()),
        "min/median/max hh": f"{g['households'].min()}/{g['households'].median():.0f}/{g['households'].max()}",
    }
    reasons = pd.Series([r for rs in p.communities["reasons"] for r in set(rs)]).value_counts()
    stats["communities with out-of-band grids"] = int((p.communities["in_band_share"] < 1).sum())
    stats["top reasons"] = ", ".join(f"{k} ({v})" for k, v in reasons.head(6).items())
    return table(pd.DataFrame([stats])), stats


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--communities", type=int, default=500, help="size of the synthetic city")
    ap.add_argument("--sample", type=int, default=30, help="communities compared with the peers")
    ap.add_argument(
        "--max-units", type=int, default=400, help="peers' sample: communities with at most this many buildings"
    )
    ap.add_argument("--limit", type=float, default=180.0, help="seconds per peer run (MaxP, ReCom)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-city", action="store_true")
    ap.add_argument("--skip-osm", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="a file of its own (default: docs/benchmarks.md)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    from geo.synth.city import generate_city

    t0 = time.perf_counter()
    city = generate_city(args.communities, seed=args.seed)
    print(f"city generated in {time.perf_counter() - t0:.1f} s", flush=True)
    counts = city.buildings.groupby("community_code").size()
    eligible = sorted(c for c in city.communities["code"] if counts.get(c, 0) <= args.max_units)
    rng = np.random.default_rng(args.seed)
    sample = sorted(rng.choice(eligible, min(args.sample, len(eligible)), replace=False).tolist())

    results: list[Result] = []
    for i, inst in enumerate(city_instances(city, sample), start=1):
        rs = bench_instance(inst, args.limit, args.seed + i)
        results.extend(rs)
        print(
            f"[{i}/{len(sample)}] {inst.name}: "
            + "; ".join(f"{r.method} {r.seconds:.1f}s band {r.in_band:.2f}" for r in rs),
            flush=True,
        )
    osm_results: list[Result] = []
    if not args.skip_osm:
        for name, fname, code in (
            ("Shanghai OSM", "shanghai_osm.gpkg", "310101001001"),
            ("Wuhan OSM", "wuhan_osm.gpkg", "420111001001"),
        ):
            inst = osm_instance(name, DATA / fname, code)
            rs = bench_instance(inst, args.limit, args.seed)
            osm_results.extend(rs)
            print(f"{name}: " + "; ".join(f"{r.method} {r.seconds:.1f}s band {r.in_band:.2f}" for r in rs), flush=True)
    city_md = ""
    if not args.skip_city:
        city_md, _ = city_run(city, args.jobs)
        print(city_md, flush=True)

    load = os.getloadavg()
    body = [
        "Three methods partition the same areal units (GridMap's building cells, rook adjacency) into grids of "
        f"{LO}–{HI} households (target {TARGET}). Times are wall-clock seconds on the shared 2-core machine "
        f"(load average at the end of the run: {load[0]:.1f}; other jobs were running, so absolute times are "
        "pessimistic). GridMap's times include building the cells; the peers' do not.",
        "",
        f"### Synthetic communities ({len(sample)} sampled from the {args.communities}-community city, "
        f"≤ {args.max_units} buildings each)",
        "",
        table(summarise(results)),
        "",
    ]
    if osm_results:
        body += ["### Real OSM footprints", "", table(per_instance(osm_results)), ""]
    if city_md:
        body += [
            f"### The whole synthetic city, GridMap alone (`propose_many`, {args.jobs} processes)",
            "",
            city_md,
            "",
        ]
    body += [
        "### How to read this",
        "",
        "- *grids in band*: share of grids with 300–500 households; *contiguous*: share of grids whose polygon is a "
        "single polygon; *coverage error*: |union of grid polygons △ community| / community area (largest instance).",
        "- *compounds ≤500 split*: compounds small enough for one grid that a method spread over several grids.",
        "- *re-balance kept*: share of households that keep their grid after a random 5 % change of households.",
        "- Method notes: " + __doc__.split("Peers' settings:")[1].split("Re-balance:")[0].strip().replace("\n", " "),
        "",
        "### Per instance (synthetic sample)",
        "",
        table(per_instance(results)),
    ]
    run = " ".join(["python bench/balance.py", *(argv if argv is not None else sys.argv[1:])])
    body.insert(0, f"Run: `{run}` (peers' time limit {args.limit:.0f} s per instance).\n")
    if args.out is None:
        write_section("balance", "Grid balancing: GridMap vs spopt MaxP and gerrychain ReCom", "\n".join(body))
        print(f"wrote the balance section of docs/benchmarks.md in {time.perf_counter() - t0:.0f} s")
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("## Grid balancing\n\n" + "\n".join(body) + "\n", encoding="utf-8")
        print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
