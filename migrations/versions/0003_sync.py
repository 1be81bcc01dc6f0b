"""Public-security sync: person fields from the police record, residence history, review queue,
tombstones, change feed, link counters and their triggers.

The DDL lives beside this file in ``0003_sync.sql``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TRIGGERS = ("person_link_count_ins", "person_link_count_upd", "person_link_count_del", "person_link_count_trunc")
TABLES = ("sync_link_delta", "link_count", "sync_event", "sync_review", "residence_history", "sync_tombstone")
PERSON_COLUMNS = (
    "population_type",
    "hukou_address",
    "source_version",
    "source_hash",
    "addr_community",
    "addr_building",
    "dwelling_since",
)
BATCH_COLUMNS = (
    "format",
    "encoding",
    "sha256",
    "size_bytes",
    "chunk_size",
    "offset_bytes",
    "started_at",
    "path",
    "error",
    "tallies",
)


def upgrade() -> None:
    sql = Path(__file__).with_suffix(".sql").read_text(encoding="utf-8")
    # the raw DB-API cursor: no parameter parsing, so PL/pgSQL's % and : stay as they are
    op.get_bind().connection.cursor().execute(sql)


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON person")
    for fn in (
        "link_count_touch()",
        "link_count_truncate()",
        "link_count_rebuild()",
        "grid_part_has_unit(text, integer)",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("ALTER TABLE person " + ", ".join(f"DROP COLUMN IF EXISTS {c}" for c in PERSON_COLUMNS))
    op.execute("ALTER TABLE sync_batch " + ", ".join(f"DROP COLUMN IF EXISTS {c}" for c in BATCH_COLUMNS))
