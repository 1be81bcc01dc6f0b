"""Migrations upgrade and downgrade on an empty database (no PostGIS extension yet)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from geo.db import migrate
from geo.db.cluster import drop_database
from geo.db.engine import make_engine


@pytest.fixture
def empty_db(server_url: str):
    name = f"gridmap_empty_{uuid.uuid4().hex[:8]}"
    admin = make_engine(server_url, database="postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = make_engine(server_url, database=name)
    yield engine
    engine.dispose()
    drop_database(server_url, name)


def tables(engine) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys'"
                )
            ).scalars()
        )


def test_upgrade_downgrade_upgrade_on_an_empty_database(empty_db) -> None:
    assert migrate.current(empty_db) is None
    migrate.upgrade(empty_db)
    assert migrate.current(empty_db) == "0001" or migrate.current(empty_db) is not None
    with empty_db.connect() as conn:
        assert conn.execute(sa.text("SELECT extname FROM pg_extension WHERE extname = 'postgis'")).scalar() == "postgis"
    created = tables(empty_db)
    assert {
        "admin_area",
        "compound",
        "building",
        "dwelling",
        "person",
        "grid_plan",
        "grid",
        "grid_assignment",
        "grid_worker",
        "app_user",
        "api_token",
        "audit_log",
        "sync_batch",
        "sync_reject",
    } <= created
    migrate.downgrade(empty_db, "base")
    assert tables(empty_db) == {"alembic_version"}
    assert migrate.current(empty_db) is None
    migrate.upgrade(empty_db)
    assert tables(empty_db) == created


def test_the_api_on_a_database_not_migrated_yet_says_so_then_serves(empty_db) -> None:
    """The API's connections are warmed for PostGIS when they open; without PostGIS (a database
    not migrated yet) they still open, /health says the database is not ready, and once it is
    migrated the same app serves (no restart)."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import ApiSettings

    url = empty_db.url.render_as_string(hide_password=False)
    with TestClient(create_app(ApiSettings(database_url=url))) as client:
        r = client.get("/health")
        assert r.status_code == 503 and r.json()["database"]["ok"] is False, r.json()
        assert client.app.state.engine.pool.checkedin() == 1  # the connection opened and was kept
        migrate.upgrade(empty_db)
        r = client.get("/health")
        assert r.status_code == 200 and r.json()["database"]["schema"] == migrate.current(empty_db)


def test_constraints_hold(db) -> None:
    with db.connect() as conn:
        with pytest.raises(sa.exc.IntegrityError, match="code"):
            conn.execute(
                sa.text(
                    "INSERT INTO admin_area (code, name, level, parent_code) "
                    "VALUES ('15010200300A', 'x', 'village', '150102003000')"
                )
            )
        conn.rollback()
        conn.execute(
            sa.text(
                "UPDATE admin_area SET geom = ST_Multi(ST_MakeEnvelope(111, 40, 112, 41, 4490)) "
                "WHERE code = '150102003001'"
            )
        )
        building = (
            "INSERT INTO building (ext_id, community_code, floors, geom, geom_hash) VALUES "
            "('b1', '150102003001', :floors, ST_Multi(ST_MakeEnvelope(:x, 40.5, :x + 0.0001, 40.5001, 4490)), 'h')"
        )
        with pytest.raises(sa.exc.IntegrityError, match="floors"):
            conn.execute(sa.text(building), {"floors": 0, "x": 111.5})
        conn.rollback()
        with pytest.raises(sa.exc.IntegrityError, match="outside community"):
            conn.execute(
                sa.text(
                    "UPDATE admin_area SET geom = ST_Multi(ST_MakeEnvelope(111, 40, 112, 41, 4490)) "
                    "WHERE code = '150102003001'"
                )
            )
            conn.execute(sa.text(building), {"floors": 3, "x": 113.0})
        conn.rollback()
        with pytest.raises(sa.exc.IntegrityError, match="grid_code_in_community"):
            conn.execute(sa.text("INSERT INTO grid_plan (community_code) VALUES ('150102003001')"))
            conn.execute(
                sa.text(
                    "INSERT INTO grid (plan_id, code, community_code) "
                    "SELECT id, '150102003002001', '150102003001' FROM grid_plan"
                )
            )
        conn.rollback()
