"""The public-security (公安) sync over HTTP: batches, the change feed, the review queue, link rates.

* ``POST /sync/batches`` takes a batch file as the raw request body (NDJSON or CSV, UTF-8 or GBK;
  docs/sync-format.md), streamed to disk with a size limit, and answers ``202`` with the batch id
  at once; the batch is applied in a background thread (chunk by chunk, crash-safe).
* ``GET /sync/batches/{id}``: status, progress and, when done, the report.
* ``POST /sync/batches/{id}/resume``: resume a batch whose run was interrupted (server restart).
* ``GET /sync/changes?since=CURSOR``: what grid workers changed, in commit order.
* ``GET /sync/review`` and ``POST /sync/review/{id}/confirm``: the review queue.
* ``GET /sync/link-rate?code=``: 人房关联完善率 of a division (or grid) and its parts.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from api.auth import client_of, require_roles
from api.deps import EngineDep
from geo.db import sync as dbsync
from geo.db.audit import audit
from geo.db.users import User
from geo.errors import Conflict, InvalidInput
from geo.sync import read_header

router = APIRouter(prefix="/sync", tags=["sync"])

SyncJob = Annotated[User, Depends(require_roles("sync", "admin"))]
Reader = Annotated[User, Depends(require_roles("sync", "admin", "planner"))]
Worker = Annotated[User, Depends(require_roles("worker", "admin", "planner"))]
Anyone = Annotated[User, Depends(require_roles("admin", "planner", "worker", "sync", "viewer"))]

#: largest batch accepted (bytes); GRIDMAP_SYNC_MAX_BYTES overrides
MAX_BYTES = int(os.environ.get("GRIDMAP_SYNC_MAX_BYTES", str(4 << 30)))

_running: dict[uuid.UUID, threading.Thread] = {}
_running_lock = threading.Lock()


def spool_dir() -> Path:
    from geo.db.settings import get_db_settings

    d = Path(os.environ.get("GRIDMAP_SYNC_SPOOL") or get_db_settings().home / "sync")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _start(engine: Engine, batch_id: uuid.UUID, path: Path) -> bool:
    """Apply the batch in a background thread (unless this process already is)."""
    with _running_lock:
        t = _running.get(batch_id)
        if t is not None and t.is_alive():
            return False

        def run() -> None:
            try:
                dbsync.push(engine, path)
                path.unlink(missing_ok=True)  # done: the spooled copy is no longer needed
            except Exception:  # the batch row says failed, with the error; the file stays
                pass
            finally:
                with _running_lock:
                    _running.pop(batch_id, None)

        t = threading.Thread(target=run, name=f"sync-{batch_id}", daemon=True)
        _running[batch_id] = t
        t.start()
        return True


@router.post(
    "/batches",
    status_code=202,
    summary="Upload a batch (raw body: NDJSON or CSV); applied in the background",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def upload_batch(request: Request, engine: EngineDep, user: SyncJob) -> JSONResponse:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BYTES:
        raise InvalidInput(f"the batch is larger than the limit of {MAX_BYTES:,} bytes")
    tmp = spool_dir() / f"upload-{uuid.uuid4().hex}.part"
    sha = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as fh:
            async for block in request.stream():
                size += len(block)
                if size > MAX_BYTES:
                    raise InvalidInput(f"the batch is larger than the limit of {MAX_BYTES:,} bytes")
                sha.update(block)
                fh.write(block)
        if size == 0:
            raise InvalidInput("the request body is empty: send the batch file as the body")
        header = read_header(tmp)
        final = spool_dir() / f"{header.batch_id}.{header.format}"
        batch = dbsync.register_batch(
            engine,
            header,
            sha256=sha.hexdigest(),
            size=size,
            path=str(final),
        )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if batch.status == "done":
        tmp.unlink(missing_ok=True)
        started = False
    else:
        if final.exists() and batch.status == "running" and batch.id in _running:
            tmp.unlink(missing_ok=True)
        else:
            os.replace(tmp, final)
        started = _start(engine, batch.id, final)
    with engine.begin() as conn:
        audit(
            conn,
            user,
            "sync.batch.upload",
            f"sync/batches/{batch.id}",
            {"bytes": size, "kind": header.kind, "source": header.source},
            client_of(request),
        )
    return JSONResponse(
        {
            "batch_id": str(batch.id),
            "status": batch.status if not started else "running",
            "status_url": f"/sync/batches/{batch.id}",
            "bytes": size,
        },
        status_code=200 if batch.status == "done" else 202,
    )


@router.get("/batches/{batch_id}", summary="Status, progress and report of a batch")
def get_batch(batch_id: uuid.UUID, engine: EngineDep, user: Reader) -> dict[str, object]:
    report = dbsync.batch_report(engine, batch_id)
    report["processing_here"] = batch_id in _running
    return report


@router.post("/batches/{batch_id}/resume", status_code=202, summary="Resume an interrupted batch")
def resume_batch(batch_id: uuid.UUID, engine: EngineDep, user: SyncJob) -> dict[str, object]:
    report = dbsync.batch_report(engine, batch_id)
    if report["status"] == "done":
        return {"batch_id": str(batch_id), "status": "done"}
    path = dbsync.batch_path(engine, batch_id)
    if path is None or not Path(path).exists():
        raise Conflict(f"batch {batch_id}'s file is gone; upload it again")
    started = _start(engine, batch_id, Path(path))
    return {"batch_id": str(batch_id), "status": "running", "started": started}


@router.get("/changes", summary="What grid workers changed, after a cursor, in commit order")
def get_changes(
    request: Request,
    engine: EngineDep,
    user: SyncJob,
    since: Annotated[int, Query(ge=0, description="the cursor of the previous answer (0: all)")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = dbsync.FEED_LIMIT,
) -> dict[str, object]:
    out = dbsync.changes(engine, since, limit=limit, user=user)
    with engine.begin() as conn:
        audit(
            conn,
            user,
            "sync.changes.read",
            "sync/changes",
            {"since": since, "events": len(out["events"])},  # type: ignore[arg-type]
            client_of(request),
        )
    return out


@router.get("/review", summary="Open review entries in the caller's grids or areas")
def list_review(
    engine: EngineDep,
    user: Worker,
    community: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
    after: Annotated[int, Query(ge=0, description="the last id of the previous page")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, object]:
    rows = dbsync.list_reviews(engine, community=community, after_id=after, limit=limit, user=user)
    return {"reviews": rows, "next": rows[-1]["id"] if len(rows) == limit else None}


class ConfirmRequest(BaseModel):
    dwelling_id: int = Field(..., ge=1, description="the dwelling the person lives in")


@router.post("/review/{review_id}/confirm", summary="Link the person of a review to a dwelling")
def confirm(
    review_id: int, body: ConfirmRequest, request: Request, engine: EngineDep, user: Worker
) -> dict[str, object]:
    return dbsync.confirm_review(engine, review_id, body.dwelling_id, user=user, client=client_of(request))


@router.get("/link-rate", summary="人房关联完善率 of a division or grid and its parts")
def link_rate(
    engine: EngineDep,
    user: Anyone,
    code: Annotated[str, Query(pattern=r"^(\d{12}|\d{15})$", description="division or grid code")],
) -> dict[str, object]:
    return dbsync.link_rates(engine, code)
