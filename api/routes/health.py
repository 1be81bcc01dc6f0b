"""Liveness and database readiness."""

from __future__ import annotations

import time

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import EngineDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Service and database status")
def health(engine: EngineDep) -> JSONResponse:
    """Answers 200 when the database answers, 503 (with the same body shape) when it does not."""
    t0 = time.perf_counter()
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text("SELECT postgis_lib_version()")).scalar()
            revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        db = {
            "ok": True,
            "postgis": version,
            "schema": revision,
            "ms": round((time.perf_counter() - t0) * 1000, 1),
        }
        return JSONResponse({"status": "ok", "database": db})
    except sa.exc.SQLAlchemyError as exc:
        kind = exc.__class__.__name__
        return JSONResponse({"status": "degraded", "database": {"ok": False, "error": kind}}, status_code=503)
