"""Domain errors → HTTP problem documents (RFC 9457). Only real 5xx errors are logged."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo.errors import (
    Conflict,
    DatabaseUnavailable,
    GeoError,
    InvalidInput,
    NotFound,
    PermissionDenied,
)

log = logging.getLogger("gridmap.api")

STATUS: dict[type[GeoError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    PermissionDenied: 403,
    DatabaseUnavailable: 503,
}


def problem(
    status: int, title: str, detail: str, kind: str, instance: str | None = None, **extra: object
) -> JSONResponse:
    body: dict[str, object] = {
        "type": f"https://gridmap.example/problems/{kind}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def add_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(GeoError)
    async def _geo(request: Request, exc: GeoError) -> JSONResponse:
        if exc.kind == "unauthenticated":
            resp = problem(401, "Unauthenticated", str(exc), exc.kind, request.url.path)
            resp.headers["WWW-Authenticate"] = "Bearer"
            return resp
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 500)
        if status >= 500 and status != 503:
            log.error("internal error on %s: %s", request.url.path, exc)
        return problem(status, exc.__class__.__name__, str(exc), exc.kind, request.url.path)

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable on %s", request.url.path)
        return problem(
            503,
            "DatabaseUnavailable",
            "the database does not answer; try again shortly",
            "database-unavailable",
            request.url.path,
        )

    @app.exception_handler(DBAPIError)
    async def _db_err(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return problem(
                503,
                "DatabaseUnavailable",
                "the database connection was lost; try again shortly",
                "database-unavailable",
                request.url.path,
            )
        log.error("database error on %s: %s", request.url.path, exc.__class__.__name__)
        return problem(
            500,
            "InternalError",
            "the request failed inside the database",
            "internal",
            request.url.path,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in errors)
        return problem(422, "InvalidParameters", detail, "invalid-input", request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, "HTTPError", str(exc.detail), "http", request.url.path)
