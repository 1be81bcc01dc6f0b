from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from geo.db.users import add_user
from tests.utils.street import STREET, load_street


@pytest.fixture
def client(db, db_url: str):
    """A client of the real app (lifespan run) on the test database, emptied before the test."""
    with TestClient(create_app(ApiSettings(database_url=db_url))) as c:
        yield c


@pytest.fixture(scope="module")
def world(engine, db_url, keys):
    load_street(engine, keys)
    with engine.connect() as conn:
        grid_a, grid_b = (
            conn.execute(
                sa.text(
                    "SELECT g.code FROM grid g JOIN grid_plan p ON p.id = g.plan_id AND p.status = 'active' "
                    "WHERE g.community_code = '150102003001' ORDER BY g.code LIMIT 2"
                )
            )
            .scalars()
            .all()
        )
    tokens = {
        "admin": add_user(engine, "admin", "admin")[1],
        "planner": add_user(engine, "planner", "planner", [STREET])[1],
        "other_planner": add_user(engine, "other", "planner", ["150102004000"])[1],
        "worker": add_user(engine, "worker", "worker", [grid_a])[1],
        "viewer": add_user(engine, "viewer", "viewer", [STREET])[1],
        "sync": add_user(engine, "sync", "sync")[1],
    }
    with TestClient(create_app(ApiSettings(database_url=db_url))) as client:
        yield {"client": client, "engine": engine, "tokens": tokens, "grid_a": grid_a, "grid_b": grid_b}


def h(world, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world['tokens'][role]}"}
