"""SQL of the agents domain."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import AsyncConnection

from server.errors import AlreadyExists

_VISIBLE = (
    "SELECT a.id, a.workspace_id, a.model, a.config, a.version, a.created_at, a.updated_at,"
    " CASE WHEN a.workspace_id = %(ws)s THEN 'own' WHEN a.workspace_id IS NULL THEN 'global' ELSE 'granted' END"
    "   AS origin,"
    " coalesce(g.readonly, false) AS readonly, g.agent_id IS NOT NULL AS live_grant, g.expires_at AS grant_expires_at"
    " FROM agents a LEFT JOIN agent_grants g ON g.agent_id = a.id AND g.receiving_workspace_id = %(ws)s"
    "   AND g.granting_workspace_id = a.workspace_id AND (g.expires_at IS NULL OR g.expires_at > now())"
)


async def insert(
    conn: AsyncConnection, agent_id: str, workspace_id: str | None, model: str, config: dict[str, Any], user_id: str
) -> None:
    try:
        await conn.execute(
            "INSERT INTO agents (id, workspace_id, model, config, created_by) VALUES (%s, %s, %s, %s, %s)",
            (agent_id, workspace_id, model, config, user_id or None),
        )
    except psycopg.errors.UniqueViolation:
        raise AlreadyExists(f"agent id {agent_id!r} is taken") from None
    await _record_version(conn, agent_id, user_id)


async def _record_version(conn: AsyncConnection, agent_id: str, user_id: str) -> None:
    await conn.execute(
        "INSERT INTO agent_versions (agent_id, version, model, config, changed_by)"
        " SELECT id, version, model, config, %s FROM agents WHERE id = %s",
        (user_id or None, agent_id),
    )


async def exists(conn: AsyncConnection, agent_id: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM agents WHERE id = %s", (agent_id,))
    return await cur.fetchone() is not None


async def visible(conn: AsyncConnection, workspace_id: str, agent_id: str, lock: bool = False) -> dict[str, Any] | None:
    """The agent with its origin for this workspace, whether or not the workspace may use it."""
    cur = await conn.execute(
        _VISIBLE + " WHERE a.id = %(id)s" + (" FOR UPDATE OF a" if lock else ""), {"ws": workspace_id, "id": agent_id}
    )
    return await cur.fetchone()


async def list_visible(
    conn: AsyncConnection, workspace_id: str, origin: str, after: str, limit: int
) -> list[dict[str, Any]]:
    """Own, live-granted and global agents, by id."""
    cur = await conn.execute(
        "SELECT * FROM ("
        + _VISIBLE
        + " WHERE a.workspace_id = %(ws)s OR a.workspace_id IS NULL OR g.agent_id IS NOT NULL"
        ") v WHERE (%(origin)s = '' OR v.origin = %(origin)s) AND v.id > %(after)s ORDER BY v.id LIMIT %(limit)s",
        {"ws": workspace_id, "origin": origin, "after": after, "limit": limit},
    )
    return await cur.fetchall()


async def update(conn: AsyncConnection, agent_id: str, model: str, config: dict[str, Any], user_id: str) -> None:
    await conn.execute(
        "UPDATE agents SET model = %s, config = %s, version = version + 1, updated_at = now() WHERE id = %s",
        (model, config, agent_id),
    )
    await _record_version(conn, agent_id, user_id)


async def delete(conn: AsyncConnection, agent_id: str) -> None:
    await conn.execute("DELETE FROM agents WHERE id = %s", (agent_id,))


async def sync_global(conn: AsyncConnection, agents: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Makes the global agents exactly those given (id, model, config); unchanged ones keep their version."""
    for agent_id, model, config in agents:
        cur = await conn.execute("SELECT workspace_id, model, config FROM agents WHERE id = %s FOR UPDATE", (agent_id,))
        row = await cur.fetchone()
        if row is None:
            await insert(conn, agent_id, None, model, config, "")
        elif row["workspace_id"] is not None:
            raise AlreadyExists(f"global agent id {agent_id!r} is already used by workspace {row['workspace_id']}")
        elif (row["model"], row["config"]) != (model, config):
            await update(conn, agent_id, model, config, "")
    await conn.execute(
        "DELETE FROM agents WHERE workspace_id IS NULL AND NOT (id = ANY(%s))", ([a[0] for a in agents],)
    )
