from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from geo.db.users import add_user, revoke
from geo.errors import Conflict, InvalidInput


def test_token_grants_access_and_only_its_hash_is_stored(client, db) -> None:
    _uid, token = add_user(db, "王网格", "worker", ["150102003001001"])
    assert client.get("/me").status_code == 401
    assert client.get("/me").headers["www-authenticate"] == "Bearer"
    assert client.get("/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    r = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.json() == {"name": "王网格", "role": "worker", "scopes": ["150102003001001"]}
    with db.connect() as conn:
        dump = conn.execute(sa.text("SELECT string_agg(t::text, '') FROM api_token t")).scalar_one()
    assert token not in dump and token[3:] not in dump
    revoke(db, "王网格")
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_user_rules(db) -> None:
    with pytest.raises(InvalidInput, match="unknown role"):
        add_user(db, "x", "superuser")
    with pytest.raises(InvalidInput, match="15-digit grid code"):
        add_user(db, "w", "worker", ["150102003001"])
    with pytest.raises(InvalidInput, match="at least one"):
        add_user(db, "w", "worker", [])
    add_user(db, "p", "planner", ["150102003000"])
    with pytest.raises(Conflict, match="already exists"):
        add_user(db, "p", "planner", ["150102003000"])


def test_cli_prints_the_token_once(db, db_url) -> None:
    env = {**os.environ, "DATABASE_URL": db_url}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "geo.cli",
            "user",
            "add",
            "规划员",
            "--role",
            "planner",
            "--scope",
            "150102003000",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    assert token.startswith("gm_") and len(token) > 40
    listed = subprocess.run(
        [sys.executable, "-m", "geo.cli", "user", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "规划员" in listed.stdout and token not in listed.stdout
