from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings


@pytest.fixture
def client(db, db_url: str):
    """A client of the real app (lifespan run) on the test database, emptied before the test."""
    with TestClient(create_app(ApiSettings(database_url=db_url))) as c:
        yield c
