"""SQL of the workspaces domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from server.ids import new_id

_WORKSPACE_COLUMNS = (
    "w.id, w.name, w.plan, w.personal, w.settings, w.allowed_providers, w.allowed_models, w.created_at, w.updated_at,"
    " (SELECT count(*) FROM workspace_members c WHERE c.workspace_id = w.id) AS member_count"
)


async def create_workspace(conn: AsyncConnection, name: str, plan: str, settings: dict[str, Any], owner_id: str) -> str:
    workspace_id = new_id("ws")
    await conn.execute(
        "INSERT INTO workspaces (id, name, plan, settings, created_by) VALUES (%s, %s, %s, %s, %s)",
        (workspace_id, name, plan, settings, owner_id),
    )
    await conn.execute(
        "INSERT INTO workspace_members (workspace_id, user_id, role) VALUES (%s, %s, 'owner')", (workspace_id, owner_id)
    )
    return workspace_id


async def get_workspace(conn: AsyncConnection, workspace_id: str, user_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"SELECT {_WORKSPACE_COLUMNS}, m.role FROM workspaces w"
        " JOIN workspace_members m ON m.workspace_id = w.id AND m.user_id = %s WHERE w.id = %s",
        (user_id, workspace_id),
    )
    return await cur.fetchone()


async def list_workspaces(
    conn: AsyncConnection, user_id: str, after: tuple[str, str] | None, limit: int
) -> list[dict[str, Any]]:
    """The caller's workspaces, oldest first, keyset-paged on (created_at, id)."""
    cur = await conn.execute(
        f"SELECT {_WORKSPACE_COLUMNS}, m.role FROM workspaces w"
        " JOIN workspace_members m ON m.workspace_id = w.id AND m.user_id = %s"
        " WHERE %s::timestamptz IS NULL OR (w.created_at, w.id) > (%s::timestamptz, %s)"
        " ORDER BY w.created_at, w.id LIMIT %s",
        (user_id, after[0] if after else None, after[0] if after else None, after[1] if after else None, limit),
    )
    return await cur.fetchall()


async def update_settings(conn: AsyncConnection, workspace_id: str, settings: dict[str, Any]) -> None:
    await conn.execute(
        # A field left out keeps its stored value (a top-level JSON merge).
        "UPDATE workspaces SET settings = settings || %s, updated_at = now() WHERE id = %s",
        (settings, workspace_id),
    )


async def set_restrictions(
    conn: AsyncConnection, workspace_id: str, providers: list[str] | None, models: list[str] | None
) -> None:
    await conn.execute(
        "UPDATE workspaces SET allowed_providers = %s, allowed_models = %s, updated_at = now() WHERE id = %s",
        (providers, models, workspace_id),
    )


async def view(conn: AsyncConnection, workspace_id: str) -> dict[str, Any] | None:
    """What a chat turn checks about its workspace: restrictions and settings."""
    cur = await conn.execute(
        "SELECT allowed_providers, allowed_models, settings FROM workspaces WHERE id = %s", (workspace_id,)
    )
    return await cur.fetchone()


async def restrictions(conn: AsyncConnection, workspace_id: str) -> tuple[list[str] | None, list[str] | None]:
    row = await view(conn, workspace_id)
    return (row["allowed_providers"], row["allowed_models"]) if row else (None, None)


async def members(conn: AsyncConnection, workspace_id: str) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT m.user_id, u.email, u.display_name, m.role, m.joined_at FROM workspace_members m"
        " JOIN users u ON u.id = m.user_id WHERE m.workspace_id = %s ORDER BY m.joined_at, m.user_id",
        (workspace_id,),
    )
    return await cur.fetchall()


async def find_user(conn: AsyncConnection, user_id: str, email: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT id, email, display_name FROM users WHERE id = %s OR lower(email) = lower(%s)",
        (user_id or None, email or None),
    )
    return await cur.fetchone()


async def lock_members(conn: AsyncConnection, workspace_id: str) -> dict[str, str]:
    """user id -> role, with the rows locked so concurrent demotions cannot both remove the last owner."""
    cur = await conn.execute(
        "SELECT user_id, role FROM workspace_members WHERE workspace_id = %s FOR UPDATE", (workspace_id,)
    )
    return {row["user_id"]: row["role"] for row in await cur.fetchall()}


async def upsert_member(conn: AsyncConnection, workspace_id: str, user_id: str, role: str) -> dict[str, Any]:
    await conn.execute(
        "INSERT INTO workspace_members (workspace_id, user_id, role) VALUES (%s, %s, %s)"
        " ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = EXCLUDED.role",
        (workspace_id, user_id, role),
    )
    cur = await conn.execute(
        "SELECT m.user_id, u.email, u.display_name, m.role, m.joined_at FROM workspace_members m"
        " JOIN users u ON u.id = m.user_id WHERE m.workspace_id = %s AND m.user_id = %s",
        (workspace_id, user_id),
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def remove_member(conn: AsyncConnection, workspace_id: str, user_id: str) -> None:
    await conn.execute(
        "DELETE FROM workspace_members WHERE workspace_id = %s AND user_id = %s", (workspace_id, user_id)
    )


async def workspace_exists(conn: AsyncConnection, workspace_id: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM workspaces WHERE id = %s", (workspace_id,))
    return await cur.fetchone() is not None


async def agent_owner(conn: AsyncConnection, agent_id: str) -> tuple[bool, str | None]:
    """(exists, owning workspace id or None for a global agent)."""
    cur = await conn.execute("SELECT workspace_id FROM agents WHERE id = %s", (agent_id,))
    row = await cur.fetchone()
    return (row is not None, row["workspace_id"] if row else None)


async def upsert_grant(
    conn: AsyncConnection,
    granting: str,
    receiving: str,
    agent_id: str,
    readonly: bool,
    expires_at: datetime | None,
    user_id: str,
) -> dict[str, Any]:
    cur = await conn.execute(
        "INSERT INTO agent_grants (granting_workspace_id, receiving_workspace_id, agent_id, readonly, expires_at,"
        " created_by) VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (receiving_workspace_id, agent_id) DO UPDATE"
        " SET readonly = EXCLUDED.readonly, expires_at = EXCLUDED.expires_at, created_by = EXCLUDED.created_by,"
        "     created_at = now()"
        " RETURNING granting_workspace_id, receiving_workspace_id, agent_id, readonly, expires_at, created_at",
        (granting, receiving, agent_id, readonly, expires_at, user_id),
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def delete_grant(conn: AsyncConnection, granting: str, receiving: str, agent_id: str) -> bool:
    cur = await conn.execute(
        "DELETE FROM agent_grants WHERE granting_workspace_id = %s AND receiving_workspace_id = %s AND agent_id = %s",
        (granting, receiving, agent_id),
    )
    return cur.rowcount > 0


async def grants(conn: AsyncConnection, workspace_id: str, column: str) -> list[dict[str, Any]]:
    assert column in ("granting_workspace_id", "receiving_workspace_id")
    cur = await conn.execute(
        "SELECT granting_workspace_id, receiving_workspace_id, agent_id, readonly, expires_at, created_at"
        f" FROM agent_grants WHERE {column} = %s ORDER BY created_at, agent_id",
        (workspace_id,),
    )
    return await cur.fetchall()


async def stats(conn: AsyncConnection, workspace_id: str, days: int) -> dict[str, Any]:
    """Usage over the last `days` days, aggregated in SQL."""
    params = {"ws": workspace_id, "days": days}

    async def query(sql: str) -> list[dict[str, Any]]:
        cur = await conn.execute(sql.replace("WINDOW", "now() - make_interval(days => %(days)s)"), params)
        return await cur.fetchall()

    (totals,) = await query(
        "SELECT WINDOW AS window_start, now() AS window_end,"
        " (SELECT count(*) FROM sessions WHERE workspace_id = %(ws)s AND created_at >= WINDOW) AS sessions_total,"
        " (SELECT count(*) FROM sessions WHERE workspace_id = %(ws)s AND status = 'active'"
        "   AND last_activity_at >= WINDOW) AS sessions_active,"
        " (SELECT count(*) FROM messages m JOIN sessions s ON s.id = m.session_id"
        "   WHERE s.workspace_id = %(ws)s AND m.created_at >= WINDOW) AS messages_total,"
        " (SELECT count(DISTINCT s.user_id) FROM messages m JOIN sessions s ON s.id = m.session_id"
        "   WHERE s.workspace_id = %(ws)s AND m.role = 'user' AND m.created_at >= WINDOW) AS active_users,"
        " u.prompt_tokens, u.completion_tokens, u.cost_usd"
        " FROM (SELECT coalesce(sum(prompt_tokens), 0) AS prompt_tokens,"
        "              coalesce(sum(completion_tokens), 0) AS completion_tokens,"
        "              coalesce(sum(cost_usd), 0) AS cost_usd"
        "       FROM usage_records WHERE workspace_id = %(ws)s AND created_at >= WINDOW) u"
    )
    top_agents = await query(
        "SELECT agent_id, count(DISTINCT session_id) AS sessions, sum(messages) AS messages,"
        "       sum(tokens) AS total_tokens, sum(cost) AS cost_usd FROM ("
        "   SELECT s.agent_id, s.id AS session_id, count(m.id) AS messages, 0 AS tokens, 0 AS cost"
        "   FROM sessions s LEFT JOIN messages m ON m.session_id = s.id AND m.created_at >= WINDOW"
        "   WHERE s.workspace_id = %(ws)s AND s.last_activity_at >= WINDOW GROUP BY s.agent_id, s.id"
        "   UNION ALL"
        "   SELECT agent_id, NULL, 0, prompt_tokens + completion_tokens, cost_usd FROM usage_records"
        "   WHERE workspace_id = %(ws)s AND created_at >= WINDOW"
        " ) per GROUP BY agent_id ORDER BY sum(messages) DESC, sum(tokens) DESC, agent_id LIMIT 5"
    )
    top_tools = await query(
        "SELECT tool, count(*) AS calls, count(*) FILTER (WHERE status = 'error') AS errors,"
        "       avg(duration_ms) AS avg_duration_ms FROM tool_calls"
        " WHERE workspace_id = %(ws)s AND created_at >= WINDOW"
        " GROUP BY tool ORDER BY count(*) DESC, tool LIMIT 5"
    )
    return {**totals, "top_agents": top_agents, "top_tools": top_tools}
