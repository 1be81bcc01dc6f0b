"""The public-security sync against PostGIS: the sample street's residents as police batches.

Every test starts from the sample street's layers and dwellings (loaded once for the module) with
no persons and no sync state.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from geo import sync
from geo.db import sync as dbsync
from geo.db.imports import import_paths
from geo.db.people import import_dwellings, import_persons
from geo.errors import Conflict, PermissionDenied
from tests.conftest import ROOT, SAMPLE, TEST_SECRET

LAYERS = [SAMPLE / "communities.shp", SAMPLE / "compounds.shp", SAMPLE / "buildings.shp"]
TODAY = dt.date(2026, 11, 23)
SYNC_TABLES = (
    "person, sync_batch, sync_reject, sync_tombstone, sync_event, residence_history, sync_review, "
    "link_count, sync_link_delta, grid_assignment, grid, grid_plan, grid_code_registry, audit_log, "
    "api_token, app_user"
)
POPULATION = {"常住": "户籍", "流动": "流动", "寄住": "户籍"}


@pytest.fixture(scope="module")
def street(engine):
    from tests.conftest import clean

    clean(engine)
    import_paths(engine, LAYERS)
    import_dwellings(engine, SAMPLE / "dwellings.csv")
    return engine


@pytest.fixture
def sdb(street):
    """The street with no persons and no sync state."""
    with street.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {SYNC_TABLES} RESTART IDENTITY CASCADE"))
    return street


@pytest.fixture(scope="module")
def persons() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "persons.csv", dtype=str, keep_default_na=False)


def record(row: dict, version: int = 1, **changes: object) -> dict[str, object]:
    """A police record from a persons.csv row."""
    rec: dict[str, object] = {
        "op": "upsert",
        "version": version,
        "id_number": row["id_number"],
        "name": row["name"],
        "sex": row["sex"],
        "ethnicity": row["ethnicity"],
        "birth_date": row["birth_date"],
        "phone": row["phone"],
        "address": row["address"],
        "hukou_address": None,
        "population_type": POPULATION[row["residence_type"]],
        "relation": row["relation"],
        "care_tags": [t for t in row["care_tags"].split(";") if t],
    }
    rec.update(changes)
    return rec


def write(tmp_path: Path, records: list[dict], kind: str = "incremental", **kw) -> Path:
    bid = kw.pop("batch_id", None) or uuid.uuid4()
    name = kw.pop("name", None) or f"{bid}.{kw.get('fmt', 'ndjson')}"
    return sync.write_batch(tmp_path / name, records, batch_id=bid, kind=kind, **kw)


def push(engine, path: Path, keys, **kw) -> dict:
    kw.setdefault("today", TODAY)
    return dbsync.push(engine, path, keys=keys, **kw)


def snapshot(engine) -> dict[str, list]:
    """The logical state the sync leaves (no surrogate ids, wall-clock times or nonces), each
    table in a total order (a person can have a review of each batch on the same line number)."""
    q = {
        "person": """
            SELECT encode(p.id_hash, 'hex'), p.id_masked, p.name, p.sex, p.ethnicity, p.birth_date,
                   p.phone, p.residence_type, p.relation, p.care_tags, d.ext_id, p.address_raw,
                   p.status, p.source_version, encode(p.source_hash, 'hex'), p.population_type,
                   p.hukou_address, p.addr_community, p.addr_building, p.dwelling_since, p.version
            FROM person p LEFT JOIN dwelling d ON d.id = p.dwelling_id ORDER BY 1""",
        "history": """
            SELECT encode(p.id_hash, 'hex'), d.ext_id, h.moved_in_at, h.moved_out_at, t.ext_id,
                   h.out_reason, h.batch_id
            FROM residence_history h JOIN person p ON p.id = h.person_id
            LEFT JOIN dwelling d ON d.id = h.dwelling_id LEFT JOIN dwelling t ON t.id = h.to_dwelling_id
            ORDER BY 1, 4, 3, 7, 2, 5, 6""",
        "review": """
            SELECT encode(p.id_hash, 'hex'), r.batch_id, r.line_no, r.reason, r.candidates::text,
                   r.status, r.community_code, r.building_id, r.address
            FROM sync_review r JOIN person p ON p.id = r.person_id ORDER BY 1, 2, 3""",
        "tombstone": "SELECT encode(id_hash, 'hex'), version, batch_id, deleted_at FROM sync_tombstone ORDER BY 1",
        "reject": "SELECT batch_id, line_no, reason, detail, record::text FROM sync_reject ORDER BY 1, 2",
        "batch": """
            SELECT id, status, received, accepted, rejected, unchanged, checkpoint, offset_bytes,
                   tallies::text, report::text FROM sync_batch ORDER BY id""",
        "link_count": "SELECT * FROM link_count WHERE persons <> 0 OR linked <> 0 ORDER BY 1, 2, 3",
        "delta": "SELECT * FROM sync_link_delta WHERE persons <> 0 OR linked <> 0 ORDER BY 1, 2, 3, 4",
    }
    with engine.connect() as conn:
        return {k: [tuple(r) for r in conn.execute(sa.text(v))] for k, v in q.items()}


def scalar(engine, query: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(query), params).scalar()


# -- a full load of the street ----------------------------------------------------------------------
def test_full_load_links_right_and_a_resend_changes_nothing(sdb, persons, keys, tmp_path) -> None:
    records = [record(r) for r in persons.to_dict("records")]
    path = write(tmp_path, records, kind="full")
    rep = push(sdb, path, keys, chunk_size=10_000)
    n = len(persons)
    assert (rep["status"], rep["received"], rep["accepted"], rep["rejected"]) == ("done", n, n, 0)
    assert rep["balanced"] and rep["actions"] == {"insert": n}
    # every link is the dwelling the generator put the resident in; the rest wait for review
    with sdb.connect() as conn:
        linked = dict(
            conn.execute(
                sa.text("SELECT p.id_hash, d.ext_id FROM person p JOIN dwelling d ON d.id = p.dwelling_id")
            ).all()
        )
    truth = {keys.id_hash(i): d for i, d in zip(persons["id_number"], persons["dwelling_id"], strict=True)}
    assert all(truth[bytes(h)] == d for h, d in linked.items())
    resolvable = (persons["dwelling_id"] != "").sum()
    assert len(linked) / resolvable > 0.97
    reviews = scalar(sdb, "SELECT count(*) FROM sync_review WHERE status = 'open'")
    assert reviews == n - len(linked) == rep["review_open"]
    lr = rep["link_rate"]
    assert lr["all"]["before"]["persons"] == 0 and lr["all"]["after"]["persons"] == n
    assert lr["all"]["after"]["linked"] == len(linked)
    assert {c["code"] for c in lr["communities"]} == {f"15010200300{i}" for i in range(1, 5)}
    assert [s["code"] for s in lr["streets"]] == ["150102003000"]
    # the ID numbers are nowhere in plain text
    with sdb.connect() as conn:
        dump = (
            conn.execute(
                sa.text(
                    "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM person) t UNION ALL "
                    "SELECT string_agg(r::text, ' ') FROM sync_review r"
                )
            )
            .scalars()
            .all()
        )
    assert not any(i in "".join(x or "" for x in dump) for i in persons["id_number"].head(300))

    before = snapshot(sdb)
    # the same batch again: nothing to do; the same records in a new batch: all unchanged
    assert push(sdb, path, keys)["status"] == "done"
    again = push(sdb, write(tmp_path, records, kind="full"), keys, chunk_size=10_000)
    assert (again["accepted"], again["unchanged"], again["actions"]) == (0, n, {"same": n})
    after = snapshot(sdb)
    for table in ("person", "history", "review", "tombstone", "link_count"):
        assert before[table] == after[table], table
    # the same batch id with other content is refused
    changed = [dict(records[0], phone="13900000000"), *records[1:]]
    with pytest.raises(Conflict, match="other content"):
        push(sdb, write(tmp_path, changed, kind="full", batch_id=rep["batch_id"], name="x.ndjson"), keys)


# -- versions, moves, deaths, deletes ---------------------------------------------------------------
def person_row(engine, keys, id_number: str):
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT p.*, d.ext_id AS dwelling_ext FROM person p "
                "LEFT JOIN dwelling d ON d.id = p.dwelling_id WHERE p.id_hash = :h"
            ),
            {"h": keys.id_hash(id_number)},
        ).first()


def test_versions_moves_deaths_and_deletes(sdb, persons, keys, tmp_path) -> None:
    rows = persons[persons["dwelling_id"] != ""].head(6).to_dict("records")
    a, b, c, d, e, f = rows
    elsewhere = persons[persons["dwelling_id"] != ""].iloc[5000]
    push(sdb, write(tmp_path, [record(r, version=5) for r in rows]), keys)
    assert scalar(sdb, "SELECT count(*) FROM person WHERE dwelling_id IS NOT NULL") == 6

    batch = [
        record(a, version=4, phone="13000000000"),  # older: ignored
        record(b, version=5, phone="13000000000"),  # same version, other content: conflict
        record(c, version=6, address=elsewhere["address"]),  # moves
        {"op": "move_out", "version": 6, "id_number": d["id_number"]},
        {"op": "death", "version": 6, "id_number": e["id_number"]},
        {"op": "delete", "version": 6, "id_number": f["id_number"]},
        {"op": "move_out", "version": 1, "id_number": "11010519491231002X"},  # not held
        record(a, version=5),  # the same record again
    ]
    rep = push(sdb, write(tmp_path, batch), keys)
    assert rep["actions"] == {"stale": 1, "conflict": 1, "update": 3, "delete": 1, "unknown": 1, "same": 1}
    assert (rep["received"], rep["accepted"], rep["rejected"], rep["unchanged"]) == (8, 4, 2, 2)
    assert rep["rejected_by_reason"] == {"person_unknown": 1, "version_conflict": 1}
    assert {r["id_masked"] for r in rep["rejects"]} == {
        b["id_number"][:6] + "********" + b["id_number"][-4:],
        "110105********002X",
    }
    assert person_row(sdb, keys, a["id_number"]).phone == a["phone"]
    assert person_row(sdb, keys, b["id_number"]).phone == b["phone"]
    moved = person_row(sdb, keys, c["id_number"])
    assert (moved.dwelling_ext, moved.status, moved.source_version) == (elsewhere["dwelling_id"], "active", 6)
    assert scalar(sdb, "SELECT count(*) FROM person WHERE id_hash = :h", h=keys.id_hash(c["id_number"])) == 1
    with sdb.connect() as conn:
        hist = conn.execute(
            sa.text(
                "SELECT d.ext_id, t.ext_id AS to_ext, h.out_reason FROM residence_history h "
                "JOIN person p ON p.id = h.person_id LEFT JOIN dwelling d ON d.id = h.dwelling_id "
                "LEFT JOIN dwelling t ON t.id = h.to_dwelling_id ORDER BY p.name"
            )
        ).all()
    assert sorted(map(tuple, hist)) == sorted(
        [
            (c["dwelling_id"], elsewhere["dwelling_id"], "moved"),
            (d["dwelling_id"], None, "move_out"),
            (e["dwelling_id"], None, "death"),
        ]
    )
    assert person_row(sdb, keys, d["id_number"]).status == "moved_out"
    assert person_row(sdb, keys, e["id_number"]).status == "deceased"
    assert person_row(sdb, keys, e["id_number"]).dwelling_id is None
    assert person_row(sdb, keys, f["id_number"]) is None
    # a stale upsert cannot bring the deleted person back; a newer one can
    rep = push(sdb, write(tmp_path, [record(f, version=6)]), keys)
    assert rep["actions"] == {"stale": 1} and person_row(sdb, keys, f["id_number"]) is None
    rep = push(sdb, write(tmp_path, [record(f, version=7)]), keys)
    assert rep["actions"] == {"insert": 1} and person_row(sdb, keys, f["id_number"]).dwelling_ext
    assert scalar(sdb, "SELECT count(*) FROM sync_tombstone") == 0
    # link rate: 6 residents → 4 (one moved out, one died); the mover is still linked
    assert scalar(sdb, "SELECT sum(persons) FROM link_count") == 4
    assert scalar(sdb, "SELECT sum(linked) FROM link_count") == 4


def test_records_of_one_person_in_one_batch_apply_in_version_order(sdb, persons, keys, tmp_path) -> None:
    a = persons.iloc[10].to_dict()
    batch = [
        {"op": "move_out", "version": 3, "id_number": a["id_number"]},
        record(a, version=1),
        record(a, version=2, phone="13111111111"),
    ]
    rep = push(sdb, write(tmp_path, batch), keys)
    assert rep["actions"] == {"insert": 1, "update": 2}
    p = person_row(sdb, keys, a["id_number"])
    assert (p.status, p.phone, p.source_version, p.dwelling_id) == ("moved_out", "13111111111", 3, None)


def test_persons_from_import_people_keep_their_dwelling(sdb, persons, keys, tmp_path) -> None:
    import_persons(sdb, SAMPLE / "persons.csv", keys=keys)
    sample = persons[persons["address"].str.contains("3-|#楼|栋", regex=True)].head(200)
    rep = push(sdb, write(tmp_path, [record(r) for r in sample.to_dict("records")]), keys)
    assert rep["accepted"] == len(sample)  # population type etc. filled in
    for r in sample.to_dict("records"):
        assert person_row(sdb, keys, r["id_number"]).dwelling_ext == (r["dwelling_id"] or None)


# -- validation --------------------------------------------------------------------------------------
def test_faulty_records_are_rejected_with_their_reason_and_masked_id(sdb, keys, tmp_path) -> None:
    bad = pd.read_csv(SAMPLE / "persons_bad.csv", dtype=str, keep_default_na=False)
    with open(SAMPLE / "persons_bad_expected.csv", encoding="utf-8") as fh:
        expected = {int(r["line_no"]): r["expected_reason"] for r in csv.DictReader(fh)}
    # import-only reasons (dwelling references, conflicts with persons.csv) do not apply here
    records = [record(r) | {"address": None} for r in bad.to_dict("records")]
    valid = "150102199003071237"  # STANDARDS.md §7
    records.append({"op": "dance", "version": 1, "id_number": valid})
    records.append({"op": "upsert", "id_number": valid, "name": "王五"})
    records.append({"version": 1, "id_number": valid, "name": "王五", "population_type": "本地"})
    path = write(tmp_path, records)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
    rep = push(sdb, path, keys)
    got = {r["line_no"]: r["reason"] for r in rep["rejects"]}
    n = len(bad)
    for line, reason in expected.items():
        if reason.startswith("ok_") or reason in ("dwelling_unknown", "duplicate_conflict"):
            assert got.get(line) in (None,), (line, reason, got.get(line))
        else:
            assert got.get(line) == reason, (line, reason, got.get(line))
    assert got[n + 1] == "op_invalid" and got[n + 2] == "version_missing"
    assert got[n + 3] == "population_type_invalid" and got[n + 4] == "record_malformed"
    assert rep["received"] == n + 4 == rep["accepted"] + rep["rejected"] + rep["unchanged"]
    assert rep["legacy_upgraded"] == sum(v == "ok_legacy_15" for v in expected.values())
    with sdb.connect() as conn:
        stored = conn.execute(sa.text("SELECT line_no, reason, record->>'id_masked' FROM sync_reject ORDER BY 1")).all()
    assert {r[0]: r[1] for r in stored} == got
    for _, _, masked in stored:
        assert masked is None or "****" in masked or len(masked) < 10
    raw_ids = set(bad["id_number"])
    with sdb.connect() as conn:
        dump = conn.execute(sa.text("SELECT string_agg(r::text, ' ') FROM sync_reject r")).scalar()
    assert not any(i and len(i) >= 15 and i in dump for i in raw_ids)


def test_csv_gbk_and_ndjson_batches_give_the_same_state(sdb, persons, keys, tmp_path) -> None:
    rows = persons.head(300).to_dict("records")
    records = [record(r) for r in rows]
    rep = push(sdb, write(tmp_path, records, fmt="csv", encoding="gbk"), keys)
    assert rep["accepted"] == 300
    assert sync.read_header(write(tmp_path, records, fmt="csv", encoding="gbk")).encoding == "gb18030"
    first = snapshot(sdb)["person"]
    rep = push(sdb, write(tmp_path, records), keys)
    assert rep["actions"] == {"same": 300}
    assert snapshot(sdb)["person"] == first


# -- review queue, change feed -----------------------------------------------------------------------
def test_confirming_a_review_links_and_feeds_back(sdb, persons, keys, tmp_path) -> None:
    # a missing unit in a two-unit building: ambiguous
    row = persons[persons["address"].str.contains("号楼2单元") & (persons["dwelling_id"] != "")].iloc[0]
    addr = row["address"].replace("2单元", "")
    rep = push(sdb, write(tmp_path, [record(row.to_dict(), address=addr)]), keys)
    assert rep["review_open"] == 1
    (rv,) = dbsync.list_reviews(sdb)
    assert rv["person"]["id_masked"].startswith(row["id_number"][:6])
    assert rv["person"]["name"] != row["name"]  # masked
    cands = {c["dwelling_id"] for c in rv["candidates"]}
    truth = scalar(sdb, "SELECT id FROM dwelling WHERE ext_id = :e", e=row["dwelling_id"])
    assert truth in cands and all(c["address"] for c in rv["candidates"])

    out = dbsync.confirm_review(sdb, rv["id"], truth)
    assert out["candidate"] is True
    assert person_row(sdb, keys, row["id_number"]).dwelling_ext == row["dwelling_id"]
    with pytest.raises(Conflict):
        dbsync.confirm_review(sdb, rv["id"], truth)
    feed = dbsync.changes(sdb, 0)
    assert [e["kind"] for e in feed["events"]] == ["match_confirmed"]
    assert "id_number" not in feed["events"][0]  # no user: masked only
    assert feed["events"][0]["dwelling"]["ext_id"] == row["dwelling_id"]
    assert dbsync.changes(sdb, int(feed["cursor"]))["events"] == []
    # the police resend the same record: the worker's confirmation stays
    rep = push(sdb, write(tmp_path, [record(row.to_dict(), address=addr)]), keys)
    assert rep["actions"] == {"same": 1}
    rep = push(sdb, write(tmp_path, [record(row.to_dict(), version=2, address=addr, phone="1")]), keys)
    assert rep["actions"] == {"update": 1} and rep["review_open"] == 0
    assert person_row(sdb, keys, row["id_number"]).dwelling_ext == row["dwelling_id"]


class _User:
    def __init__(self, role: str, scopes: tuple[str, ...] = (), name: str = "u", uid=None) -> None:
        self.id, self.name, self.role, self.scopes = uid, name, role, scopes

    @property
    def unrestricted(self) -> bool:
        return self.role in ("admin", "sync")


def make_active_plan(engine, community: str) -> list[str]:
    """An active plan of two grids for a community: buildings by id parity."""
    with engine.begin() as conn:
        pid = conn.execute(
            sa.text(
                "INSERT INTO grid_plan (community_code, status, approved_at) VALUES (:c, 'active', now()) RETURNING id"
            ),
            {"c": community},
        ).scalar_one()
        codes = [f"{community}001", f"{community}002"]
        gids = [
            conn.execute(
                sa.text("INSERT INTO grid (plan_id, code, community_code, name) VALUES (:p, :c, :cc, :n) RETURNING id"),
                {"p": pid, "c": code, "cc": community, "n": f"第{i + 1}网格"},
            ).scalar_one()
            for i, code in enumerate(codes)
        ]
        conn.execute(
            sa.text(
                "INSERT INTO grid_assignment (plan_id, building_id, grid_id) "
                "SELECT :p, id, CASE WHEN id % 2 = 0 THEN :g0 ELSE :g1 END FROM building "
                "WHERE community_code = :c"
            ),
            {"p": pid, "g0": gids[0], "g1": gids[1], "c": community},
        )
    return codes


def test_workers_act_only_in_their_grids(sdb, persons, keys, tmp_path) -> None:
    comm = "150102003004"  # 团结社区
    codes = make_active_plan(sdb, comm)
    mask = persons["address"].str.contains("团结社区.*2单元", regex=True)
    row = persons[mask & (persons["dwelling_id"] != "")].iloc[0]
    addr = row["address"].replace("2单元", "")
    push(sdb, write(tmp_path, [record(row.to_dict(), address=addr)]), keys)
    truth = scalar(sdb, "SELECT id FROM dwelling WHERE ext_id = :e", e=row["dwelling_id"])
    grid = scalar(
        sdb,
        "SELECT g.code FROM grid_assignment a JOIN grid g ON g.id = a.grid_id "
        "JOIN dwelling d ON d.building_id = a.building_id WHERE d.id = :d",
        d=truth,
    )
    other = next(c for c in codes if c != grid)
    outsider = _User("worker", (other,))
    assert dbsync.list_reviews(sdb, user=outsider) == []
    (rv,) = dbsync.list_reviews(sdb, user=_User("worker", (grid,)))
    with pytest.raises(PermissionDenied):
        dbsync.confirm_review(sdb, rv["id"], truth, user=outsider)
    dbsync.confirm_review(sdb, rv["id"], truth, user=_User("worker", (grid,), name="网格员甲"))
    feed = dbsync.changes(sdb, 0, user=_User("sync"), keys=keys)
    assert feed["events"][0]["id_number"] == row["id_number"]
    assert feed["events"][0]["by"] == "网格员甲"
    rates = dbsync.link_rates(sdb, comm)
    assert rates["level"] == "village" and {p["code"] for p in rates["parts"]} <= set(codes)
    assert rates["linked"] == 1 and rates["persons"] == 1
    assert dbsync.link_rates(sdb, grid)["rate"] == 1.0
    street = dbsync.link_rates(sdb, "150102003000")
    assert street["parts"] == [{"code": comm, "name": "团结社区居委会", "persons": 1, "linked": 1, "rate": 1.0}]


def test_other_worker_changes_feed_in_commit_order(sdb, persons, keys, tmp_path) -> None:
    rows = persons[persons["dwelling_id"] != ""].head(3).to_dict("records")
    push(sdb, write(tmp_path, [record(r) for r in rows]), keys)
    ids = [person_row(sdb, keys, r["id_number"]).id for r in rows]
    target = scalar(sdb, "SELECT id FROM dwelling WHERE ext_id = 'D0000100'")

    # a transaction that has numbered its event but not committed holds back later events
    hold = sdb.connect()
    tx = hold.begin()
    dbsync._emit(hold, "dwelling_corrected", ids[0], target, None, None, {})
    done = threading.Event()

    def later() -> None:
        dbsync.move_out(sdb, ids[1])
        done.set()

    t = threading.Thread(target=later)
    t.start()
    time.sleep(0.5)
    assert not done.is_set()  # waits for the first to commit: events are numbered in commit order
    assert dbsync.changes(sdb, 0)["events"] == []
    tx.commit()
    hold.close()
    t.join(10)
    assert done.is_set()
    first = dbsync.changes(sdb, 0, limit=1)
    assert [e["kind"] for e in first["events"]] == ["dwelling_corrected"] and first["more"]
    rest = dbsync.changes(sdb, int(first["cursor"]))
    assert [e["kind"] for e in rest["events"]] == ["moved_out"]
    ev = dbsync.correct_dwelling(sdb, ids[2], target)
    ev2 = dbsync.register_resident(
        sdb,
        {"id_number": "11010519491231002X", "name": "张三", "birth_date": "1949-12-31"},
        target,
        keys=keys,
        today=TODAY,
    )
    assert ev2 > ev
    assert [e["kind"] for e in dbsync.changes(sdb, int(rest["cursor"]))["events"]] == [
        "dwelling_corrected",
        "resident_added",
    ]
    with pytest.raises(Conflict):
        dbsync.register_resident(sdb, {"id_number": "11010519491231002X", "name": "张三"}, target, keys=keys)
    assert scalar(sdb, "SELECT count(*) FROM residence_history") == 2  # moved out, corrected
    assert scalar(sdb, "SELECT sum(linked) FROM link_count") == 3


# -- crash safety ------------------------------------------------------------------------------------
def _cli(db_url: str, path: Path, *args: str, crash_at: str | None = None) -> subprocess.Popen:
    """``gridmap sync push`` in its own process group (its worker processes with it); with
    ``crash_at`` it kills itself by SIGKILL there (geo.db.sync's test hook)."""
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "GRIDMAP_SECRET_KEY": TEST_SECRET,
        "PYTHONPATH": str(ROOT),
    }
    env.pop(sync.CRASH_ENV, None)
    if crash_at is not None:
        env[sync.CRASH_ENV] = crash_at
    return subprocess.Popen(
        [sys.executable, "-m", "geo.commands.sync", "push", str(path), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _killed(p: subprocess.Popen, timeout: float = 300) -> str:
    """Wait for a run to die by SIGKILL; returns its stderr. Worker processes it leaves behind
    (orphans holding the output pipes) are killed with their process group, while the dead
    leader still holds the group's id."""
    deadline = time.monotonic() + timeout
    while os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
        if time.monotonic() > deadline:
            os.killpg(p.pid, signal.SIGKILL)
            raise AssertionError("the run did not reach its crash point")
        time.sleep(0.02)
    # the worker processes notice that the run is gone and exit by themselves
    deadline = time.monotonic() + 10
    while (left := _live_members(p.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left_cmds = [_cmd(pid) for pid in left]
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _, errs = p.communicate(timeout=30)
    assert p.returncode == -signal.SIGKILL, errs
    assert not left, f"worker processes outlived the killed run: {left_cmds}"
    return errs


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    except OSError:
        return str(pid)


def _live_members(pgid: int) -> list[int]:
    """Processes of a process group that are not zombies (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = dbsync.proc_stat(int(stat.parent.name))
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _mixed_batches(persons: pd.DataFrame, tmp_path: Path) -> tuple[Path, Path]:
    """A full load of part of the street, then an incremental batch of every kind of change."""
    base = persons.iloc[:4000].to_dict("records")
    full = write(tmp_path, [record(r) for r in base], kind="full", name="base.ndjson")
    others = persons.iloc[4000:].to_dict("records")
    recs: list[dict] = []
    for i, r in enumerate(base[:3000]):
        k = i % 6
        if k == 0:
            recs.append(record(r, version=2, address=others[i]["address"]))  # moved
        elif k == 1:
            recs.append({"op": "move_out", "version": 2, "id_number": r["id_number"]})
        elif k == 2:
            recs.append(record(r, version=2, phone="13800000000"))
        elif k == 3:
            recs.append(record(r))  # unchanged
        elif k == 4:
            recs.append({"op": "death" if i % 12 == 4 else "delete", "version": 2, "id_number": r["id_number"]})
        else:
            recs.append(record(r, version=1, phone="1"))  # conflict
    recs += [record(r) for r in others[:3000]]  # new residents
    recs += [record(others[0], version=3, relation="其他")]  # second record of a person
    inc = write(tmp_path, recs, name="changes.ndjson")
    return full, inc


#: where the incremental batch's runs die, one after the other (chunks of 250 of its 6,001
#: records: 0 … 24): inside a chunk's transaction before the merge, right after a commit, in a
#: worker while it matches addresses (the applying process may be committing an earlier chunk),
#: inside a transaction just before its commit, and in the last transaction
KILL_POINTS = ("3:staged", "6:committed", "10:prepare", "14:merged", "finish")


@pytest.mark.slow
def test_kill_9_and_resume_ends_as_an_uninterrupted_run(sdb, persons, db_url, tmp_path) -> None:
    full, inc = _mixed_batches(persons, tmp_path)
    args = ("--chunk-size", "250", "--workers", "2")
    # the reference: both batches without interruption
    for path in (full, inc):
        p = _cli(db_url, path, *args)
        _, errs = p.communicate(timeout=300)
        assert p.returncode == 0, errs
    reference = snapshot(sdb)
    assert reference["batch"][-1][1] == "done"

    with sdb.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {SYNC_TABLES} RESTART IDENTITY CASCADE"))
    p = _cli(db_url, full, *args)
    _, errs = p.communicate(timeout=300)
    assert p.returncode == 0, errs
    batch_id = str(sync.read_header(inc).batch_id)

    def state() -> tuple[str, int]:
        with sdb.connect() as conn:
            row = conn.execute(
                sa.text("SELECT status, checkpoint FROM sync_batch WHERE id = CAST(:b AS uuid)"), {"b": batch_id}
            ).one()
        return row.status, int(row.checkpoint)

    # kill -9 at each point in turn: every run resumes where the one before died
    done = 0
    for point in KILL_POINTS:
        errs = _killed(_cli(db_url, inc, *args, crash_at=point))
        chunk, _, phase = point.partition(":")
        assert f"killed at {f'chunk {chunk} {phase}' if phase else point}" in errs, errs
        if done:
            assert f"resuming after record {done:,}" in errs
        status, checkpoint = state()
        assert status == "running"  # not done, and not marked failed: the process just died
        if point == "finish":
            assert checkpoint == 6001
        else:
            chunk = int(chunk)
            if phase in ("staged", "merged"):  # the chunk's transaction rolled back
                assert checkpoint == 250 * chunk
            elif phase == "committed":
                assert checkpoint == 250 * (chunk + 1)
            else:  # a worker died matching the chunk while this process was applying earlier ones
                assert done <= checkpoint <= 250 * chunk
        done = checkpoint

    p = _cli(db_url, inc, *args)
    out, errs = p.communicate(timeout=300)
    assert p.returncode == 0, errs
    assert f"resuming after record {done:,}" in errs
    resumed = snapshot(sdb)
    for table in reference:
        assert resumed[table] == reference[table], table
    # and running it once more does nothing
    p = _cli(db_url, inc, *args)
    out, errs = p.communicate(timeout=120)
    assert p.returncode == 0, errs
    assert "batch already applied" in errs
    assert snapshot(sdb) == reference


def test_a_resumed_run_matches_with_the_index_the_batch_began_with(sdb, persons, keys, tmp_path, monkeypatch) -> None:
    """A large batch is matched against the complete dwelling index; resumed where what is left
    of it is small, it still is (dwellings loaded as needed give exact matches their community
    and building, the complete index does not)."""
    rows = persons.head(1200).to_dict("records")
    path = write(tmp_path, [record(r) for r in rows], kind="full", name="full.ndjson")
    monkeypatch.setattr(dbsync, "FULL_INDEX_BYTES", path.stat().st_size // 2)
    push(sdb, path, keys, chunk_size=300, workers=0)
    reference = snapshot(sdb)
    assert '"full_index": 1' in reference["batch"][0][-2]

    with sdb.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {SYNC_TABLES} RESTART IDENTITY CASCADE"))
    push(sdb, path, keys, chunk_size=300, workers=0, stop_after=3)  # 300 records left: a small batch
    push(sdb, path, keys, chunk_size=300, workers=0)
    resumed = snapshot(sdb)
    for table in reference:
        assert resumed[table] == reference[table], table


def test_a_second_process_on_the_same_batch_is_refused(sdb, persons, keys, tmp_path) -> None:
    path = write(tmp_path, [record(r) for r in persons.head(10).to_dict("records")])
    header = sync.read_header(path)
    with sdb.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": dbsync._lock_key(header.batch_id)})
        with pytest.raises(Conflict, match="another process"):
            push(sdb, path, keys)
        conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))
    assert push(sdb, path, keys)["accepted"] == 10


def test_command_line_errors_are_one_line(db_url, tmp_path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"batch": {"kind": "full"}}\n', encoding="utf-8")
    p = _cli(db_url, bad)
    _, errs = p.communicate(timeout=120)
    assert p.returncode == 1 and errs.strip().count("\n") == 0 and errs.startswith("error: ")


# -- the batch format (pure) -------------------------------------------------------------------------
def test_headers_of_both_formats_and_encodings(tmp_path) -> None:
    bid = uuid.uuid4()
    recs = [{"version": 1, "id_number": "150102199003071237", "name": "王五"}]
    for fmt, enc in (("ndjson", "utf-8"), ("csv", "utf-8"), ("csv", "gbk"), ("ndjson", "gbk")):
        p = sync.write_batch(tmp_path / f"b.{fmt}.{enc}", recs, batch_id=bid, fmt=fmt, encoding=enc)
        h = sync.read_header(p)
        assert (h.batch_id, h.format, h.kind, h.source) == (bid, fmt, "incremental", "gaj")
        assert h.encoding == ("gb18030" if enc == "gbk" else "utf-8")
        assert h.produced_at == dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(
        "\ufeff#batch_id=%s\n#source=gaj\n#kind=full\n公民身份号码,姓名,现住址\n150102199003071237,王五,呼市\n".encode()
        % str(bid).encode()
    )
    h = sync.read_header(bom)
    assert h.columns == ("id_number", "name", "address") and h.kind == "full"
    for text, msg in [
        ('{"batch": {"source": "x", "kind": "full"}}\n', "batch_id"),
        (f'{{"batch": {{"batch_id": "{bid}", "source": "x", "kind": "daily"}}}}\n', "kind"),
        (f'{{"batch": {{"batch_id": "{bid}", "kind": "full"}}}}\n', "source"),
        ('{"id_number": "1"}\n', "header line"),
        (f"#batch_id={bid}\n#source=x\n#kind=full\nname\n王五\n", "id_number"),
        ("", "empty"),
    ]:
        bad = tmp_path / "bad"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(sync.InvalidInput, match=msg):
            sync.read_header(bad)


def test_crash_points_of_the_test_hook(monkeypatch) -> None:
    assert sync.crash_points("") == frozenset()
    assert sync.crash_points(" 3:staged, finish,12:prepare") == {(3, "staged"), (None, "finish"), (12, "prepare")}
    for bad in ("3", "x:staged", "3:before_commit", "-1:merged", "finish:1"):
        with pytest.raises(sync.InvalidInput, match=sync.CRASH_ENV):
            sync.crash_points(bad)
    monkeypatch.setenv(sync.CRASH_ENV, "2:merged")
    sync.crash_point(1, "merged")  # not this chunk: nothing happens
    sync.crash_point(2, "staged")


def test_a_small_batch_matches_as_the_complete_index_does(sdb, persons, keys, tmp_path) -> None:
    """A small batch (dwellings loaded as needed) looks standard addresses up first, as they are
    or normalised; it links every person as a large one (the complete index) does, with the same
    match statuses and the same address places, and loads no building for a standard address."""
    rows = persons.head(400).to_dict("records")
    path = write(tmp_path, [record(r) for r in rows], name="small.ndjson")

    def run(full_index: bool) -> tuple[list, dict]:
        with sdb.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {SYNC_TABLES} RESTART IDENTITY CASCADE"))
        rep = push(sdb, path, keys, full_index=full_index)
        with sdb.connect() as conn:
            people = conn.execute(
                sa.text("SELECT id_hash, dwelling_id, addr_community, addr_building FROM person ORDER BY id_hash")
            ).all()
        return people, rep["matching"]

    complete, lazy = run(True), run(False)
    assert lazy == complete
    assert complete[1].get("exact", 0) > 200  # most addresses are the registry's own strings
    # standard addresses load no building
    header = sync.read_header(path)
    with sdb.connect() as conn:
        index = dbsync.load_index(conn, complete=False)
    index.loader = dbsync._lazy_loader(sdb)
    index.key_loader = dbsync._key_loader(sdb)
    index.exact_loader = dbsync._exact_loader(sdb)
    (chunk,) = sync.iter_chunks(path, header, chunk_size=1000)
    prep = sync.prepare_chunk(sync.Context(header, sync.Encoder(keys), index, TODAY), chunk)
    exact = int(pc.sum(pc.equal(prep.stage.column("match_status"), "exact")).as_py())
    assert exact == complete[1]["exact"]
    assert len(index.loaded) < len({r["dwelling_id"] for r in rows})


def test_chunks_are_the_same_when_resumed(tmp_path) -> None:
    recs = [{"version": i, "id_number": "150102199003071237", "name": f"王{i}"} for i in range(1, 26)]
    p = sync.write_batch(tmp_path / "b.ndjson", recs, batch_id=uuid.uuid4())
    with p.open("a", encoding="utf-8") as fh:
        fh.write("\n\n" + '{"version": 99, "id_number": "150102199003071237", "name": "末"}')  # no final newline
    h = sync.read_header(p)
    chunks = list(sync.iter_chunks(p, h, chunk_size=7))
    assert [(c.index, c.first_no, len(c.split())) for c in chunks] == [(0, 1, 7), (1, 8, 7), (2, 15, 7), (3, 22, 5)]
    resumed = list(sync.iter_chunks(p, h, chunk_size=7, start_offset=chunks[1].end, start_no=15))
    assert [(c.index, c.first_no, c.split()) for c in resumed] == [(c.index, c.first_no, c.lines) for c in chunks[2:]]
    assert chunks[-1].lines[-1].endswith('末"}'.encode())


def _reference_chunks(data: bytes, offset: int, chunk_size: int) -> list[tuple[int, list[bytes], int]]:
    """Chunks cut line by line: (first record number, lines, byte offset past the last line)."""
    out, lines, first, no, pos = [], [], 1, 1, offset
    parts = data[offset:].split(b"\n")
    if parts[-1] == b"":  # after the last newline: nothing
        parts.pop()
    for raw in parts:
        pos += len(raw) + 1
        if not raw.rstrip(b"\r").strip():
            continue
        lines.append(raw.rstrip(b"\r"))
        no += 1
        if len(lines) == chunk_size:
            out.append((first, lines, pos))
            lines, first = [], no
    if lines:
        out.append((first, lines, pos))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_chunks_cut_in_blocks_match_a_line_by_line_cut(tmp_path, seed) -> None:
    """Whatever the block size and the odd lines (blank, white space only, CRLF, no final
    newline), the chunks are those of a plain line-by-line cut: same lines, numbers and ends."""
    rng = random.Random(seed)
    recs = [{"version": i, "id_number": "150102199003071237", "name": "王" * rng.randint(1, 9)} for i in range(300)]
    p = sync.write_batch(tmp_path / "b.ndjson", recs, batch_id=uuid.uuid4())
    h = sync.read_header(p)
    body = p.read_bytes()[h.data_offset :].split(b"\n")
    odd = [b"", b"   ", b"\t", b"\r"]
    for _ in range(rng.choice([0, 0, 5, 40])):  # some batches have no odd line at all
        body.insert(rng.randrange(len(body)), rng.choice(odd))
    if rng.random() < 0.3:
        body = [ln + b"\r" if ln and rng.random() < 0.5 else ln for ln in body]
    data = p.read_bytes()[: h.data_offset] + b"\n".join(body).rstrip(b"\n") + rng.choice([b"", b"\n", b"\n\n"])
    p.write_bytes(data)
    size = rng.choice([7, 50, 300])
    block = rng.choice([64, 1000, 1 << 20])
    got = [(c.first_no, c.split(), c.end) for c in sync.iter_chunks(p, h, chunk_size=size, block=block)]
    assert got == _reference_chunks(data, h.data_offset, size)


FULLWIDTH_DIGITS = {ord(c): ord(c) + 0xFEE0 for c in "0123456789X"}


def test_the_fast_path_and_record_by_record_validation_agree(persons, keys, monkeypatch) -> None:
    """Records checked column by column give the same staging rows and rejects as one by one."""
    from geo.db.sync import DwellingIndex  # noqa: F401 - the index type
    from tests.geo.test_matching import make_index

    rows = persons.head(400).to_dict("records")
    recs = [record(r) for r in rows]
    odd = [
        dict(recs[0], birth_date=recs[0]["birth_date"].replace("-", "")),
        dict(recs[1], sex="1" if recs[1]["sex"] == "男" else "2"),
        dict(recs[2], id_number=recs[2]["id_number"].lower()),
        dict(recs[3], ethnicity="02"),
        dict(recs[4], population_type="流动人口"),
        dict(recs[5], care_tags="残疾人；低保户"),
        dict(recs[6], id_number=recs[6]["id_number"][:-1] + ("1" if recs[6]["id_number"][-1] == "0" else "0")),
        dict(recs[7], name=" "),
        {"op": "move_out", "version": 2, "id_number": recs[8]["id_number"]},
        dict(recs[9], version=-1),
        dict(recs[10], birth_date="1900-01-01"),
        {**recs[11], "op": "新增"},
        dict(recs[12], ethnicity="汉族1"),  # not a code, not only letters
        dict(recs[13], id_number=recs[13]["id_number"].translate(FULLWIDTH_DIGITS)),
        dict(recs[14], care_tags=" ", phone=" 13900000000 "),
        dict(recs[15], ethnicity="Han", population_type=" 流动 "),
    ]
    batch = recs[16:] + odd
    header = sync.BatchHeader(uuid.uuid4(), "gaj", "incremental", None, "ndjson", "utf-8")
    import json as _json

    lines = [_json.dumps(r, ensure_ascii=False).encode() for r in batch]
    ctx = sync.Context(header, sync.Encoder(keys), make_index(), TODAY)
    chunk = sync.Chunk(0, 1, lines, 0)
    fast = sync.prepare_chunk(ctx, chunk)
    monkeypatch.setattr(sync, "_arrow_table", lambda *a: None)
    slow = sync.prepare_chunk(ctx, chunk)

    def rows_of(p):
        out = sorted(csv.reader(sync.stage_csv(p.stage).decode().splitlines()), key=lambda r: int(r[0]))
        return [r[:5] + r[6:] for r in out]  # the cipher has a random nonce

    assert rows_of(fast) == rows_of(slow)
    assert [(r.line_no, r.reason, r.record_id) for r in fast.rejects] == [
        (r.line_no, r.reason, r.record_id) for r in slow.rejects
    ]
    assert {r.reason for r in fast.rejects} == {"id_checksum", "name_missing", "version_invalid", "id_birth_mismatch"}
    assert fast.staged + len(fast.rejects) == len(batch)


def test_validation_agrees_with_import_people_on_the_faulty_rows() -> None:
    from geo.people import validate_persons

    bad = pd.read_csv(SAMPLE / "persons_bad.csv", dtype=str, keep_default_na=False)
    _, rejects = validate_persons(bad, today=TODAY)
    people = {r.line_no: r.reason for r in rejects if r.reason not in ("duplicate_conflict",)}
    mine = {}
    for n, row in enumerate(bad.to_dict("records"), start=1):
        r = sync.validate_record(n, {**row, "version": 1, "residence_type": None}, today=TODAY)
        if isinstance(r, sync.RowReject):
            mine[n] = r.reason
    assert mine == people


# -- bulk mode -------------------------------------------------------------------------------------
def _person_ddl(engine) -> tuple:
    with engine.connect() as conn:
        return (
            conn.execute(
                sa.text("SELECT count(*) FROM pg_constraint WHERE conname = 'person_dwelling_id_fkey'")
            ).scalar(),
            sorted(
                conn.execute(
                    sa.text(
                        "SELECT indexdef FROM pg_indexes WHERE tablename = 'person' "
                        "AND indexname IN ('person_name_idx', 'person_dwelling_idx')"
                    )
                ).scalars()
            ),
            sorted(
                conn.execute(
                    sa.text(
                        "SELECT tgname || ':' || tgenabled::text FROM pg_trigger "
                        "WHERE tgrelid = 'person'::regclass AND tgname LIKE 'person_link_count%'"
                    )
                ).scalars()
            ),
        )


def test_bulk_mode_gives_the_same_state_and_restores_the_table(sdb, persons, keys, tmp_path, monkeypatch) -> None:
    normal_ddl = _person_ddl(sdb)
    rows = persons.head(3000).to_dict("records")
    path = write(tmp_path, [record(r) for r in rows], kind="full", name="full.ndjson")
    push(sdb, path, keys, chunk_size=700)
    reference = snapshot(sdb)
    assert reference["batch"][0][-2].count('"bulk": 0') == 1  # tallies: not bulk

    with sdb.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {SYNC_TABLES} RESTART IDENTITY CASCADE"))
    monkeypatch.setattr(dbsync, "BULK_MIN_RECORDS", 100)
    push(sdb, path, keys, chunk_size=700, stop_after=2)  # stops like a crash between chunks
    assert _person_ddl(sdb) != normal_ddl  # bulk mode is on
    push(sdb, path, keys, chunk_size=700)  # resumes, finishes, restores
    assert _person_ddl(sdb) == normal_ddl
    bulk = snapshot(sdb)
    for table in ("person", "history", "review", "reject", "link_count"):
        assert bulk[table] == reference[table], table
    # link rates before/after agree with the normal run's
    ref_report = reference["batch"][0][-1]
    assert bulk["batch"][0][-1] == ref_report


def test_new_persons_copied_in_binary_are_stored_as_the_staged_merge_stores_them(
    sdb, persons, keys, tmp_path, monkeypatch
) -> None:
    """New persons go into ``person`` by a binary COPY (Arrow encoded by pgpq); the staged merge
    (CSV into sync_stage, then SQL) is the reference for every column, awkward values included."""
    recs = [record(r) for r in persons.head(300).to_dict("records")]
    recs[0].update(name="标签甲", care_tags=['引号"', "反斜\\杠", "{括号}", "空 格", "NULL"])
    recs[1]["name"] = 'O\'Brien "小" 王\\'
    recs[2].update(name="时间甲", updated_at="2026-11-21T23:59:59.5+05:00")  # linked since then
    recs[3].update(name="时间乙", updated_at="2026-11-20 09:30:00")  # no zone: Beijing time
    recs[4].update(name="无址甲", address="赛罕区不存在的小区99号楼1单元101")  # unmatched: review
    recs[5].update(name="无址乙", address=None)  # no address: review
    recs[6]["hukou_address"] = "内蒙古呼和浩特市新城区"
    recs[7]["phone"] = None
    recs[8]["ethnicity"] = None
    path = write(tmp_path, recs, produced_at="2026-11-22T08:00:00+08:00")

    copied: list[int] = []
    real_copy = dbsync.copy_binary

    def counting(cur, table, data):
        copied.append(data.num_rows)
        return real_copy(cur, table, data)

    monkeypatch.setattr(dbsync, "copy_binary", counting)
    push(sdb, path, keys)
    direct = snapshot(sdb)
    assert sum(copied) == len(recs)  # every record took the binary COPY

    with sdb.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {SYNC_TABLES} RESTART IDENTITY CASCADE"))
    monkeypatch.setattr(dbsync, "_insert_new_persons", lambda cur, batch, stage, counts, known=None: stage)
    push(sdb, path, keys)
    staged = snapshot(sdb)
    assert sum(copied) == len(recs)  # the second run staged them all
    for table in ("person", "history", "review", "link_count"):
        assert direct[table] == staged[table], table
    person = {r[2]: r for r in direct["person"]}
    assert sorted(person[recs[0]["name"]][9]) == sorted(recs[0]["care_tags"])
    assert recs[1]["name"] in person
    since = person[recs[2]["name"]][19]
    assert since == dt.datetime(2026, 11, 21, 18, 59, 59, 500000, tzinfo=dt.UTC)
    assert person[recs[3]["name"]][19] == dt.datetime(2026, 11, 20, 1, 30, tzinfo=dt.UTC)
    assert person[recs[4]["name"]][10] is None and person[recs[5]["name"]][10] is None


def test_a_small_batch_goes_in_small_chunks_prepared_ahead_in_a_thread(
    sdb, persons, keys, tmp_path, monkeypatch
) -> None:
    """Without --chunk-size a small batch is cut into SMALL_CHUNK_SIZE chunks, each prepared in a
    thread while the one before is applied, and ends as the same batch applied in one chunk."""
    rows = persons.head(4000).to_dict("records")
    first = write(tmp_path, [record(r) for r in rows[:3000]], name="first.ndjson")
    changes = [record(r, version=2, phone="13900000000") for r in rows[:1500]]
    changes += [record(r, version=2, address=rows[-1 - i]["address"]) for i, r in enumerate(rows[1500:2500])]
    changes += [{"op": "move_out", "version": 2, "id_number": r["id_number"]} for r in rows[2500:2800]]
    changes += [record(r) for r in rows[3000:]]
    second = write(tmp_path, changes, name="second.ndjson")
    push(sdb, first, keys, chunk_size=50_000)
    push(sdb, second, keys, chunk_size=50_000)
    one_chunk = snapshot(sdb)

    with sdb.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {SYNC_TABLES} RESTART IDENTITY CASCADE"))
    threads: list[tuple[int, str]] = []
    real_prepare = sync.prepare_chunk

    def recording(ctx, chunk):
        threads.append((chunk.index, threading.current_thread().name))
        return real_prepare(ctx, chunk)

    monkeypatch.setattr(sync, "prepare_chunk", recording)
    push(sdb, first, keys)
    rep = push(sdb, second, keys)
    chunked = snapshot(sdb)
    assert rep["actions"] == {"insert": 1000, "update": 2800}
    assert scalar(sdb, "SELECT array_agg(DISTINCT chunk_size) FROM sync_batch") == [dbsync.SMALL_CHUNK_SIZE]
    assert [i for i, _ in threads] == [0, 1, 0, 1]  # two chunks per batch
    assert all(name.startswith("gridmap-prepare") for _, name in threads)
    for table in ("person", "history", "review", "link_count"):
        assert chunked[table] == one_chunk[table], table


def test_an_abandoned_bulk_load_is_undone_by_the_next_batch(sdb, persons, keys, tmp_path, monkeypatch) -> None:
    normal_ddl = _person_ddl(sdb)
    monkeypatch.setattr(dbsync, "BULK_MIN_RECORDS", 100)
    rows = persons.head(1500).to_dict("records")
    full = write(tmp_path, [record(r) for r in rows], kind="full", name="full.ndjson")
    push(sdb, full, keys, chunk_size=500, stop_after=1)
    assert _person_ddl(sdb) != normal_ddl
    other = write(tmp_path, [record(r) for r in persons.iloc[5000:5010].to_dict("records")])
    rep = push(sdb, other, keys)
    assert rep["status"] == "done" and _person_ddl(sdb) == normal_ddl
    linked = scalar(sdb, "SELECT count(*) FROM person WHERE dwelling_id IS NOT NULL")
    assert scalar(sdb, "SELECT sum(linked) FROM link_count") == linked  # recounted
    # the abandoned batch can still be finished
    rep = push(sdb, full, keys, chunk_size=500)
    assert rep["status"] == "done" and rep["received"] == 1500
    assert _person_ddl(sdb) == normal_ddl
    assert scalar(sdb, "SELECT sum(persons) FROM link_count") == scalar(
        sdb, "SELECT count(*) FROM person WHERE status = 'active'"
    )


def test_a_dwelling_deleted_during_a_bulk_load_leaves_no_dangling_link(
    sdb, persons, keys, tmp_path, monkeypatch
) -> None:
    """Bulk mode drops the dwelling foreign key; a dwelling deleted meanwhile (its residents
    still point at it) is found when the key is added back: those links are cleared, the key
    holds again and the link counts agree."""
    normal_ddl = _person_ddl(sdb)
    monkeypatch.setattr(dbsync, "BULK_MIN_RECORDS", 100)
    rows = persons.head(1500).to_dict("records")
    full = write(tmp_path, [record(r) for r in rows], kind="full", name="full.ndjson")
    push(sdb, full, keys, chunk_size=500, stop_after=1)
    assert _person_ddl(sdb) != normal_ddl  # bulk mode: no foreign key now
    gone = scalar(sdb, "SELECT dwelling_id FROM person WHERE dwelling_id IS NOT NULL ORDER BY id LIMIT 1")
    residents = scalar(sdb, "SELECT count(*) FROM person WHERE dwelling_id = :d", d=gone)
    assert residents >= 1
    with sdb.begin() as conn:
        conn.execute(sa.text("DELETE FROM dwelling WHERE id = :d"), {"d": gone})
    rep = push(sdb, full, keys, chunk_size=500)
    assert rep["status"] == "done" and _person_ddl(sdb) == normal_ddl
    assert scalar(sdb, "SELECT count(*) FROM person WHERE dwelling_id = :d", d=gone) == 0
    assert (
        scalar(
            sdb,
            "SELECT count(*) FROM person p WHERE p.dwelling_id IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM dwelling d WHERE d.id = p.dwelling_id)",
        )
        == 0
    )
    linked = scalar(sdb, "SELECT count(*) FROM person WHERE status = 'active' AND dwelling_id IS NOT NULL")
    assert scalar(sdb, "SELECT sum(linked) FROM link_count") == linked
    # the batch's link rates: nobody before, the recounted links after (the delta was corrected)
    rates = rep["link_rate"]["all"]
    assert (rates["before"]["persons"], rates["before"]["linked"], rates["after"]["persons"]) == (0, 0, 1500)
    assert rates["after"]["linked"] == linked


def test_a_stale_bulk_hash_set_only_costs_a_retry(sdb, persons, keys, tmp_path) -> None:
    """A person the bulk-mode hash set does not know (another writer inserted it) makes the
    direct COPY fail on the unique key; the chunk is retried with an existence query."""
    rows = persons.head(20).to_dict("records")
    push(sdb, write(tmp_path, [record(r) for r in rows]), keys)
    path = write(tmp_path, [record(r) for r in rows])
    header = sync.read_header(path)
    batch = dbsync.register_batch(sdb, header, sha256="test", size=path.stat().st_size)
    with sdb.connect() as conn:
        index = dbsync.load_index(conn, complete=True)
    ctx = sync.Context(header, sync.Encoder(keys), index, TODAY)
    (chunk,) = sync.iter_chunks(path, header, chunk_size=100)
    prep = sync.prepare_chunk(ctx, chunk)
    stale = dbsync.KnownHashes.__new__(dbsync.KnownHashes)
    stale.prefixes = set()
    out = dbsync._apply_chunk(sdb, batch, prep, stale)
    assert (out["accepted"], out["unchanged"], out["rejected"]) == (0, 20, 0)
    assert scalar(sdb, "SELECT count(*) FROM person") == 20


def test_hash_prefixes_of_a_sliced_column() -> None:
    """Bulk mode's 64-bit prefixes are those of the column's own values, also when the column is
    a slice of a larger one (the old buffer reading took its element offset for bytes)."""
    import pyarrow as pa

    values = [bytes(range(i, i + 32)) for i in range(6)]
    part = pa.array(values, pa.binary()).slice(2, 3)
    assert dbsync.KnownHashes.prefix(part).tolist() == [int.from_bytes(v[:8], "big") for v in values[2:5]]
