"""Who the caller is."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import UserDep

router = APIRouter(tags=["auth"])


@router.get("/me", summary="The authenticated user, its role and scopes")
def me(user: UserDep) -> dict[str, object]:
    return {"name": user.name, "role": user.role, "scopes": list(user.scopes)}
