"""What a public building tile shows, kept on the building row (``tile_households``, ``tile_grid``)
by statement-level triggers, so a building tile is one index scan of ``building``.

The DDL lives beside this file in ``0004_building_tile.sql``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: table -> (the function its triggers call, the statements they follow)
TRIGGERS = {
    "dwelling": ("building_tile_dwelling_rows", ("INSERT", "UPDATE", "DELETE", "TRUNCATE")),
    "grid_assignment": ("building_tile_assignment_rows", ("INSERT", "UPDATE", "DELETE", "TRUNCATE")),
    "grid_plan": ("building_tile_plan_rows", ("INSERT", "UPDATE", "DELETE", "TRUNCATE")),
    "building": ("building_tile_building_rows", ("UPDATE",)),
}
#: the transition tables each statement-level trigger sees (TRUNCATE has none)
TRANSITION = {
    "INSERT": "REFERENCING NEW TABLE AS new_rows",
    "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "REFERENCING OLD TABLE AS old_rows",
    "TRUNCATE": "",
}


def _trigger_name(function: str, event: str) -> str:
    """building_tile_dwelling_rows, INSERT -> building_tile_dwelling_ins"""
    suffix = {"INSERT": "ins", "UPDATE": "upd", "DELETE": "del", "TRUNCATE": "trunc"}[event]
    return f"{function.removesuffix('_rows')}_{suffix}"


# the building check as migration 0001 made it
BUILDING_IN_COMMUNITY = """
CREATE OR REPLACE FUNCTION building_in_community() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.ext_id, n.community_code INTO bad
    FROM changed_rows n JOIN admin_area a ON a.code = n.community_code
    WHERE a.geom IS NOT NULL AND NOT ST_Covers(a.geom, ST_PointOnSurface(n.geom))
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'building % lies outside community %', bad.ext_id, bad.community_code
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER building_in_community_upd ON building;
CREATE TRIGGER building_in_community_upd AFTER UPDATE ON building
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION building_in_community();
"""


def upgrade() -> None:
    sql = Path(__file__).with_suffix(".sql").read_text(encoding="utf-8")
    op.get_bind().connection.cursor().execute(sql)
    for table, (function, events) in TRIGGERS.items():
        for event in events:
            op.execute(
                f"CREATE TRIGGER {_trigger_name(function, event)} AFTER {event} ON {table} {TRANSITION[event]} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )


def downgrade() -> None:
    for table, (function, events) in TRIGGERS.items():
        for event in events:
            op.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(function, event)} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.execute("DROP FUNCTION IF EXISTS building_tile_grids(text[])")
    op.execute("DROP FUNCTION IF EXISTS building_tile_households(bigint[])")
    op.get_bind().connection.cursor().execute(BUILDING_IN_COMMUNITY)
    op.execute("ALTER TABLE building DROP COLUMN IF EXISTS tile_households, DROP COLUMN IF EXISTS tile_grid")
