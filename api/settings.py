"""Settings of the HTTP service."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """The API's own settings (the database comes from :mod:`geo.db.settings`)."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_API_", env_file=".env", extra="ignore")

    database_url: str | None = None
    pool_size: int = 8
    title: str = "GridMap"
