"""Test fixtures: a fresh PostGIS database per test run, migrated once, cleaned between tests.

The server is the project's private cluster (``make test`` runs ``gridmap db up`` first) or the
one ``DATABASE_URL`` names. Tests that write call the ``db`` fixture, which empties every data
table (the division codes stay loaded) before the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo.db import migrate
from geo.db.cluster import Cluster, create_database, drop_database
from geo.db.engine import make_engine
from geo.db.load import load_divisions
from geo.db.settings import get_db_settings
from geo.privacy import PersonKeys

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_shapefiles"
TEST_SECRET = "gridmap-test-secret-0123456789abcdef"

#: tables clean() keeps: the division codes, the layer versions, the schema's and PostGIS's own
KEPT_TABLES = ("admin_area", "data_version", "alembic_version", "spatial_ref_sys")


@pytest.fixture(scope="session")
def server_url() -> str:
    """URL of the server tests run against (the private cluster is started when needed)."""
    settings = get_db_settings()
    if settings.managed:
        Cluster(settings, say=lambda _m: None).up()
    return settings.url


@pytest.fixture(scope="session")
def db_url(server_url: str) -> Iterator[str]:
    """A fresh database for this test run, migrated to head, with the division codes loaded."""
    name = f"gridmap_test_{uuid.uuid4().hex[:8]}"
    create_database(server_url, name)
    url = sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    load_divisions(engine, SAMPLE / "nmg_divisions.csv")
    engine.dispose()
    os.environ["GRIDMAP_TEST_DATABASE_URL"] = url
    yield url
    drop_database(server_url, name)


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def clean(engine: Engine) -> None:
    """Empty every data table (every table of the schema but :data:`KEPT_TABLES`, so a table a
    migration adds is emptied too); keep the division codes but forget community boundaries."""
    with engine.begin() as conn:
        tables = conn.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND NOT tablename = ANY(:keep)"),
            {"keep": list(KEPT_TABLES)},
        ).scalars()
        conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        conn.execute(
            sa.text(
                "UPDATE admin_area SET geom = NULL, geom_hash = NULL WHERE geom IS NOT NULL OR geom_hash IS NOT NULL"
            )
        )


@pytest.fixture
def db(engine: Engine) -> Engine:
    """The test database, emptied of everything but the division codes."""
    clean(engine)
    return engine


@pytest.fixture(scope="session")
def keys() -> PersonKeys:
    return PersonKeys.from_secret(TEST_SECRET)


@pytest.fixture(autouse=True)
def _test_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Person keys come from the test secret, never from a developer's .gridmap/secret.key."""
    from geo import privacy

    monkeypatch.setenv("GRIDMAP_SECRET_KEY", TEST_SECRET)
    privacy.get_person_keys.cache_clear()
