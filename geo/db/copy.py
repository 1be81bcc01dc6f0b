"""Bulk writes with COPY: frames go into (temporary) tables as CSV written by Arrow, or Arrow
tables in PostgreSQL's binary format."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
import pgpq
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
from sqlalchemy.engine import Connection


@cache
def sql(name: str) -> str:
    """The text of ``geo/db/sql/<name>.sql`` (read once per process)."""
    return resources.files("geo.db").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def wkb_columns(geoms: np.ndarray) -> tuple[list[str], list[str]]:
    """(hex WKB for COPY, md5 of the WKB) of each geometry; the md5 detects a changed geometry cheaply."""
    wkb = shapely.to_wkb(geoms)
    return [b.hex() for b in wkb], [hashlib.md5(b).hexdigest() for b in wkb]


def _arrow_ready(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def copy_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    frame: pd.DataFrame,
    *,
    chunk: int = 100_000,
) -> int:
    """COPY ``frame[columns]`` into ``table``; NULL is an unquoted empty field, text is always quoted."""
    if frame.empty:
        return 0
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cols = ", ".join(columns)
    for start in range(0, len(frame), chunk):
        part = _arrow_ready(pd.DataFrame(frame.iloc[start : start + chunk][list(columns)]))
        buf = io.BytesIO()
        table_ = pa.Table.from_pandas(part, preserve_index=False)
        pacsv.write_csv(table_, buf, pacsv.WriteOptions(include_header=False))
        buf.seek(0)
        cur.copy_expert(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv)", buf)
    return len(frame)


def copy_binary(cur: object, table: str, data: pa.Table) -> int:
    """COPY an Arrow table into ``table`` (its columns named as the table's) in PostgreSQL's
    binary format, encoded by pgpq: PostgreSQL parses no text (no hex ``bytea``, array literals
    or timestamps), which makes a large COPY about a fifth cheaper for the server than CSV.
    Each Arrow type must be the column's type as pgpq maps it (int64 → bigint, string → text,
    binary → bytea, list<string> → text[], date32 → date, timestamp with zone → timestamptz)."""
    if not data.num_rows:
        return 0
    enc = pgpq.ArrowToPostgresBinaryEncoder(data.schema)
    buf = bytearray(enc.write_header())
    for batch in data.to_batches():
        buf += enc.write_batch(batch)
    buf += enc.finish()
    cols = ", ".join(data.column_names)
    cur.copy_expert(  # type: ignore[attr-defined]
        f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT binary)", io.BytesIO(buf), size=1 << 20
    )
    return data.num_rows
