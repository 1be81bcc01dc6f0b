"""Each building's minimum clearance (``min_clearance``, degrees), for the fast path of its tiles.

ST_MinimumClearance is the smallest distance between a vertex and a segment (or vertex) it is
not part of: moving every vertex of a *valid* footprint by less than half of it cannot make it
invalid (of an invalid one it says nothing: a bow-tie has a large clearance). Footprints are valid:
``building_geom_check`` (migration 0001) refuses any other. A building tile snaps vertices to its
integer grid, moving each by at most half a unit in x and in y;
where the clearance is at least two tile units and the footprint lies inside the tile's buffer,
the snapped footprint is valid and needs no clipping, so the tile encodes it with ST_Affine,
ST_SnapToGrid and ST_ForcePolygonCCW instead of ST_AsMVTGeom's clip-and-validate
(geo/db/sql/tile_buildings.sql). A generated column: every write of a footprint keeps it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE building ADD COLUMN min_clearance double precision "
        "GENERATED ALWAYS AS (ST_MinimumClearance(geom)) STORED"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE building DROP COLUMN IF EXISTS min_clearance")
