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

TRIGGERS = {
    "dwelling": ["building_tile_dwelling_ins", "building_tile_dwelling_upd", "building_tile_dwelling_del",
                 "building_tile_dwelling_trunc"],
    "grid_assignment": ["building_tile_assignment_ins", "building_tile_assignment_upd",
                        "building_tile_assignment_del", "building_tile_assignment_trunc"],
    "grid_plan": ["building_tile_plan_ins", "building_tile_plan_upd", "building_tile_plan_del",
                  "building_tile_plan_trunc"],
}  # fmt: skip

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


def downgrade() -> None:
    for table, names in TRIGGERS.items():
        for name in names:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    for fn in ("building_tile_plan_rows()", "building_tile_assignment_rows()", "building_tile_dwelling_rows()"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute("DROP FUNCTION IF EXISTS building_tile_grids(text[])")
    op.execute("DROP FUNCTION IF EXISTS building_tile_households(bigint[])")
    op.get_bind().connection.cursor().execute(BUILDING_IN_COMMUNITY)
    op.execute("ALTER TABLE building DROP COLUMN IF EXISTS tile_households, DROP COLUMN IF EXISTS tile_grid")
