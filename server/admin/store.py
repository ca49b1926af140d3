"""SQL of the admin domain: cross-workspace reads (the caller is an API-key holder, not a member)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

# A session counts as active while it has been used within this many minutes, unless its workspace sets its own
# idle timeout (settings.sessionIdleTimeoutMinutes).
DEFAULT_ACTIVE_MINUTES = 30

_ACTIVE = (
    "s.status = 'active' AND s.last_activity_at >= now() - make_interval(mins =>"
    " coalesce((w.settings->>'sessionIdleTimeoutMinutes')::int, %(idle)s))"
)


async def active_sessions(conn: AsyncConnection) -> int:
    cur = await conn.execute(
        f"SELECT count(*) AS n FROM sessions s JOIN workspaces w ON w.id = s.workspace_id WHERE {_ACTIVE}",
        {"idle": DEFAULT_ACTIVE_MINUTES},
    )
    row = await cur.fetchone()
    return row["n"] if row else 0


async def list_agents(conn: AsyncConnection, workspace_id: str, after: str, limit: int) -> list[dict[str, Any]]:
    """Every agent by id; workspace_id "" for all, "global" for the file-defined ones, else one workspace's."""
    cur = await conn.execute(
        "SELECT id, workspace_id, model, config, version, created_at, updated_at, '' AS origin FROM agents"
        " WHERE id > %(after)s AND (%(ws)s = '' OR (%(ws)s = 'global' AND workspace_id IS NULL)"
        "   OR workspace_id = %(ws)s)"
        " ORDER BY id LIMIT %(limit)s",
        {"ws": workspace_id, "after": after, "limit": limit},
    )
    return await cur.fetchall()


async def user_exists(conn: AsyncConnection, user_id: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,))
    return await cur.fetchone() is not None


async def usage(conn: AsyncConnection, user_id: str, days: int) -> dict[str, list[dict[str, Any]]]:
    """The user's usage records over the window, grouped by UTC day and by model."""
    params = {"uid": user_id, "days": days}
    window = "user_id = %(uid)s AND created_at >= now() - make_interval(days => %(days)s)"
    sums = (
        "coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,"
        " coalesce(sum(completion_tokens), 0)::bigint AS completion_tokens,"
        " coalesce(sum(cost_usd), 0) AS cost_usd, count(*) AS requests"
    )
    cur = await conn.execute(
        f"SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS key, {sums}"
        f" FROM usage_records WHERE {window} GROUP BY 1 ORDER BY 1",
        params,
    )
    by_day = await cur.fetchall()
    cur = await conn.execute(
        f"SELECT model AS key, {sums} FROM usage_records WHERE {window}"
        " GROUP BY model ORDER BY sum(prompt_tokens + completion_tokens) DESC, model",
        params,
    )
    return {"by_day": by_day, "by_model": await cur.fetchall()}


async def user_sessions(
    conn: AsyncConnection, user_id: str, after: tuple[str, str] | None, limit: int
) -> list[dict[str, Any]]:
    """The user's active sessions in every workspace, most recently active first, keyset-paged."""
    cur = await conn.execute(
        "SELECT s.* FROM sessions s JOIN workspaces w ON w.id = s.workspace_id"
        f" WHERE s.user_id = %(uid)s AND {_ACTIVE}"
        "   AND (%(t)s::timestamptz IS NULL OR (s.last_activity_at, s.id) < (%(t)s::timestamptz, %(id)s))"
        " ORDER BY s.last_activity_at DESC, s.id DESC LIMIT %(limit)s",
        {
            "uid": user_id,
            "idle": DEFAULT_ACTIVE_MINUTES,
            "t": after[0] if after else None,
            "id": after[1] if after else None,
            "limit": limit,
        },
    )
    return await cur.fetchall()


async def audit_entries(conn: AsyncConnection, user_id: str, before: int | None, limit: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT * FROM audit_log WHERE target_user_id = %s AND (%s::bigint IS NULL OR id < %s)"
        " ORDER BY id DESC LIMIT %s",
        (user_id, before, before, limit),
    )
    return await cur.fetchall()
