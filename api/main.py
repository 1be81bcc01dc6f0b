"""The FastAPI application: ``create_app(settings)``; the lifespan owns the engines.

Two pools per worker process: ``app.state.reader`` (autocommit) for the hot single reads, tile
misses, the point lookup and grid figures, which need no common snapshot; ``app.state.engine`` for
the rest, one transaction per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import add_exception_handlers
from api.routes import communities, health, maps, me, ogc, pages, plans, queries, sync, tiles
from api.settings import ApiSettings
from geo.db.engine import make_engine
from geo.db.settings import get_db_settings, normalise_url


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the app; tests pass their own settings (e.g. a test database URL)."""
    settings = settings or ApiSettings()
    url = normalise_url(settings.database_url) if settings.database_url else get_db_settings().url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = {"max_overflow": settings.pool_overflow, "pool_timeout": settings.pool_timeout, "pool_recycle": 1800}
        # transactions (writes among them) are not run twice: their connections are pinged on every checkout
        app.state.engine = make_engine(url, pool_size=settings.tx_pool_size, warm=True, **pool)
        app.state.reader = make_engine(
            url, pool_size=settings.pool_size, autocommit=True, warm=True, ping_idle=settings.ping_idle, **pool
        )
        try:
            yield
        finally:
            app.state.engine.dispose()
            app.state.reader.dispose()

    app = FastAPI(
        title=settings.title,
        version="0.1.0",
        lifespan=lifespan,
        description="Community grids (网格), buildings and people for grassroots governance.",
    )
    add_exception_handlers(app)
    app.include_router(tiles.router)  # first: the most requested paths are matched first
    app.include_router(health.router)
    app.include_router(communities.router)
    app.include_router(me.router)
    app.include_router(queries.router)
    app.include_router(plans.router)
    app.include_router(ogc.router)
    app.include_router(maps.router)
    app.include_router(sync.router)
    app.include_router(pages.router)

    return app
