"""Dwellings by their standard address (the registry's string), for the sync's exact matching of
small batches: an address is looked up as it is before anything is parsed or loaded.

A hash index: only equality is asked, and its entries stay small whatever the address length.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX dwelling_address_idx ON dwelling USING hash (address)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS dwelling_address_idx")
