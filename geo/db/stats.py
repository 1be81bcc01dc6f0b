"""Figures per community: what is loaded and the 人房关联 link rate."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo.db.copy import sql


def community_summary(engine: Engine) -> list[dict[str, object]]:
    """Per community with a boundary or buildings: compounds, buildings, dwellings, persons, link rate."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql("community_summary")))]
