"""Alembic environment: the URL comes from GridMap's settings (or ``-x url=...`` / config attribute)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from geo.db.engine import make_engine
from geo.db.settings import get_db_settings

config = context.config


def _url() -> str:
    return (
        config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url") or get_db_settings().url
    )


def run_migrations_offline() -> None:
    context.configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
