"""Who may see which people: role- and scope-based access, masking, and the audit of reads.

* admin and sync: the whole city; admin sees full ID numbers (decrypted), sync too.
* planner, viewer: the streets/communities in their scopes (division codes); viewers see masked names.
* worker: the grids in their scopes (15-digit grid codes, active plan); for a split tower, only the
  dwellings of their part.
Asking for something outside one's scope is a :class:`PermissionDenied` (403), never an empty answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo import ids
from geo.db.copy import sql
from geo.db.users import FULL_ID_ROLES, User
from geo.errors import NotFound, PermissionDenied

PEOPLE_ROLES = ("admin", "planner", "worker", "viewer")
PREFIX_LEN = {"province": 2, "city": 4, "county": 6, "town": 9, "village": 12}


@dataclass(frozen=True)
class Scope:
    """What a user may see: everything, some admin-code prefixes, or some grid codes."""

    everything: bool
    prefixes: tuple[str, ...] = ()
    grids: tuple[str, ...] = ()

    def covers_community(self, code: str) -> bool:
        return self.everything or any(code.startswith(p) for p in self.prefixes)

    def covers_grid(self, grid_code: str) -> bool:
        return self.everything or grid_code in self.grids or self.covers_community(grid_code[:12])


def scope_of(conn: Connection, user: User) -> Scope:
    """The user's scope, with division codes turned into significant prefixes."""
    if user.unrestricted:
        return Scope(True)
    if user.role == "worker":
        return Scope(False, grids=tuple(user.scopes))
    codes = [s for s in user.scopes if len(s) == 12]
    levels = (
        dict(conn.execute(sa.text("SELECT code, level FROM admin_area WHERE code = ANY(:c)"), {"c": codes}).all())
        if codes
        else {}
    )
    prefixes = tuple(c[: PREFIX_LEN[levels[c]]] for c in codes if c in levels)
    return Scope(False, prefixes=prefixes, grids=tuple(s for s in user.scopes if len(s) == 15))


def require_people_role(user: User) -> None:
    if user.role not in PEOPLE_ROLES:
        raise PermissionDenied(f"role {user.role} may not read residents' data")


def building_parts(conn: Connection, user: User, building: str) -> list[str] | None:
    """The parts of ``building`` the user may see (None: all of it); 404 unknown, 403 outside scope."""
    rows = conn.execute(sa.text(sql("q_building_access")), {"building": building}).all()
    if not rows:
        raise NotFound(f"no building {building}")
    scope = scope_of(conn, user)
    if scope.covers_community(rows[0].community_code):
        return None
    parts = [r.part for r in rows if r.grid_code is not None and r.grid_code in scope.grids]
    if not parts:
        raise PermissionDenied(f"building {building} is outside your grids")
    return None if "" in parts else parts


def present_person(row: Any, user: User, keys: Any = None) -> dict[str, Any]:
    """A resident as the user may see them: names masked for viewers, ID masked unless the role may
    see it, phone masked except for admins and the resident's own grid worker."""
    name = row.person_name if user.role != "viewer" else ids.mask_name(row.person_name)
    out = {
        "name": name,
        "sex": row.sex,
        "birth_year": row.birth_date.year if row.birth_date else None,
        "relation": row.relation,
        "residence_type": row.residence_type,
        "care_tags": list(row.care_tags or []),
        "id_number": row.id_masked,
        "phone": ids.mask_phone(row.phone) if row.phone and user.role == "viewer" else row.phone,
    }
    if user.role in FULL_ID_ROLES and keys is not None:
        out["id_number"] = keys.decrypt(row.id_cipher)
    return out
