"""SQL of personal API keys: the rows (api_keys, migration 0015), their use, and the spend a budget is held to."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from server.ids import new_id

# What lists and the create answer show; never the hash.
_COLUMNS = (
    "id, user_id, workspace_id, name, prefix, max_requests_per_minute, max_cost_usd, created_at, expires_at,"
    " revoked_at, last_used_at"
)


async def insert(
    conn: AsyncConnection,
    *,
    user_id: str,
    workspace_id: str,
    name: str,
    prefix: str,
    secret_hash: str,
    expires_at: datetime | None,
    max_requests_per_minute: int,
    max_cost_usd: Decimal,
) -> dict[str, Any]:
    cur = await conn.execute(
        "INSERT INTO api_keys (id, user_id, workspace_id, name, prefix, secret_hash, expires_at,"
        " max_requests_per_minute, max_cost_usd) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        f" RETURNING {_COLUMNS}",
        (
            new_id("key"),
            user_id,
            workspace_id,
            name,
            prefix,
            secret_hash,
            expires_at,
            max_requests_per_minute,
            max_cost_usd,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def by_hash(conn: AsyncConnection, secret_hash: str) -> dict[str, Any] | None:
    """The key a presented secret hashes to, whatever its state (the caller says why it is refused)."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS}, secret_hash, expires_at <= now() AS expired FROM api_keys WHERE secret_hash = %s",
        (secret_hash,),
    )
    return await cur.fetchone()


async def by_id(conn: AsyncConnection, key_id: str) -> dict[str, Any] | None:
    """A key by its id, whatever its state (for work done on its authority outside a call)."""
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id = %s", (key_id,))
    return await cur.fetchone()


async def of_user(
    conn: AsyncConnection, user_id: str, after: tuple[str, str] | None, limit: int
) -> list[dict[str, Any]]:
    """The user's keys that are not revoked, oldest first, keyset-paged on (created_at, id)."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM api_keys WHERE user_id = %s AND revoked_at IS NULL"
        " AND (%s::timestamptz IS NULL OR (created_at, id) > (%s::timestamptz, %s))"
        " ORDER BY created_at, id LIMIT %s",
        (user_id, after[0] if after else None, after[0] if after else None, after[1] if after else None, limit),
    )
    return await cur.fetchall()


async def revoke(conn: AsyncConnection, user_id: str, key_id: str) -> dict[str, Any] | None:
    """Revokes the user's live key; None when the user has no such key (another user's, or revoked already). The
    row's trigger tells every replica at commit (migration 0015)."""
    cur = await conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE id = %s AND user_id = %s AND revoked_at IS NULL"
        " RETURNING id, workspace_id, name, prefix, secret_hash",
        (key_id, user_id),
    )
    return await cur.fetchone()


async def touch(conn: AsyncConnection, key_id: str, every_s: int) -> None:
    """Stamps last_used_at unless it was stamped within `every_s`: replicas racing stamp it once."""
    await conn.execute(
        "UPDATE api_keys SET last_used_at = now() WHERE id = %s"
        " AND (last_used_at IS NULL OR last_used_at <= now() - make_interval(secs => %s))",
        (key_id, every_s),
    )


async def month_spend(conn: AsyncConnection, key_id: str) -> Decimal:
    """Spend of the turns run with the key in this UTC calendar month, plus the priced tool calls of those turns
    (matched as server/costs/store.py matches them: same session, same transaction time)."""
    cur = await conn.execute(
        "WITH turns AS ("
        "  SELECT workspace_id, session_id, created_at, cost_usd FROM usage_records"
        "  WHERE api_key_id = %s AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
        " SELECT (SELECT coalesce(sum(cost_usd), 0) FROM turns)"
        "  + (SELECT coalesce(sum(t.cost_usd), 0) FROM tool_calls t"
        "     JOIN (SELECT DISTINCT workspace_id, session_id, created_at FROM turns) u"
        "      ON t.workspace_id = u.workspace_id AND t.session_id = u.session_id AND t.created_at = u.created_at"
        "     WHERE t.cost_usd <> 0) AS spent",
        (key_id,),
    )
    row = await cur.fetchone()
    assert row is not None
    return Decimal(row["spent"])
