"""The public-security sync in the database: batches in crash-safe chunks, set-based merge, review
queue, change feed, link rates.

A batch is applied chunk by chunk (``chunk_size`` records, fixed per batch). Each chunk is one
transaction: COPY into a temporary staging table, a set-based merge (:file:`sql/sync_*.sql`), its
rejects, review entries and history, and the batch's checkpoint (records done, byte offset,
counters). A run killed at any point leaves the database at a chunk boundary; running the same
file again resumes after the last committed chunk and ends in the state an uninterrupted run
reaches (the merge is idempotent anyway: a re-applied record is ``same``). Only one process
works on a batch at a time (a session advisory lock on the batch id).

Chunks are prepared (parsed, validated, matched, hashed and encrypted) by :func:`geo.sync.
prepare_chunk`, each while the previous chunk is merged, so Python and PostgreSQL work at the same
time: for large batches in a pool of worker processes, for small ones (smaller chunks) in a
thread of this process.

Test hook (crash safety): with ``GRIDMAP_SYNC_CRASH_AT=<chunk>:<phase>[,…]`` in the environment
the process applying a batch kills itself with ``SIGKILL`` (:func:`geo.sync.crash_point`) when
it reaches chunk ``<chunk>`` (0-based, counted from the batch's first record, so a resumed run
numbers chunks alike) at ``<phase>``:

* ``prepare``: the chunk's addresses are matched, its records not yet hashed and encrypted (in
  a worker process: the applying process is killed, then the worker; earlier chunks may still
  be committing, as with the preparing thread of a small batch);
* ``staged``: inside the chunk's transaction, after its new persons' COPY and the COPY into
  staging, before the merge;
* ``merged``: inside the chunk's transaction, after the merge, rejects and checkpoint, just
  before COMMIT;
* ``committed``: right after the chunk's COMMIT, before the next chunk is taken;

or ``finish``: inside the last transaction (link report, status ``done``), before its COMMIT.
A malformed value is an error. The tests use it to kill a real ``gridmap sync push`` at chosen
points; nothing else sets it.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import gc
import hashlib
import io
import json
import multiprocessing as mp
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geo import sync
from geo.db.copy import copy_binary, sql
from geo.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from geo.matching import DwellingIndex
from geo.people import RowReject
from geo.privacy import PersonKeys, get_person_keys

#: records per chunk (one transaction each) of a large batch
CHUNK_SIZE = 50_000
#: records per chunk of a small batch (prepared in this process, the next chunk while the database
#: applies one: a 10,000-change batch takes about 15 % less time than in one chunk)
SMALL_CHUNK_SIZE = 2_500
#: batches larger than this (bytes) load every dwelling into the matcher and use worker processes
FULL_INDEX_BYTES = 16 << 20
#: bulk mode (see sql/sync_bulk_begin.sql) for full batches of at least this many records that
#: are also at least twice the persons already stored
BULK_MIN_RECORDS = 200_000
#: events per page of the change feed
FEED_LIMIT = 1000
#: the advisory-lock key that orders change-feed events (any constant shared by all writers)
FEED_LOCK = 0x5359_4E43_4556  # "SYNCEV"
#: roles that may see full ID numbers in the feed (geo.db.users.FULL_ID_ROLES)
FULL_ID_ROLES = ("admin", "sync")

ACCEPTED = ("insert", "update", "delete", "tombstone")
UNCHANGED = ("touch", "same", "stale")
MERGE_REJECTED = {"conflict": "version_conflict", "unknown": "person_unknown"}

Progress = Callable[[int, int | None, str], None]
#: seconds spent per phase in this process (for benchmarks): index, wait (for prepared chunks),
#: copy (into staging), merge, commit, finish
PHASES: Counter[str] = Counter()


def _no_progress(_done: int, _total: int | None, _msg: str) -> None:
    return None


# -- the matcher's index -------------------------------------------------------------------------
def _copy_out(conn: Connection, query: str) -> pa.Table:
    """A query's rows through COPY (fast for millions of rows), every column as text."""
    buf = io.BytesIO()
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)", buf)
    buf.seek(0)
    head = buf.readline().decode().strip().split(",")
    buf.seek(0)
    return pacsv.read_csv(
        buf,
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in head}, strings_can_be_null=True),
    )


def _int(table: pa.Table, name: str) -> pa.Table:
    i = table.column_names.index(name)
    return table.set_column(i, name, pc.cast(table.column(name), pa.int64()))


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The garbage collector off meanwhile: building millions of objects that all stay would set
    it off again and again with nothing to collect (a fifth of the complete index's load time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def load_index(conn: Connection, *, complete: bool) -> DwellingIndex:
    """The matcher's index: areas, compounds and buildings; every dwelling when ``complete``, else
    dwellings are loaded building by building as addresses need them."""
    with _gc_paused():
        return _load_index(conn, complete)


def _load_index(conn: Connection, complete: bool) -> DwellingIndex:
    areas = _copy_out(conn, sql("sync_index_areas"))
    compounds = _int(_copy_out(conn, "SELECT id, name, community_code FROM compound"), "id")
    buildings = _copy_out(conn, sql("sync_index_buildings"))
    for c in ("id", "compound_id", "units"):
        buildings = _int(buildings, c)
    index = DwellingIndex(areas, compounds, buildings)
    if complete:
        dwellings = _copy_out(conn, "SELECT id, building_id, unit, room, address FROM dwelling")
        for c in ("id", "building_id", "unit"):
            dwellings = _int(dwellings, c)
        index.add_dwellings(dwellings, complete=True)
    return index


def _lazy_loader(engine: Engine) -> Callable[[list[int]], pa.Table]:
    def load(building_ids: list[int]) -> pa.Table:
        ids = ",".join(str(int(b)) for b in building_ids)
        with engine.connect() as conn:
            t = _copy_out(
                conn,
                f"SELECT id, building_id, unit, room FROM dwelling WHERE building_id = ANY('{{{ids}}}'::bigint[])",
            )
        for c in ("id", "building_id", "unit"):
            t = _int(t, c)
        return t

    return load


def _key_loader(engine: Engine) -> Callable[[list[tuple[int, int, str]]], pa.Table]:
    """Dwellings by (building, unit or 0, room), leading zeros of the room ignored."""

    def load(keys: list[tuple[int, int, str]]) -> pa.Table:
        with engine.begin() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cur.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
            cur.execute(
                "SELECT d.id, d.building_id, d.unit, d.room "
                "FROM unnest(%s::bigint[], %s::int[], %s::text[]) AS k(b, u, r) "
                "JOIN dwelling d ON d.building_id = k.b AND coalesce(d.unit, 0) = k.u "
                "AND ltrim(d.room, '0') = ltrim(k.r, '0')",
                ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]),
            )
            rows = cur.fetchall()
        return pa.table(
            {
                "id": pa.array([r[0] for r in rows], pa.int64()),
                "building_id": pa.array([r[1] for r in rows], pa.int64()),
                "unit": pa.array([r[2] for r in rows], pa.int64()),
                "room": pa.array([r[3] for r in rows], pa.string()),
            }
        )

    return load


def _exact_loader(engine: Engine) -> Callable[[list[str]], dict[str, int]]:
    """Dwellings by their standard address (dwelling_address_idx): address → id, or -1 when two
    dwellings share it (as the complete index has them)."""

    def load(addresses: list[str]) -> dict[str, int]:
        if not addresses:
            return {}
        with engine.connect() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cur.execute(
                "SELECT d.address, CASE WHEN count(*) = 1 THEN min(d.id) ELSE -1 END "
                "FROM dwelling d WHERE d.address = ANY (%s) GROUP BY d.address",
                (addresses,),
            )
            return {a: int(d) for a, d in cur.fetchall()}

    return load


# -- batches ------------------------------------------------------------------------------------
@dataclass
class BatchRow:
    id: uuid.UUID
    status: str
    chunk_size: int
    checkpoint: int
    offset_bytes: int
    received_at: dt.datetime
    sha256: str | None


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _lock_key(batch_id: uuid.UUID) -> int:
    return int.from_bytes(batch_id.bytes[:8], "big", signed=True)


def register_batch(
    engine: Engine,
    header: sync.BatchHeader,
    *,
    sha256: str,
    size: int,
    chunk_size: int | None = None,
    path: str | None = None,
) -> BatchRow:
    """Create the batch's row, or return the existing one (same content required). The chunk
    size (default: by :func:`_is_large`) is fixed when the batch is first seen."""
    chunk_size = chunk_size or (CHUNK_SIZE if _is_large(header, size) else SMALL_CHUNK_SIZE)
    with engine.begin() as conn:
        row = conn.execute(
            sa.text(
                "SELECT id, status, chunk_size, checkpoint, offset_bytes, received_at, sha256 "
                "FROM sync_batch WHERE id = :id FOR UPDATE"
            ),
            {"id": header.batch_id},
        ).first()
        if row is None:
            row = conn.execute(
                sa.text(
                    "INSERT INTO sync_batch (id, source, kind, produced_at, format, encoding, "
                    "sha256, size_bytes, chunk_size, path, status) "
                    "VALUES (:id, :source, :kind, :produced, :format, :encoding, :sha, :size, "
                    ":chunk, :path, 'received') "
                    "RETURNING id, status, chunk_size, checkpoint, offset_bytes, received_at, sha256"
                ),
                {
                    "id": header.batch_id,
                    "source": header.source,
                    "kind": header.kind,
                    "produced": header.produced_at,
                    "format": header.format,
                    "encoding": header.encoding,
                    "sha": sha256,
                    "size": size,
                    "chunk": chunk_size,
                    "path": path,
                },
            ).one()
        elif row.sha256 and row.sha256 != sha256:
            raise Conflict(
                f"batch {header.batch_id} was received before with other content; a changed batch needs a new batch_id"
            )
        elif path is not None:
            conn.execute(
                sa.text("UPDATE sync_batch SET path = :p WHERE id = :id"),
                {"p": path, "id": header.batch_id},
            )
    return BatchRow(
        uuid.UUID(str(row.id)),
        row.status,
        int(row.chunk_size or chunk_size),
        int(row.checkpoint),
        int(row.offset_bytes),
        row.received_at,
        row.sha256,
    )


def _is_large(header: sync.BatchHeader, size: int) -> bool:
    """Whether a batch file of ``size`` bytes is large (over :data:`FULL_INDEX_BYTES` of records):
    the complete dwelling index, worker processes and :data:`CHUNK_SIZE` chunks; else
    :data:`SMALL_CHUNK_SIZE` chunks prepared in this process. Judged by the whole file, not what is
    left of it (a resumed run is no smaller a batch)."""
    return size - header.data_offset > FULL_INDEX_BYTES


# -- applying one chunk -------------------------------------------------------------------------
#: serialization failure, deadlock; a unique violation: another transaction inserted the same new
#: person between the existence check and the COPY (the retry sees it)
_RETRYABLE = ("40001", "40P01", "23505")

#: person columns written directly for new persons, and where they come from in the staging rows
_PERSON_COPY = (
    "id", "id_hash", "id_cipher", "id_masked", "name", "sex", "ethnicity", "birth_date", "phone",
    "residence_type", "relation", "care_tags", "dwelling_id", "address_raw", "status",
    "population_type", "hukou_address", "source_version", "source_hash", "addr_community",
    "addr_building", "dwelling_since",
)  # fmt: skip


def _reserve_ids(cur: object, k: int) -> pa.Array:
    """``k`` new person ids from the sequence. Usually they are one run of numbers (nothing else
    took an id meanwhile), and only that run's ends come back; otherwise every id is fetched."""
    cur.execute(  # type: ignore[attr-defined]
        "SELECT min(n), max(n) FROM (SELECT nextval('person_id_seq') AS n FROM generate_series(1, %s)) s", (k,)
    )
    lo, hi = cur.fetchone()  # type: ignore[attr-defined]
    if hi - lo + 1 == k:
        return pa.array(np.arange(lo, hi + 1, dtype=np.int64))
    cur.execute(  # type: ignore[attr-defined]
        "SELECT nextval('person_id_seq') FROM generate_series(1, %s)", (k,)
    )
    return pa.array([r[0] for r in cur.fetchall()], pa.int64())  # type: ignore[attr-defined]


class KnownHashes:
    """Bulk mode: the keyed hashes that may be stored (persons and tombstones when the batch
    started, and every hash the batch has staged since), as 64-bit prefixes. A hash not in the
    set is certainly new, so a full load needs no existence query; a prefix collision only sends
    a record through the staged merge, which is always right."""

    def __init__(self, conn: Connection) -> None:
        self.prefixes: set[int] = set()
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cur.execute(
            "SELECT substr(id_hash, 1, 8) FROM person UNION ALL SELECT substr(id_hash, 1, 8) FROM sync_tombstone"
        )
        self.prefixes.update(int.from_bytes(bytes(r[0]), "big") for r in cur.fetchall())

    @staticmethod
    def prefix(hashes: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The first 8 bytes of each keyed hash (a binary column of 32-byte values) as an
        unsigned 64-bit int."""
        head = np.ascontiguousarray(sync.fixed_width_bytes(hashes, 32)[:, :8])
        return head.view(">u8").ravel().astype(np.uint64)


def _insert_new_persons(
    cur: object,
    batch: BatchRow,
    stage: pa.Table,
    counts: Counter[str],
    known: KnownHashes | None = None,
) -> pa.Table:
    """COPY the chunk's new persons straight into ``person`` (the usual case of a full load):
    first records (round 1) of upserts whose keyed hash is neither a person nor a tombstone.
    Everything else is returned for the staged merge. Same outcome as sync_plan's ``insert``."""
    rnd = stage.column("rnd").to_numpy()
    up = pc.equal(stage.column("op"), "upsert").to_numpy(zero_copy_only=False)
    cand = (rnd == 1) & up
    prefixes = KnownHashes.prefix(stage.column("id_hash")) if known is not None else None
    if not cand.any():
        direct = cand
    elif known is not None:
        seen = known.prefixes
        direct = cand & np.fromiter((p not in seen for p in prefixes.tolist()), bool, len(prefixes))
    else:
        hashes = stage.column("id_hash").to_pylist()
        cur.execute(  # type: ignore[attr-defined]
            "SELECT p.id_hash FROM unnest(%(h)s::bytea[]) AS h(x) JOIN person p ON p.id_hash = h.x "
            "UNION ALL SELECT t.id_hash FROM unnest(%(h)s::bytea[]) AS h(x) JOIN sync_tombstone t ON t.id_hash = h.x",
            {"h": [h for h, c in zip(hashes, cand, strict=True) if c]},
        )
        found = {bytes(r[0]) for r in cur.fetchall()}  # type: ignore[attr-defined]
        direct = cand & np.fromiter((h not in found for h in hashes), bool, len(hashes))
    if known is not None:  # after this chunk, all of them may be stored
        known.prefixes.update(prefixes.tolist())  # type: ignore[union-attr]
    k = int(direct.sum())
    if not k:
        return stage
    new = stage.filter(pa.array(direct))
    # in keyed-hash order: the inserts into the unique id_hash index then walk its pages in order
    # (about 2.4 s less PostgreSQL time per million persons than in file order)
    order = np.argsort(prefixes[direct]) if prefixes is not None else pc.sort_indices(new.column("id_hash"))
    new = new.take(order)
    ids = _reserve_ids(cur, k)
    linked = pc.is_valid(new.column("dwelling_id"))
    when = new.column("effective_at")
    since = pc.if_else(linked, pc.fill_null(when, pa.scalar(batch.received_at, when.type)), pa.scalar(None, when.type))
    out = pa.Table.from_arrays(
        [
            ids,
            new.column("id_hash"),
            new.column("id_cipher"),
            new.column("id_masked"),
            new.column("name"),
            new.column("sex"),
            new.column("ethnicity"),
            new.column("birth_date"),
            new.column("phone"),
            new.column("residence_type"),
            new.column("relation"),
            new.column("care_tags"),
            new.column("dwelling_id"),
            new.column("address"),
            pa.array(["active"] * k, pa.string()),
            new.column("population_type"),
            new.column("hukou_address"),
            new.column("version"),
            new.column("content_hash"),
            new.column("area_community"),
            new.column("area_building"),
            since,
        ],
        names=list(_PERSON_COPY),
    )
    t0 = time.perf_counter()
    copy_binary(cur, "person", out)
    PHASES["direct_copy"] += time.perf_counter() - t0
    # new persons without a confident dwelling wait for review (as sync_review.sql does)
    unlinked = pc.invert(linked)
    n_rev = int(pc.sum(unlinked).as_py() or 0)
    if n_rev:
        rv = new.filter(unlinked)
        reason = pc.if_else(
            pc.is_null(rv.column("address")),
            pa.scalar("no_address"),
            pc.fill_null(rv.column("match_status"), "unmatched"),
        )
        review = pa.Table.from_arrays(
            [
                pa.array([str(batch.id)] * n_rev, pa.string()),
                rv.column("line_no"),
                ids.filter(unlinked),
                rv.column("address"),
                reason,
                pc.fill_null(rv.column("candidates"), "[]"),
                rv.column("area_community"),
                rv.column("area_building"),
            ],
            names=[
                "batch_id", "line_no", "person_id", "address", "reason", "candidates",
                "community_code", "building_id",
            ],
        )  # fmt: skip
        cur.copy_expert(  # type: ignore[attr-defined]
            "COPY sync_review (batch_id, line_no, person_id, address, reason, candidates, "
            "community_code, building_id) FROM STDIN WITH (FORMAT csv)",
            io.BytesIO(sync.stage_csv(review)),
        )
    counts["action_insert"] += k
    counts["review_opened"] += n_rev
    counts["linked"] += k - n_rev
    return stage.filter(pa.array(~direct))


def _apply_chunk(
    engine: Engine, batch: BatchRow, prep: sync.Prepared, known: KnownHashes | None = None
) -> dict[str, int]:
    for attempt in range(4):
        try:
            with engine.begin() as conn:
                # a retry (e.g. after another writer inserted one of these persons) asks the
                # database which persons exist instead of trusting the bulk-mode hash set
                return _apply_chunk_tx(conn, batch, prep, known if attempt == 0 else None)
        except (sa.exc.DBAPIError, psycopg2.Error) as exc:
            # raw-cursor COPYs raise the driver's errors, statements SQLAlchemy's wrappers
            code = getattr(exc, "pgcode", None) or getattr(getattr(exc, "orig", None), "pgcode", None)
            if code not in _RETRYABLE or attempt == 3:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _apply_chunk_tx(
    conn: Connection, batch: BatchRow, prep: sync.Prepared, known: KnownHashes | None = None
) -> dict[str, int]:
    # the link-count triggers keep this batch's changes apart (before = after - delta)
    conn.execute(sa.text("SELECT set_config('gridmap.sync_batch', :b, true)"), {"b": str(batch.id)})
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    # a chunk is small next to the person table: look persons up by index, never scan them all
    cur.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
    cur.execute(sql("sync_stage"))
    counts: Counter[str] = Counter()
    rest = prep.stage
    if prep.staged:
        t0 = time.perf_counter()
        rest = _insert_new_persons(cur, batch, prep.stage, counts, known)
        PHASES["direct"] += time.perf_counter() - t0
    if rest is not None and rest.num_rows:
        t0 = time.perf_counter()
        cur.copy_expert(
            f"COPY sync_stage ({', '.join(sync.STAGE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)",
            io.BytesIO(sync.stage_csv(rest)),
        )
        PHASES["copy"] += time.perf_counter() - t0
    sync.crash_point(prep.index, "staged")
    if rest is not None and rest.num_rows:
        t0 = time.perf_counter()
        params = {"batch": batch.id, "received": batch.received_at}
        for rnd in range(1, prep.rounds + 1):
            conn.execute(sa.text("DROP TABLE IF EXISTS sync_plan"))
            conn.execute(sa.text(sql("sync_plan")), {"rnd": rnd})
            for name in ("sync_insert", "sync_history", "sync_update", "sync_delete", "sync_review"):
                conn.execute(sa.text(sql(name)), params)
            conn.execute(sa.text(sql("sync_plan_rejects")), params)
            for r in conn.execute(sa.text(sql("sync_plan_counts"))):
                counts[f"action_{r.action}"] += int(r.n)
                counts["review_opened"] += int(r.reviews)
                counts["linked"] += int(r.linked)
                counts["moved"] += int(r.moved)
        PHASES["merge"] += time.perf_counter() - t0
    if prep.rejects:
        _store_rejects(conn, batch.id, prep.rejects)
    accepted = sum(counts[f"action_{a}"] for a in ACCEPTED)
    unchanged = sum(counts[f"action_{a}"] for a in UNCHANGED)
    rejected = len(prep.rejects) + sum(counts[f"action_{a}"] for a in MERGE_REJECTED)
    for action, reason in MERGE_REJECTED.items():
        if counts[f"action_{action}"]:
            counts[f"reject_{reason}"] += counts[f"action_{action}"]
    tallies = Counter(prep.tallies) + counts
    if accepted + unchanged + rejected != prep.received:  # every record is accounted for
        raise RuntimeError(
            f"chunk {prep.index}: {prep.received} received ≠ {accepted} accepted + "
            f"{rejected} rejected + {unchanged} unchanged"
        )
    conn.execute(
        sa.text(
            """
            UPDATE sync_batch SET
                checkpoint = :checkpoint, offset_bytes = :offset,
                received = received + :received, accepted = accepted + :accepted,
                rejected = rejected + :rejected, unchanged = unchanged + :unchanged,
                tallies = (SELECT coalesce(jsonb_object_agg(k, v), '{}') FROM (
                    SELECT k, sum(v::bigint) AS v FROM (
                        SELECT key AS k, value AS v FROM jsonb_each_text(tallies)
                        UNION ALL
                        SELECT key, value FROM jsonb_each_text(CAST(:tallies AS jsonb))) x
                    GROUP BY k) y)
            WHERE id = :id AND checkpoint = :before
            """
        ),
        {
            "checkpoint": prep.first_no - 1 + prep.received,
            "offset": prep.end,
            "received": prep.received,
            "accepted": accepted,
            "rejected": rejected,
            "unchanged": unchanged,
            "tallies": json.dumps(dict(tallies)),
            "id": batch.id,
            "before": prep.first_no - 1,
        },
    )
    sync.crash_point(prep.index, "merged")
    return {
        "received": prep.received,
        "accepted": accepted,
        "rejected": rejected,
        "unchanged": unchanged,
    }


def _store_rejects(conn: Connection, batch_id: uuid.UUID, rejects: list[RowReject]) -> None:
    buf = io.StringIO()
    import csv

    w = csv.writer(buf, lineterminator="\n")
    for r in rejects:
        w.writerow(
            (
                str(batch_id),
                r.line_no,
                r.reason,
                r.detail,
                json.dumps({"id_masked": r.record_id}, ensure_ascii=False),
            )
        )
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cur.copy_expert(
        "COPY sync_reject (batch_id, line_no, reason, detail, record) FROM STDIN WITH (FORMAT csv)",
        io.BytesIO(buf.getvalue().encode("utf-8")),
    )


# -- running a batch ----------------------------------------------------------------------------
_WORKER_CTX: sync.Context | None = None


def _init_worker(
    header: sync.BatchHeader, keys: PersonKeys, index: DwellingIndex, today: dt.date, applier: int | None = None
) -> None:
    global _WORKER_CTX
    _WORKER_CTX = sync.Context(header, sync.Encoder(keys), index, today)
    gc.freeze()  # the index, unpickled here when the pool is a forkserver's (see _prepared_stream)
    sync.crash_applier = applier  # the crash test hook kills the applying process too
    if applier is not None:
        threading.Thread(target=_exit_with, args=(applier,), name="gridmap-watch", daemon=True).start()


def _exit_with(applier: int, every: float = 1.0) -> None:
    """A worker ends when the process it prepares chunks for is gone (killed with ``kill -9``,
    say), instead of waiting for work forever."""
    while True:
        time.sleep(every)
        if not _alive(applier):
            os._exit(1)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        return proc_stat(pid)[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True


def proc_stat(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name: state, parent, process group, …"""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _prepare_in_worker(chunk: sync.Chunk) -> sync.Prepared:
    assert _WORKER_CTX is not None
    return sync.prepare_chunk(_WORKER_CTX, chunk)


def _prepared_stream(
    chunks: Iterator[sync.Chunk],
    ctx: sync.Context,
    workers: int,
) -> Iterator[sync.Prepared]:
    """Prepared chunks in order, prepared ahead while the caller applies the one before: in
    ``workers`` worker processes, or with none in one thread of this process (the database does
    most of applying a chunk, so the thread mostly has the GIL to itself)."""
    if workers <= 0:
        with cf.ThreadPoolExecutor(1, thread_name_prefix="gridmap-prepare") as ahead:
            nxt = None
            for ch in chunks:
                fut = ahead.submit(sync.prepare_chunk, ctx, ch)
                if nxt is not None:
                    yield nxt.result()
                nxt = fut
            if nxt is not None:
                yield nxt.result()
        return
    # fork shares the (large) index without pickling it; with other threads running (the API
    # server) forking is unsafe, so forkserver sends it to each worker once instead
    method = "fork" if threading.active_count() == 1 else "forkserver"
    # the complete index is millions of objects that live as long as the batch: kept out of the
    # garbage collector's walks (in the workers forked from here too; about 10 % of their time)
    gc.freeze()
    try:
        with cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context(method),
            initializer=_init_worker,
            initargs=(ctx.header, ctx.encoder.keys, ctx.index, ctx.today, os.getpid()),
        ) as pool:
            pending: list[cf.Future[sync.Prepared]] = []
            for ch in chunks:
                pending.append(pool.submit(_prepare_in_worker, ch))
                if len(pending) > workers:
                    yield pending.pop(0).result()
            for f in pending:
                yield f.result()
    finally:
        gc.unfreeze()


def default_workers() -> int:
    return max(1, (os.cpu_count() or 2))


def push(
    engine: Engine,
    path: str | Path,
    *,
    keys: PersonKeys | None = None,
    progress: Progress = _no_progress,
    workers: int | None = None,
    chunk_size: int | None = None,
    today: dt.date | None = None,
    full_index: bool | None = None,
    stop_after: int | None = None,
) -> dict[str, object]:
    """Apply a batch file (or resume it); returns its report (see :func:`batch_report`).

    ``workers`` worker processes prepare chunks (default: one per CPU for large batches, none
    for small ones). ``stop_after`` stops after that many chunks (tests of resumption).
    """
    p = Path(path)
    header = sync.read_header(p)
    sync.crash_points()  # a malformed crash test hook fails before anything is written
    size = p.stat().st_size
    keys = keys or get_person_keys()
    today = today or dt.date.today()
    lock = engine.connect()
    try:
        got = lock.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(header.batch_id)}).scalar_one()
        lock.commit()
        if not got:
            raise Conflict(f"batch {header.batch_id} is being applied by another process")
        with cf.ThreadPoolExecutor(1) as ex:  # hashing the file releases the GIL
            hashing = ex.submit(file_sha256, p)
            preloaded = _preload_index(engine, header, size, workers, full_index, progress)
            sha = hashing.result()
        batch = register_batch(engine, header, sha256=sha, size=size, chunk_size=chunk_size)
        _restore_abandoned_bulk(engine, batch.id)
        if batch.status == "done":
            progress(0, 0, "batch already applied; nothing to do")
            return batch_report(engine, batch.id)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE sync_batch SET status = 'running', error = NULL, "
                    "started_at = coalesce(started_at, now()) WHERE id = :id"
                ),
                {"id": batch.id},
            )
        try:
            _run(engine, p, header, batch, keys, progress, workers, today, full_index, stop_after, preloaded)
        except BaseException as exc:
            with engine.begin() as conn:
                conn.execute(
                    sa.text("UPDATE sync_batch SET status = 'failed', error = :e WHERE id = :id"),
                    {"e": f"{type(exc).__name__}: {exc}"[:500], "id": batch.id},
                )
            raise
        return batch_report(engine, batch.id)
    finally:
        try:
            lock.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(header.batch_id)})
            lock.commit()
        finally:
            lock.close()


def _run(
    engine: Engine,
    path: Path,
    header: sync.BatchHeader,
    batch: BatchRow,
    keys: PersonKeys,
    progress: Progress,
    workers: int | None,
    today: dt.date,
    full_index: bool | None,
    stop_after: int | None,
    preloaded: DwellingIndex | None = None,
) -> None:
    size = path.stat().st_size
    workers, wanted = _plan_workers(header, size, workers, full_index)
    if workers > 0 and not wanted:
        raise InvalidInput("worker processes need the full dwelling index")
    complete = _index_mode(engine, batch, wanted)
    if not complete:
        workers = 0  # begun with dwellings loaded as needed, resumed so: the same matches
    bulk = _bulk_begin(engine, batch, header, path)
    if preloaded is not None and complete:
        index = preloaded
    else:
        progress(batch.checkpoint, None, "loading the dwelling index")
        t0 = time.perf_counter()
        with engine.connect() as conn:
            index = load_index(conn, complete=complete)
        PHASES["index"] += time.perf_counter() - t0
    if not complete:
        index.loader = _lazy_loader(engine)
        index.key_loader = _key_loader(engine)
        index.exact_loader = _exact_loader(engine)
    ctx = sync.Context(header, sync.Encoder(keys), index, today)
    known = None
    if bulk:
        with engine.connect() as conn:
            known = KnownHashes(conn)
    start = batch.offset_bytes if batch.checkpoint else None
    chunks = sync.iter_chunks(
        path,
        header,
        chunk_size=batch.chunk_size,
        start_offset=start,
        start_no=batch.checkpoint + 1,
    )
    est_total = None
    done = batch.checkpoint
    if done:
        progress(done, None, f"resuming after record {done:,}")
    # a rough total for the progress bar: bytes left / bytes per record so far
    n = 0
    stream = _prepared_stream(chunks, ctx, workers)
    while True:
        t0 = time.perf_counter()
        prep = next(stream, None)
        PHASES["wait"] += time.perf_counter() - t0
        if prep is None:
            break
        t0 = time.perf_counter()
        _apply_chunk(engine, batch, prep, known)
        sync.crash_point(prep.index, "committed")
        PHASES["apply"] += time.perf_counter() - t0
        batch.checkpoint = prep.first_no - 1 + prep.received
        done = batch.checkpoint
        est_total = max(done, int(done * size / max(prep.end, 1)))
        progress(done, est_total, f"{done:,} records applied")
        n += 1
        if stop_after is not None and n >= stop_after:
            return
    if bulk:
        progress(done, done, "rebuilding indexes and link counts")
    t0 = time.perf_counter()
    _finish(engine, batch.id, bulk=bulk)
    PHASES["finish"] += time.perf_counter() - t0
    progress(done, done, "done")


def _plan_workers(
    header: sync.BatchHeader, size: int, workers: int | None, full_index: bool | None
) -> tuple[int, bool]:
    """(worker processes, whether the complete dwelling index is wanted) for a batch file of
    ``size`` bytes (:func:`_is_large`); worker processes need every dwelling (they have no
    database connection)."""
    big = _is_large(header, size)
    if workers is None:
        workers = default_workers() if (full_index if full_index is not None else big) else 0
    return workers, (full_index if full_index is not None else (workers > 0 or big))


def _preload_index(
    engine: Engine,
    header: sync.BatchHeader,
    size: int,
    workers: int | None,
    full_index: bool | None,
    progress: Progress,
) -> DwellingIndex | None:
    """The complete dwelling index, loaded while the file is hashed, when :func:`_run` will most
    likely want it (a large batch, or worker processes asked for) and the batch is not done yet;
    ``_run`` drops it when the batch was begun with dwellings loaded as needed."""
    if not _plan_workers(header, size, workers, full_index)[1]:
        return None
    with engine.connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM sync_batch WHERE id = :id"), {"id": header.batch_id}).scalar()
        if status == "done":
            return None
        progress(0, None, "loading the dwelling index")
        t0 = time.perf_counter()
        index = load_index(conn, complete=True)
    PHASES["index"] += time.perf_counter() - t0
    return index


def _estimate_records(path: Path, header: sync.BatchHeader) -> int:
    size = path.stat().st_size - header.data_offset
    with path.open("rb") as fh:
        fh.seek(header.data_offset)
        sample = fh.read(1 << 20)
    lines = sample.count(b"\n")
    return int(size * lines / len(sample)) if sample and lines else 0


def _decided_once(conn: Connection, batch_id: uuid.UUID, key: str, decide: Callable[[Connection], bool]) -> bool:
    """A choice kept in the batch's tallies under ``key``: made by ``decide(conn)`` when the batch
    starts, read back by every later run of it (a resumed run works as the first one did)."""
    stored = conn.execute(
        sa.text("SELECT tallies->>:k FROM sync_batch WHERE id = :id FOR UPDATE"), {"k": key, "id": batch_id}
    ).scalar()
    if stored is not None:
        return stored == "1"
    value = decide(conn)
    conn.execute(
        sa.text("UPDATE sync_batch SET tallies = tallies || jsonb_build_object(CAST(:k AS text), :v) WHERE id = :id"),
        {"k": key, "v": int(value), "id": batch_id},
    )
    return value


def _index_mode(engine: Engine, batch: BatchRow, complete: bool) -> bool:
    """Whether the batch is matched against the complete dwelling index (else dwellings are
    loaded as its addresses need them), kept for every run of the batch: the two modes differ in
    details (an exact match of a standard address carries no community or building when complete)."""
    with engine.begin() as conn:
        return _decided_once(conn, batch.id, "full_index", lambda _conn: complete)


def _bulk_begin(engine: Engine, batch: BatchRow, header: sync.BatchHeader, path: Path) -> bool:
    """Enter bulk mode when the batch is a large full load into a small person table (decided
    once per batch, when it starts; a resumed run stays in the mode it started in)."""

    def decide(conn: Connection) -> bool:
        stored = conn.execute(
            sa.text("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'person'::regclass")
        ).scalar_one()
        others = conn.execute(
            sa.text("SELECT count(*) FROM sync_batch WHERE status = 'running' AND id <> :id"), {"id": batch.id}
        ).scalar_one()
        est = _estimate_records(path, header)
        bulk = (
            header.kind == "full"
            and est >= BULK_MIN_RECORDS
            and est >= 2 * stored
            and not others  # the triggers it disables would miss their changes
        )
        if bulk:  # the counts before the batch, negated: after the load, delta = after - before
            conn.execute(
                sa.text(
                    "INSERT INTO sync_link_delta (batch_id, community_code, building_id, unit, "
                    "persons, linked) SELECT :b, community_code, building_id, unit, -persons, "
                    "-linked FROM link_count"
                ),
                {"b": batch.id},
            )
        return bulk

    with engine.begin() as conn:
        bulk = _decided_once(conn, batch.id, "bulk", decide)
        if bulk:  # other batches are refused while this one runs (see _restore_abandoned_bulk)
            conn.execute(sa.text(sql("sync_bulk_begin")))
    return bulk


def _restore_abandoned_bulk(engine: Engine, me: uuid.UUID) -> None:
    """Another batch left bulk mode on (killed and not resumed): undo it, unless it is running."""
    with engine.connect() as conn:
        others = [
            uuid.UUID(str(r[0]))
            for r in conn.execute(
                sa.text("SELECT id FROM sync_batch WHERE tallies->>'bulk' = '1' AND status <> 'done' AND id <> :me"),
                {"me": me},
            )
        ]
    for other in others:
        lock = engine.connect()
        try:
            got = lock.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(other)}).scalar_one()
            lock.commit()
            if not got:
                raise Conflict(f"a bulk full load (batch {other}) is running; send this batch when it is done")
            with engine.begin() as conn:
                _bulk_end(engine, conn)
            lock.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(other)})
            lock.commit()
        finally:
            lock.close()


def _bulk_end(engine: Engine, conn: Connection) -> None:
    """Leave bulk mode in ``conn``'s transaction, the link counts recounted on a second connection
    meanwhile (the recount and the key check + index builds each take a core for seconds).

    Writers of ``person`` wait from the first statement until ``conn`` commits, so the recount,
    whose snapshot is taken after that, sees the final rows. (The key check may clear links to
    dwellings deleted meanwhile, which the recount does not see; it counts such a link as
    unlinked all the same, since it finds no dwelling for it.)"""
    conn.execute(sa.text("LOCK TABLE person IN SHARE MODE"))
    with cf.ThreadPoolExecutor(1) as ex:
        recount = ex.submit(_recount_links, engine)
        conn.execute(sa.text(sql("sync_bulk_end")))
        recount.result()


def _recount_links(engine: Engine) -> None:
    with engine.begin() as other:
        other.execute(sa.text("SELECT link_count_rebuild()"))


def _finish(engine: Engine, batch_id: uuid.UUID, *, bulk: bool = False) -> None:
    with engine.begin() as conn:
        if bulk:
            _bulk_end(engine, conn)
            conn.execute(
                sa.text(
                    """
                    INSERT INTO sync_link_delta AS t (batch_id, community_code, building_id, unit, persons, linked)
                    SELECT :b, community_code, building_id, unit, persons, linked FROM link_count
                    ON CONFLICT (batch_id, community_code, building_id, unit)
                    DO UPDATE SET persons = t.persons + EXCLUDED.persons, linked = t.linked + EXCLUDED.linked
                    """
                ),
                {"b": batch_id},
            )
        report = _link_report(conn, batch_id)
        conn.execute(
            sa.text(
                "UPDATE sync_batch SET status = 'done', finished_at = now(), report = CAST(:r AS jsonb) WHERE id = :id"
            ),
            {"r": json.dumps(report, ensure_ascii=False), "id": batch_id},
        )
        sync.crash_point(None, "finish")


# -- reports ------------------------------------------------------------------------------------
def _rates(conn: Connection, source: str, codes: list[str], params: dict) -> dict:
    out: dict[str, dict[str, tuple[int, int]]] = {"community": {}, "grid": {}, "street": {}}
    if not codes:
        return out
    q = sql("sync_link_rates").replace("{source}", source)
    for r in conn.execute(sa.text(q), {"codes": codes, **params}):
        out[r.level][r.code] = (int(r.persons), int(r.linked))
    return out


def _rate(persons: int, linked: int) -> float | None:
    return round(linked / persons, 6) if persons else None


def _link_report(conn: Connection, batch_id: uuid.UUID) -> dict[str, object]:
    """Link rates before and after the batch, per grid, community and street it touched."""
    touched = [
        r[0]
        for r in conn.execute(
            sa.text("SELECT DISTINCT community_code FROM sync_link_delta WHERE batch_id = :b AND community_code <> ''"),
            {"b": batch_id},
        )
    ]
    streets = sorted(
        {
            r[0]
            for r in conn.execute(sa.text("SELECT parent_code FROM admin_area WHERE code = ANY(:c)"), {"c": touched})
            if r[0]
        }
    )
    scope = sorted(
        set(touched)
        | {
            r[0]
            for r in conn.execute(sa.text("SELECT code FROM admin_area WHERE parent_code = ANY(:s)"), {"s": streets})
        }
    )
    after = _rates(conn, "link_count", scope, {})
    delta = _rates(
        conn,
        "(SELECT * FROM sync_link_delta WHERE batch_id = :b)",
        scope,
        {"b": batch_id},
    )
    names = dict(
        conn.execute(
            sa.text("SELECT code, name FROM admin_area WHERE code = ANY(:c)"),
            {"c": scope + streets},
        ).all()
    )
    grid_names = dict(
        conn.execute(
            sa.text(
                "SELECT g.code, g.name FROM grid g JOIN grid_plan p ON p.id = g.plan_id "
                "WHERE p.status = 'active' AND g.code = ANY(:c)"
            ),
            {"c": list(after["grid"])},
        ).all()
    )
    touched_grids = {g for g, (dp, dl) in delta["grid"].items() if dp or dl}

    def rows(level: str, keep: set[str] | None, nm: dict[str, str]) -> list[dict[str, object]]:
        out = []
        for code in sorted(after[level]):
            if keep is not None and code not in keep:
                continue
            pa, la = after[level][code]
            dp, dl = delta[level].get(code, (0, 0))
            pb, lb = pa - dp, la - dl
            out.append(
                {
                    "code": code,
                    "name": nm.get(code),
                    "before": {"persons": pb, "linked": lb, "rate": _rate(pb, lb)},
                    "after": {"persons": pa, "linked": la, "rate": _rate(pa, la)},
                }
            )
        return out

    total_after = conn.execute(
        sa.text("SELECT coalesce(sum(persons), 0), coalesce(sum(linked), 0) FROM link_count")
    ).one()
    total_delta = conn.execute(
        sa.text("SELECT coalesce(sum(persons), 0), coalesce(sum(linked), 0) FROM sync_link_delta WHERE batch_id = :b"),
        {"b": batch_id},
    ).one()
    pa, la = int(total_after[0]), int(total_after[1])
    pb, lb = pa - int(total_delta[0]), la - int(total_delta[1])
    return {
        "link_rate": {
            "all": {
                "before": {"persons": pb, "linked": lb, "rate": _rate(pb, lb)},
                "after": {"persons": pa, "linked": la, "rate": _rate(pa, la)},
            },
            "streets": rows("street", set(streets), names),
            "communities": rows("community", set(touched), names),
            "grids": rows("grid", touched_grids, grid_names),
            "note": "before = after - this batch's change; grids of active plans only",
        }
    }


def batch_report(engine: Engine, batch_id: uuid.UUID | str) -> dict[str, object]:
    """Status, progress and report of a batch: received = accepted + rejected + unchanged."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT * FROM sync_batch WHERE id = CAST(:id AS uuid)"), {"id": str(batch_id)}
        ).first()
        if row is None:
            raise NotFound(f"no sync batch {batch_id}")
        by_reason = dict(
            conn.execute(
                sa.text("SELECT reason, count(*) FROM sync_reject WHERE batch_id = :b GROUP BY reason ORDER BY reason"),
                {"b": row.id},
            ).all()
        )
        sample = [
            {
                "line_no": r.line_no,
                "id_masked": (r.record or {}).get("id_masked"),
                "reason": r.reason,
                "detail": r.detail,
            }
            for r in conn.execute(
                sa.text(
                    "SELECT line_no, reason, detail, record FROM sync_reject WHERE batch_id = :b "
                    "ORDER BY line_no LIMIT 50"
                ),
                {"b": row.id},
            )
        ]
        open_reviews = conn.execute(
            sa.text("SELECT count(*) FROM sync_review WHERE batch_id = :b AND status = 'open'"),
            {"b": row.id},
        ).scalar_one()
    t = row.tallies or {}
    matching = {k.removeprefix("match_"): int(v) for k, v in sorted(t.items()) if k.startswith("match_")}
    actions = {k.removeprefix("action_"): int(v) for k, v in sorted(t.items()) if k.startswith("action_")}
    return {
        "batch_id": str(row.id),
        "source": row.source,
        "kind": row.kind,
        "produced_at": row.produced_at.isoformat() if row.produced_at else None,
        "received_at": row.received_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "status": row.status,
        "error": row.error,
        "progress": {
            "records": int(row.checkpoint),
            "bytes": int(row.offset_bytes),
            "size_bytes": int(row.size_bytes) if row.size_bytes else None,
        },
        "received": int(row.received),
        "accepted": int(row.accepted),
        "rejected": int(row.rejected),
        "unchanged": int(row.unchanged),
        "balanced": int(row.received) == int(row.accepted + row.rejected + row.unchanged),
        "actions": actions,
        "rejected_by_reason": by_reason,
        "rejects": sample,
        "matching": matching,
        "legacy_upgraded": int(t.get("legacy_upgraded", 0)),
        "review_opened": int(t.get("review_opened", 0)),
        "review_open": int(open_reviews),
        "moved": int(t.get("moved", 0)),
        **(row.report or {}),
    }


def link_rates(engine: Engine, code: str) -> dict[str, object]:
    """人房关联完善率 of an area (12-digit division code, or a 15-digit grid code) and its parts."""
    with engine.connect() as conn:
        if len(code) == 15 and code.isdigit():
            comm = code[:12]
            r = _rates(conn, "link_count", [comm], {})
            p, linked = r["grid"].get(code, (0, 0))
            return {
                "code": code,
                "level": "grid",
                "persons": p,
                "linked": linked,
                "rate": _rate(p, linked),
                "parts": [],
            }
        row = conn.execute(sa.text("SELECT code, name, level FROM admin_area WHERE code = :c"), {"c": code}).first()
        if row is None:
            raise NotFound(f"no division {code}")
        comms = [
            r[0]
            for r in conn.execute(
                sa.text(
                    """
                    WITH RECURSIVE d AS (
                        SELECT code, level FROM admin_area WHERE code = :c
                        UNION ALL
                        SELECT a.code, a.level FROM admin_area a JOIN d ON a.parent_code = d.code
                    )
                    SELECT code FROM d WHERE level = 'village'
                    """
                ),
                {"c": code},
            )
        ]
        r = _rates(conn, "link_count", comms, {})
        total_p = sum(v[0] for v in r["community"].values())
        total_l = sum(v[1] for v in r["community"].values())
        if row.level == "village":
            parts = [(g, "grid", v) for g, v in sorted(r["grid"].items())]
        else:
            child = conn.execute(
                sa.text(
                    """
                    WITH RECURSIVE d AS (
                        SELECT code, parent_code, code AS top FROM admin_area WHERE parent_code = :c
                        UNION ALL
                        SELECT a.code, a.parent_code, d.top FROM admin_area a
                        JOIN d ON a.parent_code = d.code
                    )
                    SELECT code, top FROM d WHERE code = ANY(:comms)
                    """
                ),
                {"c": code, "comms": comms},
            ).all()
            top_of = dict(child)
            agg: dict[str, list[int]] = {}
            for comm, (p, linked) in r["community"].items():
                top = top_of.get(comm, comm)
                a = agg.setdefault(top, [0, 0])
                a[0] += p
                a[1] += linked
            parts = [(c, None, (v[0], v[1])) for c, v in sorted(agg.items())]
        names = dict(
            conn.execute(
                sa.text("SELECT code, name FROM admin_area WHERE code = ANY(:c)"),
                {"c": [c for c, _, _ in parts]},
            ).all()
        )
        return {
            "code": code,
            "name": row.name,
            "level": row.level,
            "persons": total_p,
            "linked": total_l,
            "rate": _rate(total_p, total_l),
            "parts": [
                {
                    "code": c,
                    "name": names.get(c),
                    "persons": v[0],
                    "linked": v[1],
                    "rate": _rate(v[0], v[1]),
                }
                for c, _, v in parts
            ],
        }


# -- the review queue and grid workers' changes -------------------------------------------------
def _check_scope(conn: Connection, user: object | None, dwelling_id: int | None) -> None:
    """A worker acts only on dwellings of their grids (their part of a split tower); planners and
    viewers in their streets/communities; admins and the sync job everywhere
    (:func:`geo.db.access.scope_of`)."""
    if user is None or dwelling_id is None:
        return
    from geo.db.access import scope_of

    scope = scope_of(conn, user)  # type: ignore[arg-type]
    if scope.everything:
        return
    row = conn.execute(
        sa.text(
            """
            SELECT b.community_code,
                   array(SELECT g.code FROM grid_assignment ga
                         JOIN grid_plan p ON p.id = ga.plan_id AND p.status = 'active'
                         JOIN grid g ON g.id = ga.grid_id
                         WHERE ga.building_id = b.id
                           AND grid_part_has_unit(ga.part, coalesce(d.unit, 0))) AS grids
            FROM dwelling d JOIN building b ON b.id = d.building_id
            WHERE d.id = :d
            """
        ),
        {"d": dwelling_id},
    ).first()
    if row is None:
        raise NotFound(f"no dwelling {dwelling_id}")
    if scope.covers_community(row.community_code) or any(g in scope.grids for g in row.grids):
        return
    raise PermissionDenied(f"dwelling {dwelling_id} is outside your grids or areas")


def _emit(
    conn: Connection,
    kind: str,
    person_id: int,
    dwelling_id: int | None,
    old_dwelling_id: int | None,
    user: object | None,
    detail: dict[str, object],
) -> int:
    """Append a change-feed event in the caller's transaction, numbered in commit order."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": FEED_LOCK})
    return int(
        conn.execute(
            sa.text(
                """
                INSERT INTO sync_event (kind, person_id, id_hash, id_cipher, id_masked, dwelling_id,
                                        old_dwelling_id, detail, user_id, user_name)
                SELECT :kind, p.id, p.id_hash, p.id_cipher, p.id_masked, :d, :old,
                       CAST(:detail AS jsonb), :uid, :uname
                FROM person p WHERE p.id = :p
                RETURNING id
                """
            ),
            {
                "kind": kind,
                "p": person_id,
                "d": dwelling_id,
                "old": old_dwelling_id,
                "detail": json.dumps(detail, ensure_ascii=False, default=str),
                "uid": getattr(user, "id", None),
                "uname": getattr(user, "name", None),
            },
        ).scalar_one()
    )


def _relink(
    conn: Connection,
    person_id: int,
    dwelling_id: int | None,
    *,
    reason: str,
    user: object | None,
    status: str = "active",
) -> int | None:
    """Point a person at a dwelling (or none), keeping the old stay in the history; returns the
    old dwelling."""
    row = conn.execute(
        sa.text("SELECT dwelling_id, dwelling_since, status FROM person WHERE id = :p FOR UPDATE"),
        {"p": person_id},
    ).first()
    if row is None:
        raise NotFound(f"no person {person_id}")
    if row.dwelling_id is not None and row.dwelling_id != dwelling_id:
        conn.execute(
            sa.text(
                "INSERT INTO residence_history (person_id, dwelling_id, moved_in_at, moved_out_at, "
                "to_dwelling_id, out_reason, by_user) VALUES (:p, :d, :since, now(), :to, :r, :u)"
            ),
            {
                "p": person_id,
                "d": row.dwelling_id,
                "since": row.dwelling_since,
                "to": dwelling_id,
                "r": reason,
                "u": getattr(user, "name", None),
            },
        )
    conn.execute(
        sa.text(
            """
            UPDATE person p SET dwelling_id = :d, status = :s,
                dwelling_since = CASE WHEN p.dwelling_id IS NOT DISTINCT FROM :d THEN p.dwelling_since
                                      WHEN :d IS NULL THEN NULL ELSE now() END,
                addr_community = coalesce((SELECT b.community_code FROM dwelling d
                                           JOIN building b ON b.id = d.building_id WHERE d.id = :d),
                                          p.addr_community),
                addr_building = coalesce((SELECT building_id FROM dwelling WHERE id = :d), p.addr_building),
                version = p.version + 1, updated_at = now()
            WHERE p.id = :p
            """
        ),
        {"d": dwelling_id, "s": status, "p": person_id},
    )
    return row.dwelling_id


def list_reviews(
    engine: Engine,
    *,
    status: str = "open",
    community: str | None = None,
    batch_id: str | None = None,
    limit: int = 100,
    after_id: int = 0,
    user: object | None = None,
) -> list[dict[str, object]]:
    """Review entries with their candidates' addresses (masked IDs and names)."""
    with engine.connect() as conn:
        prefixes: list[str] = []
        grids: list[str] = []
        restrict = False
        if user is not None:
            from geo.db.access import scope_of

            scope = scope_of(conn, user)  # type: ignore[arg-type]
            restrict = not scope.everything
            prefixes = [p + "%" for p in scope.prefixes]
            grids = list(scope.grids)
        rows = conn.execute(
            sa.text(
                """
                SELECT r.id, r.batch_id, r.line_no, r.reason, r.address, r.candidates, r.status,
                       r.community_code, r.building_id, r.created_at, r.dwelling_id,
                       p.id_masked, p.name
                FROM sync_review r JOIN person p ON p.id = r.person_id
                WHERE r.status = :status AND r.id > :after
                  AND (CAST(:comm AS text) IS NULL OR r.community_code = :comm)
                  AND (CAST(:batch AS text) IS NULL OR r.batch_id = CAST(:batch AS uuid))
                  AND (NOT :restrict OR r.community_code LIKE ANY (CAST(:prefixes AS text[]))
                       OR EXISTS (SELECT 1 FROM grid_assignment ga
                                  JOIN grid_plan gp ON gp.id = ga.plan_id AND gp.status = 'active'
                                  JOIN grid g ON g.id = ga.grid_id
                                  WHERE ga.building_id = r.building_id
                                    AND g.code = ANY (CAST(:grids AS text[]))))
                ORDER BY r.id LIMIT :limit
                """
            ),
            {
                "status": status,
                "after": after_id,
                "comm": community,
                "batch": batch_id,
                "restrict": restrict,
                "prefixes": prefixes,
                "grids": grids,
                "limit": limit,
            },
        ).all()
        cand_ids = sorted({int(c["dwelling_id"]) for r in rows for c in (r.candidates or [])})
        addresses = dict(
            conn.execute(
                sa.text(
                    """
                    SELECT d.id, coalesce(d.address, concat_ws(' ', b.number, d.unit || '单元', d.room || '室'))
                    FROM dwelling d JOIN building b ON b.id = d.building_id WHERE d.id = ANY(:ids)
                    """
                ),
                {"ids": cand_ids},
            ).all()
        )
    from geo.ids import mask_name

    return [
        {
            "id": r.id,
            "batch_id": str(r.batch_id) if r.batch_id else None,
            "line_no": r.line_no,
            "reason": r.reason,
            "status": r.status,
            "person": {"id_masked": r.id_masked, "name": mask_name(r.name)},
            "address": r.address,
            "community_code": r.community_code,
            "building_id": r.building_id,
            "created_at": r.created_at.isoformat(),
            "candidates": [{**c, "address": addresses.get(int(c["dwelling_id"]))} for c in (r.candidates or [])],
        }
        for r in rows
    ]


def confirm_review(
    engine: Engine,
    review_id: int,
    dwelling_id: int,
    *,
    user: object | None = None,
    client: str | None = None,
) -> dict[str, object]:
    """A grid worker links the person of a review to a dwelling (a candidate, or another one they
    found on the spot); the link, the history and the change-feed event commit together."""
    with engine.begin() as conn:
        r = conn.execute(
            sa.text("SELECT id, person_id, status, candidates FROM sync_review WHERE id = :id FOR UPDATE"),
            {"id": review_id},
        ).first()
        if r is None:
            raise NotFound(f"no review {review_id}")
        if r.status != "open":
            raise Conflict(f"review {review_id} is {r.status}, not open")
        exists = conn.execute(sa.text("SELECT 1 FROM dwelling WHERE id = :d"), {"d": dwelling_id}).first()
        if exists is None:
            raise InvalidInput(f"no dwelling {dwelling_id}")
        _check_scope(conn, user, dwelling_id)
        candidate = any(int(c["dwelling_id"]) == dwelling_id for c in (r.candidates or []))
        old = _relink(conn, r.person_id, dwelling_id, reason="corrected", user=user)
        conn.execute(
            sa.text(
                "UPDATE sync_review SET status = 'confirmed', resolved_at = now(), "
                "resolved_by = :u, dwelling_id = :d WHERE id = :id"
            ),
            {"u": getattr(user, "name", None), "d": dwelling_id, "id": review_id},
        )
        event = _emit(
            conn,
            "match_confirmed",
            r.person_id,
            dwelling_id,
            old,
            user,
            {"review_id": review_id, "candidate": candidate},
        )
        _audit(
            conn,
            user,
            "sync.review.confirm",
            f"review/{review_id}",
            {"dwelling_id": dwelling_id, "event": event},
            client,
        )
    return {"review_id": review_id, "dwelling_id": dwelling_id, "event_id": event, "candidate": candidate}


def correct_dwelling(
    engine: Engine, person_id: int, dwelling_id: int, *, user: object | None = None, client: str | None = None
) -> int:
    """A grid worker corrects where a person lives; returns the change-feed event id."""
    with engine.begin() as conn:
        _check_scope(conn, user, dwelling_id)
        old = _relink(conn, person_id, dwelling_id, reason="corrected", user=user)
        conn.execute(
            sa.text(
                "UPDATE sync_review SET status = 'superseded', resolved_at = now(), resolved_by = :u "
                "WHERE person_id = :p AND status = 'open'"
            ),
            {"p": person_id, "u": getattr(user, "name", None)},
        )
        event = _emit(conn, "dwelling_corrected", person_id, dwelling_id, old, user, {})
        _audit(conn, user, "sync.person.correct", f"person/{person_id}", {"dwelling_id": dwelling_id}, client)
    return event


def move_out(engine: Engine, person_id: int, *, user: object | None = None, client: str | None = None) -> int:
    """A grid worker records that a person has moved away; returns the change-feed event id."""
    with engine.begin() as conn:
        cur = conn.execute(sa.text("SELECT dwelling_id FROM person WHERE id = :p"), {"p": person_id}).first()
        if cur is None:
            raise NotFound(f"no person {person_id}")
        _check_scope(conn, user, cur.dwelling_id)
        old = _relink(conn, person_id, None, reason="move_out", user=user, status="moved_out")
        event = _emit(conn, "moved_out", person_id, None, old, user, {})
        _audit(conn, user, "sync.person.move_out", f"person/{person_id}", {}, client)
    return event


def register_resident(
    engine: Engine,
    record: dict[str, object],
    dwelling_id: int,
    *,
    keys: PersonKeys | None = None,
    user: object | None = None,
    client: str | None = None,
    today: dt.date | None = None,
) -> int:
    """A grid worker registers a resident the police record does not have (validated like a sync
    record); returns the change-feed event id."""
    r = sync.validate_record(1, {"version": 0, **record}, today=today or dt.date.today())
    if isinstance(r, RowReject):
        raise InvalidInput(f"{r.reason}: {r.detail}")
    keys = keys or get_person_keys()
    with engine.begin() as conn:
        _check_scope(conn, user, dwelling_id)
        h = keys.id_hash(r.id_number)
        if conn.execute(sa.text("SELECT 1 FROM person WHERE id_hash = :h"), {"h": h}).first():
            raise Conflict(f"a person with ID number {r.id_masked} is already registered")
        pid = conn.execute(
            sa.text(
                """
                INSERT INTO person (id_hash, id_cipher, id_masked, name, sex, ethnicity, birth_date,
                                    phone, residence_type, relation, care_tags, population_type,
                                    address_raw, status)
                VALUES (:h, :c, :m, :name, :sex, :eth, :birth, :phone, :rt, :rel, :tags, :pt, :addr, 'active')
                RETURNING id
                """
            ),
            {
                "h": h,
                "c": keys.encrypt(r.id_number),
                "m": r.id_masked,
                "name": r.name,
                "sex": r.sex,
                "eth": r.ethnicity,
                "birth": r.birth_date,
                "phone": r.phone,
                "rt": sync.RESIDENCE_BY_POPULATION.get(r.population_type, "常住"),
                "rel": r.relation,
                "tags": r.care_tags,
                "pt": r.population_type,
                "addr": r.address,
            },
        ).scalar_one()
        _relink(conn, pid, dwelling_id, reason="corrected", user=user)
        event = _emit(conn, "resident_added", pid, dwelling_id, None, user, {})
        _audit(conn, user, "sync.person.register", f"person/{pid}", {"dwelling_id": dwelling_id}, client)
    return event


def _audit(conn: Connection, user: object | None, action: str, resource: str, detail: dict, client: str | None) -> None:
    try:
        from geo.db.audit import audit
    except ImportError:  # pragma: no cover - the audit module comes with authentication
        return
    audit(conn, user, action, resource, detail, client)  # type: ignore[arg-type]


def changes(
    engine: Engine,
    since: int = 0,
    *,
    limit: int = FEED_LIMIT,
    user: object | None = None,
    keys: PersonKeys | None = None,
) -> dict[str, object]:
    """Events after cursor ``since``, oldest first, and the cursor to ask with next.

    Events are numbered in commit order (:func:`_emit` holds a transaction advisory lock from
    the insert to the commit), so an event can never commit below a number a reader has already
    passed: the feed neither skips nor repeats, also across restarts (the numbers are in the
    table). Gaps in the numbers (a rolled-back change) are harmless. The sync role and admins
    get the full ID number (decrypted here), everyone else the masked one.
    """
    full = getattr(user, "role", None) in FULL_ID_ROLES if user is not None else False
    k = keys or (get_person_keys() if full else None)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                """
                SELECT e.id, e.at, e.kind, e.id_cipher, e.id_masked, e.detail, e.user_name,
                       e.dwelling_id, d.ext_id AS dwelling_ext, d.address AS dwelling_address,
                       b.community_code, e.old_dwelling_id, od.ext_id AS old_dwelling_ext
                FROM sync_event e
                LEFT JOIN dwelling d ON d.id = e.dwelling_id
                LEFT JOIN building b ON b.id = d.building_id
                LEFT JOIN dwelling od ON od.id = e.old_dwelling_id
                WHERE e.id > :since ORDER BY e.id LIMIT :limit
                """
            ),
            {"since": since, "limit": limit},
        ).all()
    events = []
    for r in rows:
        ev: dict[str, object] = {
            "id": r.id,
            "at": r.at.isoformat(),
            "kind": r.kind,
            "id_masked": r.id_masked,
            "dwelling": {
                "id": r.dwelling_id,
                "ext_id": r.dwelling_ext,
                "address": r.dwelling_address,
                "community_code": r.community_code,
            }
            if r.dwelling_id is not None
            else None,
            "old_dwelling": {"id": r.old_dwelling_id, "ext_id": r.old_dwelling_ext}
            if r.old_dwelling_id is not None
            else None,
            "by": r.user_name,
            "detail": r.detail,
        }
        if full and k is not None:
            ev["id_number"] = k.decrypt(r.id_cipher)
        events.append(ev)
    cursor = rows[-1].id if rows else since
    return {"events": events, "cursor": str(cursor), "more": len(rows) == limit}


def batch_path(engine: Engine, batch_id: uuid.UUID | str) -> str | None:
    """Where an uploaded batch was spooled (None when it came from the command line)."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT path FROM sync_batch WHERE id = CAST(:id AS uuid)"), {"id": str(batch_id)}
        ).scalar()
