"""Invitations to join a workspace: their SQL and message (migration 0013).

An invitation names its invitee as the inviter did (a lower-cased email or a user id) and is matched against the
caller's account only when the invitee lists, accepts or declines: inviting an address does the same work and
gets the same answer whether or not it belongs to an account.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from astra.v1 import workspaces_pb2
from server.ids import new_id
from server.timestamps import to_timestamp

TTL = "7 days"  # how long an invitation (or its latest refresh) can be accepted

_COLUMNS = (
    "i.id, i.workspace_id, i.role, i.created_at, i.expires_at, i.invitee_email, i.invitee_user_id,"
    " CASE WHEN i.status = 'pending' AND i.expires_at <= now() THEN 'expired' ELSE i.status END AS status"
)
# The caller's account matches an invitation by its id or by its email.
_ADDRESSED_TO = (
    "(i.invitee_user_id = %(user)s OR i.invitee_email = (SELECT lower(email) FROM users WHERE id = %(user)s))"
)


def message(row: dict[str, Any], *, invitee: bool = False, workspace_name: bool = False) -> workspaces_pb2.Invitation:
    """The invitation; `invitee` adds whom it is for (the workspace's list), `workspace_name` the workspace's name
    (the invitee's list). Neither is in the answer to an invite, which must not differ between invitees."""
    invitation = workspaces_pb2.Invitation(
        id=row["id"],
        workspace_id=row["workspace_id"],
        role=row["role"],
        status=row["status"],
        created_at=to_timestamp(row["created_at"]),
        expires_at=to_timestamp(row["expires_at"]),
    )
    if invitee and row["invitee_email"] is not None:
        invitation.email = row["invitee_email"]
    elif invitee:
        invitation.user_id = row["invitee_user_id"]
    if workspace_name:
        invitation.workspace_name = row["workspace_name"]
    return invitation


async def upsert(
    conn: AsyncConnection,
    workspace_id: str,
    email: str | None,
    user_id: str | None,
    role: str,
    invited_by: str,
    may_change_owner: bool,
) -> dict[str, Any] | None:
    """Sends the invitation, or sends the pending one again (same id, new role, inviter and expiry). None when the
    pending one is an owner's invitation and the caller may not change it."""
    cur = await conn.execute(
        "INSERT INTO workspace_invitations AS i (id, workspace_id, invitee_email, invitee_user_id, role, invited_by,"
        " expires_at) VALUES (%(id)s, %(ws)s, %(email)s, %(user)s, %(role)s, %(by)s, now() + %(ttl)s::interval)"
        " ON CONFLICT (workspace_id, (coalesce(invitee_email, invitee_user_id))) WHERE status = 'pending'"
        " DO UPDATE SET role = EXCLUDED.role, invited_by = EXCLUDED.invited_by, created_at = now(),"
        "     expires_at = EXCLUDED.expires_at"
        "   WHERE i.role <> 'owner' OR %(owner)s"
        f" RETURNING {_COLUMNS}",
        {
            "id": new_id("inv"),
            "ws": workspace_id,
            "email": email,
            "user": user_id,
            "role": role,
            "by": invited_by,
            "ttl": TTL,
            "owner": may_change_owner,
        },
    )
    return await cur.fetchone()


async def of_workspace(
    conn: AsyncConnection, workspace_id: str, after: tuple[str, str] | None, limit: int
) -> list[dict[str, Any]]:
    """The workspace's pending invitations (expired ones too), oldest first, keyset-paged on (created_at, id)."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM workspace_invitations i WHERE i.workspace_id = %(ws)s AND i.status = 'pending'"
        " AND (%(t)s::timestamptz IS NULL OR (i.created_at, i.id) > (%(t)s::timestamptz, %(id)s))"
        " ORDER BY i.created_at, i.id LIMIT %(limit)s",
        {"ws": workspace_id, "t": after[0] if after else None, "id": after[1] if after else None, "limit": limit},
    )
    return await cur.fetchall()


async def of_user(
    conn: AsyncConnection, user_id: str, after: tuple[str, str] | None, limit: int
) -> list[dict[str, Any]]:
    """The user's pending, unexpired invitations to workspaces they are not in yet, with each workspace's name."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS}, w.name AS workspace_name FROM workspace_invitations i"
        " JOIN workspaces w ON w.id = i.workspace_id"
        f" WHERE i.status = 'pending' AND i.expires_at > now() AND {_ADDRESSED_TO}"
        " AND NOT EXISTS (SELECT 1 FROM workspace_members m WHERE m.workspace_id = i.workspace_id"
        "                 AND m.user_id = %(user)s)"
        " AND (%(t)s::timestamptz IS NULL OR (i.created_at, i.id) > (%(t)s::timestamptz, %(id)s))"
        " ORDER BY i.created_at, i.id LIMIT %(limit)s",
        {"user": user_id, "t": after[0] if after else None, "id": after[1] if after else None, "limit": limit},
    )
    return await cur.fetchall()


async def lock_addressed(conn: AsyncConnection, invitation_id: str, user_id: str) -> dict[str, Any] | None:
    """The invitation, locked, if it is addressed to the user; None otherwise (whether or not it exists)."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS}, i.invited_by FROM workspace_invitations i WHERE i.id = %(inv)s AND {_ADDRESSED_TO}"
        " FOR UPDATE OF i",
        {"inv": invitation_id, "user": user_id},
    )
    return await cur.fetchone()


async def lock_pending(conn: AsyncConnection, workspace_id: str, invitation_id: str) -> dict[str, Any] | None:
    """The workspace's pending invitation (expired or not), locked; None when there is none by that id."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM workspace_invitations i"
        " WHERE i.id = %(inv)s AND i.workspace_id = %(ws)s AND i.status = 'pending' FOR UPDATE OF i",
        {"inv": invitation_id, "ws": workspace_id},
    )
    return await cur.fetchone()


async def close(conn: AsyncConnection, invitation_id: str, status: str) -> None:
    """Marks an invitation accepted, declined or revoked; it leaves every pending list."""
    await conn.execute(
        "UPDATE workspace_invitations SET status = %s, responded_at = now() WHERE id = %s", (status, invitation_id)
    )


async def join(conn: AsyncConnection, workspace_id: str, user_id: str, role: str) -> bool:
    """Adds the member with the invitation's role; False (and no change) when they already are one."""
    cur = await conn.execute(
        "INSERT INTO workspace_members (workspace_id, user_id, role) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        (workspace_id, user_id, role),
    )
    return cur.rowcount > 0
