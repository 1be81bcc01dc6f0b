"""The audit trail: who read or changed which personal data, when, from where."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.db.users import User


def audit(
    conn: Connection,
    user: User | None,
    action: str,
    resource: str,
    detail: dict[str, object] | None = None,
    client: str | None = None,
) -> None:
    """Append one audit record in the caller's transaction (so it exists exactly when the read did)."""
    conn.execute(
        sa.text(
            "INSERT INTO audit_log (user_id, user_name, role, action, resource, detail, client) "
            "VALUES (:u, :n, :r, :a, :res, CAST(:d AS jsonb), :c)"
        ),
        {
            "u": user.id if user else None,
            "n": user.name if user else None,
            "r": user.role if user else None,
            "a": action,
            "res": resource,
            "d": json.dumps(detail or {}, ensure_ascii=False, default=str),
            "c": client,
        },
    )
