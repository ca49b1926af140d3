"""SQL of the workspaces' MCP servers (migration 0017). Header values are kept to be sent; they leave the database
only for the connection and, once, in the answer that created them."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from server.errors import AlreadyExists
from server.ids import new_id

_COLUMNS = "id, workspace_id, name, url, headers, created_at"
MAX_PER_WORKSPACE = 50


async def list_servers(conn: AsyncConnection, workspace_id: str) -> list[dict[str, Any]]:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM mcp_servers WHERE workspace_id = %s ORDER BY name", (workspace_id,)
    )
    return await cur.fetchall()


async def create(
    conn: AsyncConnection, workspace_id: str, name: str, url: str, headers: dict[str, str], user_id: str
) -> dict[str, Any] | None:
    """The new row; None when the workspace already has MAX_PER_WORKSPACE servers. The workspace's row is locked
    first, so replicas adding servers at once count one after the other."""
    await conn.execute("SELECT 1 FROM workspaces WHERE id = %s FOR UPDATE", (workspace_id,))
    cur = await conn.execute("SELECT count(*) AS n FROM mcp_servers WHERE workspace_id = %s", (workspace_id,))
    row = await cur.fetchone()
    if row is not None and row["n"] >= MAX_PER_WORKSPACE:
        return None
    try:
        cur = await conn.execute(
            "INSERT INTO mcp_servers (id, workspace_id, name, url, headers, created_by)"
            f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (new_id("mcps"), workspace_id, name, url, Jsonb(headers), user_id or None),
        )
    except psycopg.errors.UniqueViolation:
        raise AlreadyExists(f"the workspace already has an MCP server named {name!r}") from None
    return await cur.fetchone()


async def delete(conn: AsyncConnection, workspace_id: str, server_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"DELETE FROM mcp_servers WHERE id = %s AND workspace_id = %s RETURNING {_COLUMNS}", (server_id, workspace_id)
    )
    return await cur.fetchone()
