"""What each agent is doing for a user right now, kept in Postgres so every replica answers the same."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

# A busy state older than this belongs to a turn whose replica died; it reads as idle.
STALE_AFTER_S = 900


async def advance(
    conn: AsyncConnection, user_id: str, workspace_id: str, agent_id: str, turn_id: str, state: str, tool_name: str = ""
) -> None:
    """Moves this turn's presence on, unless a newer turn of the same agent has taken over. Once idle, a turn
    stays idle: a late update from a background task must not bring a finished turn back to life."""
    await conn.execute(
        "UPDATE presence SET state = %s, tool_name = %s, since = now()"
        " WHERE user_id = %s AND workspace_id = %s AND agent_id = %s AND turn_id = %s AND state <> 'idle'",
        (state, tool_name, user_id, workspace_id, agent_id, turn_id),
    )


async def current(conn: AsyncConnection, user_id: str, workspace_id: str, agent_id: str) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT agent_id, session_id, since,"
        " CASE WHEN state <> 'idle' AND since < now() - make_interval(secs => %s) THEN 'idle' ELSE state END AS state,"
        " CASE WHEN state = 'calling_tool' THEN tool_name ELSE '' END AS tool_name"
        " FROM presence WHERE user_id = %s AND workspace_id = %s AND (%s = '' OR agent_id = %s) ORDER BY agent_id",
        (STALE_AFTER_S, user_id, workspace_id, agent_id, agent_id),
    )
    return await cur.fetchall()
