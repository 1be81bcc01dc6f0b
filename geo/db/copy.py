"""Bulk writes with COPY: frames go into (temporary) tables as CSV, geometries as EWKB hex."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from importlib import resources

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy.engine import Connection


def sql(name: str) -> str:
    """The text of ``geo/db/sql/<name>.sql``."""
    return resources.files("geo.db").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def copy_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    frame: pd.DataFrame,
    *,
    srid: int = 4490,
    chunk: int = 200_000,
) -> int:
    """COPY ``frame[columns]`` into ``table`` (``geom`` as EWKB hex); returns the number of rows."""
    if frame.empty:
        return 0
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cols = ", ".join(columns)
    total = 0
    for start in range(0, len(frame), chunk):
        part = frame.iloc[start : start + chunk]
        out = pd.DataFrame(index=part.index)
        for c in columns:
            if c == "geom":
                geoms = (
                    part.geometry.values
                    if isinstance(part, gpd.GeoDataFrame)
                    else part["geom"].values
                )
                out[c] = shapely.to_wkb(shapely.set_srid(geoms, srid), hex=True, include_srid=True)
            else:
                out[c] = part[c]
        buf = io.StringIO()
        out.to_csv(buf, index=False, header=False, na_rep="\\N", quoting=csv.QUOTE_MINIMAL)
        buf.seek(0)
        cur.copy_expert(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)
        total += len(part)
    return total
