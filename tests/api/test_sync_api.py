"""The sync over HTTP: upload a batch, follow it, work the review queue, read the change feed."""

from __future__ import annotations

import time
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.main import create_app
from api.routes import sync as sync_routes
from api.settings import ApiSettings
from geo import sync
from geo.db.imports import import_paths
from geo.db.people import import_dwellings
from geo.db.users import add_user
from tests.conftest import SAMPLE
from tests.db.test_sync import LAYERS, SYNC_TABLES, make_active_plan, record

COMMUNITY = "150102003004"  # 团结社区: small, one compound


@pytest.fixture(scope="module")
def street(engine):
    from tests.conftest import clean

    clean(engine)
    import_paths(engine, LAYERS)
    import_dwellings(engine, SAMPLE / "dwellings.csv")
    return engine


@pytest.fixture
def client(street, db_url, tmp_path, monkeypatch):
    with street.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {SYNC_TABLES} RESTART IDENTITY CASCADE"))
    monkeypatch.setenv("GRIDMAP_SYNC_SPOOL", str(tmp_path / "spool"))
    app = create_app(ApiSettings(database_url=db_url))
    if not any(getattr(r, "path", "") == "/sync/batches" for r in app.routes):
        app.include_router(sync_routes.router)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def tokens(street) -> dict[str, str]:
    codes = make_active_plan(street, COMMUNITY)
    out = {}
    for name, role, scopes in [
        ("gaj", "sync", []),
        ("viewer", "viewer", ["150102003000"]),
        ("w1", "worker", [codes[0]]),
        ("w2", "worker", [codes[1]]),
        ("admin", "admin", []),
    ]:
        out[name] = add_user(street, name, role, scopes)[1]
    return out


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def residents(n: int | None = None) -> list[dict]:
    persons = pd.read_csv(SAMPLE / "persons.csv", dtype=str, keep_default_na=False)
    rows = persons[persons["address"].str.contains("团结社区")]
    return [record(r) for r in rows.head(n).to_dict("records")] if n else [record(r) for r in rows.to_dict("records")]


def batch_bytes(tmp_path, records, **kw) -> tuple[str, bytes]:
    bid = kw.pop("batch_id", None) or uuid.uuid4()
    path = sync.write_batch(tmp_path / f"{uuid.uuid4().hex}.ndjson", records, batch_id=bid, **kw)
    return str(bid), path.read_bytes()


def wait_done(client, token: str, batch_id: str, timeout: float = 120) -> dict:
    t0 = time.time()
    while time.time() - t0 < timeout:
        r = client.get(f"/sync/batches/{batch_id}", headers=auth(token))
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("done", "failed"):
            return r.json()
        time.sleep(0.2)
    raise AssertionError("the batch did not finish")


def test_upload_follow_and_resend(client, tokens, tmp_path) -> None:
    recs = residents()
    # the missing unit of one resident sends them to the review queue
    recs[0] = dict(recs[0], address=recs[0]["address"].replace("2单元", "").replace("1单元", ""))
    bid, body = batch_bytes(tmp_path, recs)
    assert client.post("/sync/batches", content=body).status_code == 401
    assert client.post("/sync/batches", content=body, headers=auth(tokens["viewer"])).status_code == 403
    r = client.post(
        "/sync/batches", content=body, headers={**auth(tokens["gaj"]), "Content-Type": "application/x-ndjson"}
    )
    assert r.status_code == 202, r.text
    assert r.json()["batch_id"] == bid and r.json()["status_url"] == f"/sync/batches/{bid}"
    rep = wait_done(client, tokens["gaj"], bid)
    assert rep["status"] == "done", rep.get("error")
    assert rep["received"] == len(recs) == rep["accepted"] + rep["rejected"] + rep["unchanged"]
    assert rep["link_rate"]["communities"][0]["code"] == COMMUNITY
    assert {g["code"][:12] for g in rep["link_rate"]["grids"]} == {COMMUNITY}
    # the same batch again: already done
    r = client.post("/sync/batches", content=body, headers=auth(tokens["gaj"]))
    assert (r.status_code, r.json()["status"]) == (200, "done")
    # the same id with other content
    _, other = batch_bytes(tmp_path, recs[1:], batch_id=bid)
    r = client.post("/sync/batches", content=other, headers=auth(tokens["gaj"]))
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    # the spooled file is gone once the batch is done
    assert not list((tmp_path / "spool").glob(f"{bid}.*"))


def test_bad_uploads_are_problems(client, tokens, tmp_path, monkeypatch) -> None:
    h = auth(tokens["gaj"])
    r = client.post("/sync/batches", content=b"", headers=h)
    assert r.status_code == 422 and "empty" in r.json()["detail"]
    r = client.post("/sync/batches", content=b'{"batch": {"kind": "weekly"}}\n', headers=h)
    assert r.status_code == 422 and "batch_id" in r.json()["detail"]
    monkeypatch.setattr(sync_routes, "MAX_BYTES", 1000)
    _, body = batch_bytes(tmp_path, residents(20))
    r = client.post("/sync/batches", content=body, headers=h)
    assert r.status_code == 422 and "limit" in r.json()["detail"]
    assert not list((tmp_path / "spool").glob("upload-*"))
    assert client.get(f"/sync/batches/{uuid.uuid4()}", headers=h).status_code == 404


def test_review_confirm_and_change_feed(client, tokens, tmp_path, street) -> None:
    rec = next(r for r in residents() if "2单元" in r["address"])
    rec = dict(rec, address=rec["address"].replace("2单元", ""))
    bid, body = batch_bytes(tmp_path, [rec])
    assert client.post("/sync/batches", content=body, headers=auth(tokens["gaj"])).status_code == 202
    assert wait_done(client, tokens["gaj"], bid)["review_open"] == 1
    seen = {w: client.get("/sync/review", headers=auth(tokens[w])).json()["reviews"] for w in ("w1", "w2")}
    mine = "w1" if seen["w1"] else "w2"
    other = "w2" if mine == "w1" else "w1"
    assert seen[other] == [] and len(seen[mine]) == 1
    rv = seen[mine][0]
    assert "*" in rv["person"]["id_masked"] and rv["candidates"]
    target = rv["candidates"][0]["dwelling_id"]
    url = f"/sync/review/{rv['id']}/confirm"
    assert client.post(url, json={"dwelling_id": target}, headers=auth(tokens[other])).status_code == 403
    assert client.post(url, json={"dwelling_id": target}, headers=auth(tokens["gaj"])).status_code == 403
    assert client.post(url, json={"dwelling_id": 0}, headers=auth(tokens[mine])).status_code == 422
    r = client.post(url, json={"dwelling_id": target}, headers=auth(tokens[mine]))
    assert r.status_code == 200, r.text
    assert client.post(url, json={"dwelling_id": target}, headers=auth(tokens[mine])).status_code == 409

    assert client.get("/sync/changes", headers=auth(tokens[mine])).status_code == 403
    feed = client.get("/sync/changes?since=0", headers=auth(tokens["gaj"])).json()
    (ev,) = feed["events"]
    assert ev["kind"] == "match_confirmed" and ev["id_number"] == rec["id_number"]
    assert ev["dwelling"]["id"] == target
    again = client.get(f"/sync/changes?since={feed['cursor']}", headers=auth(tokens["gaj"])).json()
    assert again["events"] == [] and again["cursor"] == feed["cursor"]
    with street.connect() as conn:
        actions = set(conn.execute(sa.text("SELECT action FROM audit_log")).scalars())
    assert {"sync.batch.upload", "sync.review.confirm", "sync.changes.read"} <= actions


def test_link_rate(client, tokens, tmp_path) -> None:
    bid, body = batch_bytes(tmp_path, residents(50))
    client.post("/sync/batches", content=body, headers=auth(tokens["gaj"]))
    wait_done(client, tokens["gaj"], bid)
    r = client.get(f"/sync/link-rate?code={COMMUNITY}", headers=auth(tokens["viewer"]))
    assert r.status_code == 200
    body = r.json()
    assert body["level"] == "village" and body["persons"] == 50 and 0.9 <= body["rate"] <= 1.0
    assert sum(p["persons"] for p in body["parts"]) <= 50
    r = client.get("/sync/link-rate?code=150102003000", headers=auth(tokens["viewer"]))
    assert r.json()["parts"][0]["code"] == COMMUNITY
    assert client.get("/sync/link-rate?code=1501", headers=auth(tokens["viewer"])).status_code == 422
    assert client.get("/sync/link-rate?code=150102003004", headers={}).status_code == 401
