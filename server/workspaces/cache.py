"""Each workspace's restrictions and settings, kept per process for the chat turn, which checks them before
every provider call. Changes fire NOTIFY astra_workspaces with the workspace's id (migration 0010).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from server.db.database import Database
from server.db.notified import NotifiedCache
from server.errors import NotFound
from server.workspaces import store


def workspace_cache() -> NotifiedCache:
    """Rows of `store.view`, grouped by workspace id (key None)."""
    return NotifiedCache("astra_workspaces")


@dataclass(frozen=True)
class WorkspaceView:
    """What a turn needs to know about the workspace it runs in."""

    allowed_providers: list[str] | None
    allowed_models: list[str] | None
    settings: dict[str, Any]


async def workspace_view(cache: NotifiedCache, source: Database | AsyncConnection, workspace_id: str) -> WorkspaceView:
    row = await cache.read(workspace_id, None, source, lambda conn: store.view(conn, workspace_id))
    if row is None:
        raise NotFound(f"workspace {workspace_id} not found")
    return WorkspaceView(row["allowed_providers"], row["allowed_models"], row["settings"] or {})
