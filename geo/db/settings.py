"""Settings of the database connection and the local PostGIS cluster.

``DATABASE_URL`` (or ``GRIDMAP_DATABASE_URL``) points at an existing server; when it is unset,
GridMap runs its own private cluster under ``<project>/.gridmap/`` on ``GRIDMAP_PG_PORT``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def normalise_url(url: str) -> str:
    """Use the psycopg2 driver whatever scheme the URL was given with."""
    for prefix in (
        "postgres://",
        "postgresql://",
        "postgresql+psycopg://",
        "postgresql+psycopg2://",
    ):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


class DatabaseSettings(BaseSettings):
    """Where the database is, or where the local cluster lives."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", env_file=".env", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    home: Path = PROJECT_ROOT / ".gridmap"
    pg_port: int = 55432
    pg_database: str = "gridmap"
    pg_user: str = "gridmap"

    @field_validator("database_url")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        return normalise_url(v) if v else None

    @property
    def managed(self) -> bool:
        """True when GridMap starts its own cluster (no DATABASE_URL given)."""
        return self.database_url is None

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the database to use."""
        if self.database_url:
            return self.database_url
        return f"postgresql+psycopg2://{self.pg_user}@127.0.0.1:{self.pg_port}/{self.pg_database}"


def _database_url_from_env() -> str | None:
    return os.environ.get("DATABASE_URL") or os.environ.get("GRIDMAP_DATABASE_URL")


@lru_cache
def get_db_settings() -> DatabaseSettings:
    """The process-wide database settings (tests build their own instead)."""
    url = _database_url_from_env()
    return DatabaseSettings(DATABASE_URL=url) if url else DatabaseSettings()
