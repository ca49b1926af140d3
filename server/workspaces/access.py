"""Roles and the checks every workspace-scoped write goes through."""

from __future__ import annotations

from psycopg import AsyncConnection

from server.errors import NotFound, PermissionDenied

ROLES = ("owner", "admin", "member", "viewer")
WRITERS = frozenset({"owner", "admin"})


async def role_in(conn: AsyncConnection, workspace_id: str, user_id: str) -> str | None:
    cur = await conn.execute(
        "SELECT role FROM workspace_members WHERE workspace_id = %s AND user_id = %s", (workspace_id, user_id)
    )
    row = await cur.fetchone()
    return row["role"] if row else None


async def require_member(conn: AsyncConnection, workspace_id: str, user_id: str) -> str:
    """The caller's role; NOT_FOUND for a non-member, so workspace ids cannot be probed."""
    role = await role_in(conn, workspace_id, user_id)
    if role is None:
        raise NotFound(f"workspace {workspace_id} not found")
    return role


def require_writer(role: str, action: str) -> None:
    if role not in WRITERS:
        raise PermissionDenied(f"only owners and admins may {action} (your role: {role})")
