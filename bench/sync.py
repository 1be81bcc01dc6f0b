"""Sync benchmark: a Hohhot-scale full load, a 10,000-change incremental batch, and address matching.

A synthetic city (``geo.synth.generate_city``: ~500 communities, ~2 million dwellings) is loaded
into its own database (``gridmap_bench_sync``, dropped at the end unless ``--keep``); its residents,
as the police hold them (mostly standard addresses, the rest in everyday variants), become one
full NDJSON batch of ``--persons`` records. The city is settled first (VACUUM ANALYZE, CHECKPOINT).
Measured in the same run:

* the peer: a plain ``COPY`` of the same persons (11 text columns) into a bare table;
* ``gridmap sync push`` of the full batch (validation, address matching, hashing and encryption,
  staging, set-based merge, review queue, link-rate report), records/s;
* an incremental batch of ``--changes`` changes (moves, phone changes, move-outs, deaths, new
  residents), wall time;
* a messy-address test set built from the dwellings in the variants police data has, matched
  part by part: share matched to the right dwelling, wrong links (must be 0), share sent to review.

    .venv/bin/python bench/sync.py [--communities 500] [--persons 3300000] [--keep]

Results go into docs/benchmarks.md between the ``sync`` markers.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from geo.db import migrate  # noqa: E402
from geo.db import sync as dbsync  # noqa: E402
from geo.db.cluster import create_database, drop_database  # noqa: E402
from geo.db.copy import copy_rows  # noqa: E402
from geo.db.engine import make_engine  # noqa: E402
from geo.db.imports import import_paths  # noqa: E402
from geo.db.load import load_divisions  # noqa: E402
from geo.db.settings import get_db_settings  # noqa: E402
from geo.privacy import PersonKeys  # noqa: E402
from geo.synth.address import FULLWIDTH, chinese_numeral  # noqa: E402

DB_NAME = "gridmap_bench_sync"
DIVISIONS = ROOT / "sample_shapefiles" / "nmg_divisions.csv"
POPULATION = {"常住": "户籍", "流动": "流动", "寄住": "户籍"}
PERSON_COLUMNS = [
    "id_number",
    "name",
    "sex",
    "ethnicity",
    "birth_date",
    "phone",
    "residence_type",
    "relation",
    "care_tags",
    "dwelling_id",
    "address",
]


def cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of this process, of its finished children (the worker processes) and of
    the PostgreSQL server's processes, exited backends included (read from /proc: Linux)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    pg = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            fields = text.rsplit(")", 1)[1].split()
            # utime, stime, and (the postmaster's) cutime, cstime of backends that have exited
            pg += sum(int(x) for x in fields[11:15]) / tick
    return {"main": me.ru_utime + me.ru_stime, "workers": kids.ru_utime + kids.ru_stime, "postgres": pg}


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- the city ------------------------------------------------------------------------------------
def build_city(engine, communities: int, seed: int):
    """Generate the city, load its layers and dwellings; returns (city, dwellings frame)."""
    from geo.synth import export
    from geo.synth.city import generate_city

    t0 = time.perf_counter()
    city = generate_city(communities, seed)
    dwellings = city.dwellings(seed)
    say(
        f"city: {len(city.communities)} communities, {len(city.buildings):,} buildings, "
        f"{len(dwellings):,} dwellings ({time.perf_counter() - t0:.0f} s)"
    )
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
    with tempfile.TemporaryDirectory() as tmp:
        divisions = pd.read_csv(DIVISIONS, dtype=str, keep_default_na=False)
        divisions = pd.concat([divisions, extra[~extra["code"].isin(divisions["code"])]], ignore_index=True)
        div_path = Path(tmp) / "divisions.csv"
        divisions.to_csv(div_path, index=False)
        load_divisions(engine, div_path)
        paths = []
        for name, frame in (
            ("communities", export.communities_frame(city.communities)),
            ("compounds", export.compounds_frame(city.compounds)),
            ("buildings", export.buildings_frame(city.buildings)),
        ):
            paths.append(Path(tmp) / f"{name}.gpkg")
            frame.to_file(paths[-1], layer=name, engine="pyogrio")
        t0 = time.perf_counter()
        for rep in import_paths(engine, paths):
            say(f"  {rep.kind}: {rep.inserted:,} inserted, {rep.rejected:,} rejected")
        say(f"layers imported ({time.perf_counter() - t0:.0f} s)")
    with engine.begin() as conn:
        ids = dict(conn.execute(sa.text("SELECT ext_id, id FROM building")).all())
        frame = pd.DataFrame(
            {
                "ext_id": dwellings["dwelling_id"],
                "building_id": dwellings["building_id"].map(ids),
                "unit": pd.array(dwellings["unit"], dtype="Int64"),
                "floor": pd.array(dwellings["floor"], dtype="Int64"),
                "room": dwellings["room"].astype(str),
                "address": dwellings["address"],
            }
        ).dropna(subset=["building_id"])
        frame["building_id"] = frame["building_id"].astype("int64")
        copy_rows(conn, "dwelling", list(frame.columns), frame)
        did = dict(conn.execute(sa.text("SELECT ext_id, id FROM dwelling")).all())
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    dwellings["id"] = dwellings["dwelling_id"].map(did)
    if "area" not in dwellings.columns:
        dwellings["area"] = dwellings["community_code"].map(city.areas)
    return city, dwellings


def persons_of(city, dwellings: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` residents as the police hold them (a random sample of the generated households)."""
    parts = [p[PERSON_COLUMNS] for p in city.iter_persons(dwellings, seed)]
    persons = pd.concat(parts, ignore_index=True)
    if len(persons) > n:
        keep = np.sort(np.random.default_rng(seed).choice(len(persons), n, replace=False))
        persons = persons.iloc[keep].reset_index(drop=True)
    return persons


def police_records(persons: pd.DataFrame, version: int = 1) -> Iterator[dict[str, object]]:
    for r in persons.itertuples(index=False):
        yield (
            {
                "op": "upsert",
                "version": version,
                "id_number": r.id_number,
                "name": r.name,
                "sex": r.sex,
                "ethnicity": r.ethnicity,
                "birth_date": r.birth_date,
                "phone": r.phone,
                "address": r.address,
                "population_type": POPULATION[r.residence_type],
                "relation": r.relation,
                "care_tags": r.care_tags,
            }
        )


def write_batch(path: Path, records: Iterable[dict], kind: str) -> str:
    bid = str(uuid.uuid4())
    with path.open("w", encoding="utf-8") as fh:
        fh.write(
            json.dumps(
                {
                    "batch": {
                        "batch_id": bid,
                        "source": "bench",
                        "kind": kind,
                        "produced_at": "2026-11-23T08:00:00+08:00",
                    }
                }
            )
            + "\n"
        )
        dumps = json.JSONEncoder(ensure_ascii=False).encode
        fh.writelines(dumps(r) + "\n" for r in records)
    return bid


def plain_copy(engine, persons: pd.DataFrame) -> float:
    """The peer: COPY the persons' 11 columns into a bare table (no validation, no matching)."""
    buf = io.BytesIO()
    persons[PERSON_COLUMNS].to_csv(buf, index=False, header=False)
    data = buf.getvalue()
    with engine.begin() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        cur.execute("CREATE TABLE bench_plain_person (" + ", ".join(f"{c} text" for c in PERSON_COLUMNS) + ")")
    t0 = time.perf_counter()
    with engine.begin() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        cur.copy_expert("COPY bench_plain_person FROM STDIN WITH (FORMAT csv)", io.BytesIO(data))
    dt = time.perf_counter() - t0
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE bench_plain_person"))
    return dt


def incremental_records(persons: pd.DataFrame, others: pd.DataFrame, n: int, seed: int) -> list[dict[str, object]]:
    """``n`` changes: 40% moves, 25% phone changes, 10% move-outs, 5% deaths, 20% new residents."""
    rng = np.random.default_rng(seed + 1)
    pick = persons.iloc[rng.choice(len(persons), int(n * 0.8), replace=False)]
    recs = list(police_records(pick, version=2))
    moves = int(n * 0.4)
    addresses = others["address"].to_numpy() if len(others) else persons["address"].to_numpy()
    for i, r in enumerate(recs):
        if i < moves:
            r["address"] = addresses[rng.integers(len(addresses))]
        elif i < moves + int(n * 0.25):
            r["phone"] = f"139{rng.integers(10**8):08d}"
        elif i < moves + int(n * 0.35):
            recs[i] = {"op": "move_out", "version": 2, "id_number": r["id_number"]}
        else:
            recs[i] = {"op": "death", "version": 2, "id_number": r["id_number"]}
    new = others.head(n - len(recs)) if len(others) else persons.head(0)
    recs += list(police_records(new, version=1))
    return recs


# -- messy addresses -----------------------------------------------------------------------------
KINDS = (
    "no_suffix",
    "dash",
    "floor_pos",
    "numeral",
    "hash",
    "fullwidth",
    "alias",
    "leading_zero",
    "explicit_floor",
    "no_unit_single",
    "no_unit_multi",
    "east_west",
)
WELL_FORMED = KINDS[:10]


def _district(area: str) -> str:
    i = area.find("市") + 1
    return area[: area.index("区", i) + 1] if "区" in area[i:] else area[:i]


def messy_set(dwellings: pd.DataFrame, units: dict, per_floor: dict, n: int, seed: int):
    """(text, dwelling id, kind, unique) in the variants police data has; ``unique`` says whether
    the text identifies one dwelling of the city at all (a compound name without its community
    may be shared by two compounds of the district that both have that building, unit and room)."""
    rng = np.random.default_rng(seed + 2)
    flats = dwellings[~dwellings["bungalow"] & dwellings["number"].str.fullmatch(r"\d+号楼")]
    district = flats["area"].map(_district)
    key = (
        district
        + "|"
        + flats["compound"]
        + "|"
        + flats["number"]
        + "|"
        + flats["unit"].astype(str)
        + "|"
        + flats["room"]
    )
    shared = set(key[key.duplicated(keep=False)])
    sample = flats.iloc[rng.choice(len(flats), min(n, len(flats)), replace=False)]
    out = []
    for r in sample.itertuples(index=False):
        b = r.number.removesuffix("号楼")
        area, comp, u, room = r.area, r.compound, r.unit, r.room
        fl, pos = int(r.floor), int(r.pos)
        dist = _district(area)
        std = f"{area}{comp}{r.number}{u}单元{room}室"
        kind = KINDS[len(out) % len(KINDS)]
        n_units = units[r.building_id]
        if kind in ("no_unit_single", "no_unit_multi"):
            kind = "no_unit_single" if n_units == 1 else "no_unit_multi"
            text = f"{area}{comp}{r.number}{room}室"
        elif kind == "east_west":
            if per_floor[r.building_id] != 2:
                continue
            text = f"{area}{comp}{r.number}{u}单元{fl}楼{'西' if pos == 1 else '东'}户"
        else:
            text = {
                "no_suffix": std.removesuffix("室"),
                "dash": f"{dist}{comp}{b}-{u}-{room}",
                "floor_pos": f"{dist}{comp}{b}栋{u}单元{fl}楼{pos}号",
                "numeral": f"{area}{comp}{chinese_numeral(int(b))}号楼{u}单元{room}室",
                "hash": f"{dist}{comp}{b}#楼{u}单元{room}",
                "fullwidth": std.translate(FULLWIDTH),
                "alias": std.replace("呼和浩特市", "呼市", 1),
                "leading_zero": f"{area}{comp}{r.number}{u}单元{fl:02d}{pos:02d}",
                "explicit_floor": f"{area}{comp}{r.number}{u}单元{fl}层{room}室",
            }[kind]
        unique = True
        if kind in ("dash", "floor_pos", "hash"):  # no street or community in the text
            unique = f"{dist}|{comp}|{r.number}|{u}|{room}" not in shared
        out.append((text, int(r.id), kind, unique))
    return out


def match_quality(engine, messy) -> dict[str, Counter]:
    """Match the messy set part by part (the registry's standard strings are not used)."""
    with engine.connect() as conn:
        index = dbsync.load_index(conn, complete=True)
    index.exact.clear()
    stats: dict[str, Counter] = {k: Counter() for k in KINDS}
    t0 = time.perf_counter()
    for text, truth, kind, unique in messy:
        m = index.match(text)
        stats[kind]["unique"] += unique
        if unique and m.dwelling_id == truth:
            stats[kind]["unique_right"] += 1
        if m.dwelling_id is None:
            stats[kind]["review"] += 1
            stats[kind]["truth_ranked_first"] += bool(m.candidates and m.candidates[0].dwelling_id == truth)
        elif m.dwelling_id == truth:
            stats[kind]["right"] += 1
        else:
            stats[kind]["wrong"] += 1
    say(f"matched {len(messy):,} messy addresses in {time.perf_counter() - t0:.1f} s")
    return stats


# -- main ----------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--communities", type=int, default=500)
    ap.add_argument("--persons", type=int, default=3_300_000)
    ap.add_argument("--changes", type=int, default=10_000)
    ap.add_argument("--messy", type=int, default=24_000)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="default: 50,000 for the full batch, 2,500 for the incremental one (by file size)",
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the database and the batch files")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = ap.parse_args()

    server = get_db_settings().url
    drop_database(server, DB_NAME)
    create_database(server, DB_NAME)
    engine = make_engine(server, database=DB_NAME)
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    keys = PersonKeys.from_secret("bench-sync-secret-0123456789abcdef")
    try:
        migrate.upgrade(engine)
        city, dwellings = build_city(engine, args.communities, args.seed)
        # the city settled before anything is measured, as one imported earlier is: neither the peer
        # nor the load then shares the machine with autovacuum of the build or a checkpoint of its WAL
        t0 = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
            conn.execute(sa.text("CHECKPOINT"))
        say(f"city settled (VACUUM ANALYZE, CHECKPOINT) in {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        everyone = persons_of(city, dwellings, 10**12, args.seed)
        take = np.random.default_rng(args.seed).permutation(len(everyone))
        persons = everyone.iloc[np.sort(take[: args.persons])].reset_index(drop=True)
        others = everyone.iloc[np.sort(take[args.persons :])].reset_index(drop=True)
        say(f"{len(persons):,} residents ({time.perf_counter() - t0:.0f} s)")
        full = work / "full.ndjson"
        write_batch(full, police_records(persons), "full")
        size_mb = full.stat().st_size / 1e6
        say(f"full batch written: {size_mb:,.0f} MB")

        copy_s = plain_copy(engine, persons)
        say(f"peer: plain COPY of {len(persons):,} rows in {copy_s:.1f} s")

        dbsync.PHASES.clear()
        load_before = os.getloadavg()[0]
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        rep = dbsync.push(
            engine,
            full,
            keys=keys,
            workers=args.workers,
            chunk_size=args.chunk_size,
            progress=lambda d, t, m: say(f"  {m}") if d % 500_000 < (args.chunk_size or dbsync.CHUNK_SIZE) else None,
        )
        full_s = time.perf_counter() - t0
        cpu = {k: v - cpu0[k] for k, v in cpu_seconds().items()}
        full_phases = dict(dbsync.PHASES)
        load_after = os.getloadavg()[0]
        say(f"full load: {full_s:.1f} s, {len(persons) / full_s:,.0f} records/s; {full_phases}")
        assert rep["balanced"] and rep["received"] == len(persons), rep

        inc = work / "changes.ndjson"
        write_batch(inc, incremental_records(persons, others, args.changes, args.seed), "incremental")
        dbsync.PHASES.clear()
        t0 = time.perf_counter()
        inc_rep = dbsync.push(engine, inc, keys=keys, chunk_size=args.chunk_size)
        inc_s = time.perf_counter() - t0
        say(f"incremental batch of {args.changes:,}: {inc_s:.2f} s; {dict(dbsync.PHASES)}")

        resend_t0 = time.perf_counter()
        again = dbsync.push(engine, inc, keys=keys)
        resend_s = time.perf_counter() - resend_t0

        units = dict(zip(city.buildings["id"], city.buildings["units"], strict=True))
        per_floor = dict(zip(city.buildings["id"], city.buildings["per_floor"], strict=True))
        messy = messy_set(dwellings, units, per_floor, args.messy, args.seed)
        stats = match_quality(engine, messy)
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(server, DB_NAME)
            for p in work.glob("*"):
                p.unlink()
            work.rmdir()

    # -- report ---------------------------------------------------------------------------------
    m = rep["matching"]
    lr = rep["link_rate"]["all"]["after"]
    wf = Counter()
    for k in WELL_FORMED:
        wf.update(stats[k])
    wf_n = sum(wf[x] for x in ("right", "wrong", "review"))

    def total(k: str) -> int:
        return stats[k]["right"] + stats[k]["wrong"] + stats[k]["review"]

    rows = "\n".join(
        f"| {k} | `{next(t for t, _, kk, _ in messy if kk == k)}` | {total(k):,} "
        f"| {stats[k]['unique']:,} | {stats[k]['unique_right'] / max(1, stats[k]['unique']) * 100:.2f}% "
        f"| {stats[k]['right'] / max(1, total(k)) * 100:.2f}% "
        f"| {stats[k]['wrong']} | {stats[k]['review']:,} |"
        for k in KINDS
        if total(k)
    )
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in full_phases.items())
    body = f"""
Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; PostgreSQL on the same
machine; 1-minute load average {load_before:.1f} before and {load_after:.1f} after the full load
(other jobs share the machine: compare with the peer measured in the same run). Data: `geo.synth.generate_city({args.communities})` — {len(city.communities)} communities,
{len(city.buildings):,} buildings, {len(dwellings):,} dwellings; {len(persons):,} residents as
police records ({size_mb:,.0f} MB NDJSON, {rep["matching"].get("exact", 0) / len(persons) * 100:.0f}%
with the registry's standard address, the rest in everyday variants, ~0.6% pointing at no
registered dwelling). The city is settled (VACUUM ANALYZE, CHECKPOINT) before the peer and the load.

| step | time | records/s | vs plain COPY |
|---|---:|---:|---:|
| peer: plain `COPY` of the 11 person columns into a bare table | {copy_s:.1f} s | {len(persons) / copy_s:,.0f} | 1.0× |
| `gridmap sync push` full batch (validate, match, hash + encrypt, stage, merge, report) | {full_s:.1f} s | {len(persons) / full_s:,.0f} | {full_s / copy_s:.1f}× |
| incremental batch of {args.changes:,} changes ({", ".join(f"{k} {v:,}" for k, v in inc_rep["actions"].items())}) | {inc_s:.2f} s | {args.changes / inc_s:,.0f} | |
| the same incremental batch sent again (already applied: nothing to do) | {resend_s:.2f} s | | |

Full load: received {rep["received"]:,} = accepted {rep["accepted"]:,} + rejected {rep["rejected"]:,}
+ unchanged {rep["unchanged"]:,}. Addresses: {", ".join(f"{k} {v:,}" for k, v in m.items())};
{rep["review_open"]:,} residents wait in the review queue; link rate (人房关联完善率) after the load
{lr["rate"] * 100:.2f}% ({lr["linked"]:,} of {lr["persons"]:,}). The second push of the incremental
batch answered from the batch table (status `{again["status"]}`).

Time of the full load by phase (main process): {phases}. "wait" is the time the merge waited for
worker processes to prepare chunks; "direct" the COPY of new persons straight into `person`.
CPU time of the full load: main process {cpu["main"]:.0f} s, worker processes {cpu["workers"]:.0f} s,
PostgreSQL {cpu["postgres"]:.0f} s; {sum(cpu.values()):.0f} s in all over {full_s:.0f} s on
{os.cpu_count()} cores ({sum(cpu.values()) / full_s / (os.cpu_count() or 1) * 100:.0f}% busy): the load is bound by CPU.

**Messy-address test set** ({len(messy):,} addresses built from random dwellings, matched part by
part — the registry's standard strings are not used). Of the well-formed variants (every row but
the last two) that identify one dwelling of the city, **{wf["unique_right"] / max(1, wf["unique"]) * 100:.2f}%**
were linked to the right dwelling; over all well-formed variants {wf["right"] / wf_n * 100:.2f}%;
wrong links: **{wf["wrong"] + stats["no_unit_multi"]["wrong"] + stats["east_west"]["wrong"]}**.
Written with the district and the compound only (`dash`, `floor_pos`, `hash`), an address does not
identify one dwelling when the district has two compounds of that name that both have the building,
unit and room ("unique" column): those, a missing unit in a building of several units and
东户/西户 go to review with ranked candidates (the right dwelling ranked first for
{stats["east_west"]["truth_ranked_first"] / max(1, stats["east_west"]["review"]) * 100:.0f}% of
东户/西户, whose position convention GridMap does not assume).

| variant | example | addresses | unique | right (unique) | right (all) | wrong | review |
|---|---|---:|---:|---:|---:|---:|---:|
{rows}
"""
    print(body)
    if not args.no_write:
        write_section("sync", f"Public-security sync: {len(persons):,} residents", body)


if __name__ == "__main__":
    main()
