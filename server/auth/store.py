"""SQL of the auth domain: users, their personal workspace, refresh-token families, revocation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection

from server.errors import AlreadyExists
from server.ids import new_id


async def create_user(conn: AsyncConnection, email: str, password_hash: str, display_name: str) -> dict[str, Any]:
    """Inserts the user, their personal workspace and the owner membership; call inside a transaction."""
    user_id, workspace_id = new_id("usr"), new_id("ws")
    try:
        cur = await conn.execute(
            "INSERT INTO users (id, email, password_hash, display_name) VALUES (%s, %s, %s, %s)"
            " RETURNING id, email, display_name, created_at",
            (user_id, email, password_hash, display_name),
        )
    except psycopg.errors.UniqueViolation:
        raise AlreadyExists("an account with this email already exists") from None
    user = await cur.fetchone()
    name = f"{display_name or email.split('@')[0]}'s workspace"
    await conn.execute(
        "INSERT INTO workspaces (id, name, personal, created_by) VALUES (%s, %s, true, %s)",
        (workspace_id, name, user_id),
    )
    await conn.execute(
        "INSERT INTO workspace_members (workspace_id, user_id, role) VALUES (%s, %s, 'owner')",
        (workspace_id, user_id),
    )
    await conn.execute("UPDATE users SET personal_workspace_id = %s WHERE id = %s", (workspace_id, user_id))
    assert user is not None
    user["workspace_id"] = workspace_id
    return user


async def user_by_email(conn: AsyncConnection, email: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT id, email, display_name, created_at, password_hash FROM users WHERE lower(email) = lower(%s)",
        (email,),
    )
    return await cur.fetchone()


async def membership(conn: AsyncConnection, user_id: str, workspace_id: str | None) -> dict[str, Any] | None:
    """The user's revocation instant, the token families revoked for reuse whose access tokens may still be live,
    and their role in the workspace (personal one when None)."""
    cur = await conn.execute(
        "SELECT u.tokens_valid_after, m.workspace_id, m.role,"
        " ARRAY(SELECT f.family_id FROM revoked_families f WHERE f.user_id = u.id AND f.expires_at > now())"
        "  AS revoked_families"
        " FROM users u"
        " LEFT JOIN workspace_members m ON m.user_id = u.id"
        "  AND m.workspace_id = COALESCE(%s, u.personal_workspace_id)"
        " WHERE u.id = %s",
        (workspace_id, user_id),
    )
    return await cur.fetchone()


async def insert_refresh_token(
    conn: AsyncConnection, user_id: str, family_id: str, token_hash: str, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at) VALUES (%s, %s, %s, %s, %s)",
        (new_id("rtk"), user_id, family_id, token_hash, expires_at),
    )


async def lock_refresh_token(conn: AsyncConnection, token_hash: str) -> dict[str, Any] | None:
    """The token row, locked so two concurrent refreshes of one token serialise (the second is a reuse)."""
    cur = await conn.execute(
        "SELECT id, user_id, family_id, expires_at, rotated_at, revoked_at, expires_at < now() AS expired"
        " FROM refresh_tokens WHERE token_hash = %s FOR UPDATE",
        (token_hash,),
    )
    return await cur.fetchone()


async def mark_rotated(conn: AsyncConnection, token_id: str) -> None:
    await conn.execute("UPDATE refresh_tokens SET rotated_at = now() WHERE id = %s", (token_id,))


async def revoke_family(conn: AsyncConnection, user_id: str, family_id: str, access_ttl_s: int) -> None:
    """Revokes the family's refresh tokens and, until the last of them has expired, the access tokens issued with
    it; call inside a transaction. The row's insert tells every replica (migration 0012)."""
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = %s AND revoked_at IS NULL",
        (family_id,),
    )
    await conn.execute("DELETE FROM revoked_families WHERE user_id = %s AND expires_at <= now()", (user_id,))
    # A minute beyond the access token lifetime covers clock skew between the gateway that signed and Postgres.
    await conn.execute(
        "INSERT INTO revoked_families (family_id, user_id, expires_at)"
        " VALUES (%s, %s, now() + make_interval(secs => %s)) ON CONFLICT (family_id) DO NOTHING",
        (family_id, user_id, access_ttl_s + 60),
    )


async def revoke_user(conn: AsyncConnection, user_id: str, now_epoch: float) -> int:
    """Revokes every live refresh token and every access token issued before now_epoch."""
    await conn.execute("UPDATE users SET tokens_valid_after = %s WHERE id = %s", (now_epoch, user_id))
    cur = await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now()"
        " WHERE user_id = %s AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > now()",
        (user_id,),
    )
    return cur.rowcount
