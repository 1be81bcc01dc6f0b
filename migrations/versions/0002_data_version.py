"""Data versions for the tile cache: ``data_version(layer, version, changed_at)`` and its triggers.

The DDL lives beside this file in ``0002_data_version.sql``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TRIGGERS = {
    "admin_area": ["data_version_admin_area"],
    "compound": ["data_version_compound"],
    "building": ["data_version_building"],
    "dwelling": ["data_version_dwelling"],
    "grid": ["data_version_grid_ins", "data_version_grid_upd", "data_version_grid_del", "data_version_grid_trunc"],
    "grid_assignment": [
        "data_version_assignment_ins",
        "data_version_assignment_upd",
        "data_version_assignment_del",
        "data_version_assignment_trunc",
    ],
    "grid_plan": ["data_version_plan_ins", "data_version_plan_upd", "data_version_plan_del", "data_version_plan_trunc"],
}


def upgrade() -> None:
    sql = Path(__file__).with_suffix(".sql").read_text(encoding="utf-8")
    op.get_bind().connection.cursor().execute(sql)


def downgrade() -> None:
    for table, names in TRIGGERS.items():
        for name in names:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    for fn in ("data_version_plan_rows()", "data_version_grid_rows()", "data_version_touch()"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute("DROP FUNCTION IF EXISTS data_version_bump(text[])")
    op.execute("DROP TABLE IF EXISTS data_version")
