"""Bearer-token authentication and role checks.

Public tiles need no token; anything with people does. ``require_roles("planner", "admin")`` is a
dependency that returns the :class:`geo.db.users.User` or answers 401 (no or bad token) / 403
(wrong role) as problem documents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import EngineDep
from geo.db.users import User, authenticate
from geo.errors import GeoError, PermissionDenied

bearer = HTTPBearer(auto_error=False, description="a token made with `gridmap user add`")


class Unauthenticated(GeoError):
    """No valid bearer token."""

    kind = "unauthenticated"


def current_user(
    engine: EngineDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    request: Request,
) -> User:
    """The caller, from its bearer token."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("this resource needs a bearer token (Authorization: Bearer …)")
    with engine.begin() as conn:
        user = authenticate(conn, credentials.credentials)
    if user is None:
        raise Unauthenticated("the token is unknown or revoked")
    request.state.user = user
    return user


UserDep = Annotated[User, Depends(current_user)]


def require_roles(*roles: str) -> Callable[..., User]:
    """A dependency that lets only ``roles`` through."""

    def check(user: UserDep) -> User:
        if user.role not in roles:
            raise PermissionDenied(f"role {user.role} may not do this (needs {' or '.join(roles)})")
        return user

    return check


def client_of(request: Request) -> str | None:
    """The caller's address, for the audit log."""
    return request.client.host if request.client else None
