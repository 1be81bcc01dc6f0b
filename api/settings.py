"""Settings of the HTTP service."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """The API's own settings (the database comes from :mod:`geo.db.settings`)."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_API_", env_file=".env", extra="ignore")

    database_url: str | None = None
    #: connections each worker keeps open for the hot single reads (tiles, point lookup, grid
    #: figures), in autocommit ...
    pool_size: int = 16
    #: ... and for everything else (one transaction per request)
    tx_pool_size: int = 8
    #: requests beyond them wait for one (``pool_timeout`` seconds, then 503) rather than open and
    #: close short-lived connections: a new backend costs ~10 ms to start and load PostGIS
    pool_overflow: int = 0
    pool_timeout: float = 10
    #: a pooled single-read connection idle longer than this (seconds) is pinged before use; one
    #: used more recently is trusted, and a read that finds it dead runs again on a fresh connection
    #: (the transactional pool pings on every checkout)
    ping_idle: float = 1.0
    title: str = "GridMap"
