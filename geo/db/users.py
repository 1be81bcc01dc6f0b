"""Users, roles and bearer tokens. A token is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geo.errors import Conflict, InvalidInput, NotFound

ROLES = ("admin", "planner", "worker", "sync", "viewer")
#: roles that may read personal data at all (viewers see masked names only; sync sees what it sent)
PERSONAL_DATA_ROLES = ("admin", "planner", "worker", "sync", "viewer")
#: roles that may see full ID numbers (the public-security job matches on them; admins audit)
FULL_ID_ROLES = ("admin", "sync")
TOKEN_PREFIX = "gm_"


@dataclass(frozen=True)
class User:
    """An authenticated caller."""

    id: int
    name: str
    role: str
    scopes: tuple[str, ...]

    @property
    def unrestricted(self) -> bool:
        """Admins and the sync job see the whole city; others only their scopes."""
        return self.role in ("admin", "sync")


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _check_scopes(role: str, scopes: list[str]) -> None:
    for s in scopes:
        if role == "worker" and not re.fullmatch(r"\d{15}", s):
            raise InvalidInput(f"a worker's scope is a 15-digit grid code, not {s!r}")
        if role in ("planner", "viewer") and not re.fullmatch(r"\d{12}|\d{15}", s):
            raise InvalidInput(f"a {role}'s scope is a 12-digit division code (street or community), not {s!r}")
    if role == "worker" and not scopes:
        raise InvalidInput("a worker needs at least one --scope GRID_CODE")


def add_user(
    engine: Engine, name: str, role: str, scopes: list[str] | None = None, label: str | None = None
) -> tuple[int, str]:
    """Create a user with one token; returns (user id, token). The token is not stored."""
    scopes = list(scopes or [])
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    _check_scopes(role, scopes)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        try:
            uid = conn.execute(
                sa.text("INSERT INTO app_user (name, role, scopes) VALUES (:n, :r, :s) RETURNING id"),
                {"n": name, "r": role, "s": scopes},
            ).scalar_one()
        except sa.exc.IntegrityError:
            raise Conflict(f"user {name!r} already exists") from None
        conn.execute(
            sa.text("INSERT INTO api_token (user_id, token_hash, label) VALUES (:u, :h, :l)"),
            {"u": uid, "h": token_hash(token), "l": label},
        )
    return int(uid), token


def new_token(engine: Engine, name: str) -> str:
    """Issue another token for an existing user."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        uid = conn.execute(sa.text("SELECT id FROM app_user WHERE name = :n"), {"n": name}).scalar()
        if uid is None:
            raise NotFound(f"no user {name!r}")
        conn.execute(
            sa.text("INSERT INTO api_token (user_id, token_hash) VALUES (:u, :h)"),
            {"u": uid, "h": token_hash(token)},
        )
    return token


def revoke(engine: Engine, name: str) -> int:
    """Revoke every token of a user; returns how many."""
    with engine.begin() as conn:
        return conn.execute(
            sa.text(
                "UPDATE api_token t SET revoked_at = now() FROM app_user u "
                "WHERE u.id = t.user_id AND u.name = :n AND t.revoked_at IS NULL"
            ),
            {"n": name},
        ).rowcount


def authenticate(conn: Connection, token: str) -> User | None:
    """The user a token belongs to, or None when it is unknown, revoked or its user disabled."""
    row = conn.execute(
        sa.text(
            "UPDATE api_token t SET last_used_at = now() FROM app_user u "
            "WHERE t.token_hash = :h AND t.revoked_at IS NULL AND u.id = t.user_id AND u.disabled_at IS NULL "
            "RETURNING u.id, u.name, u.role, u.scopes"
        ),
        {"h": token_hash(token)},
    ).first()
    if row is None:
        return None
    return User(int(row.id), row.name, row.role, tuple(row.scopes or ()))


def list_users(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(
                sa.text(
                    "SELECT u.name, u.role, u.scopes, u.created_at, u.disabled_at, "
                    "count(t.id) FILTER (WHERE t.revoked_at IS NULL) AS tokens "
                    "FROM app_user u LEFT JOIN api_token t ON t.user_id = u.id GROUP BY u.id ORDER BY u.name"
                )
            )
        ]
