"""Initial schema: admin areas, compounds, buildings, dwellings, persons, grid plans, users, audit, imports, sync.

The DDL lives beside this file in ``0001_initial.sql`` so that it can be read as SQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = [
    "sync_reject",
    "sync_batch",
    "import_reject",
    "import_run",
    "audit_log",
    "grid_worker",
    "api_token",
    "app_user",
    "grid_assignment",
    "grid_code_registry",
    "grid",
    "grid_plan",
    "person",
    "dwelling",
    "building",
    "compound",
    "admin_area",
]


def upgrade() -> None:
    sql = Path(__file__).with_suffix(".sql").read_text(encoding="utf-8")
    # the raw DB-API cursor: no parameter parsing, so PL/pgSQL's % placeholders stay as they are
    op.get_bind().connection.cursor().execute(sql)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("DROP FUNCTION IF EXISTS building_in_community()")
    op.execute("DROP FUNCTION IF EXISTS part_covers(text, integer, integer)")
