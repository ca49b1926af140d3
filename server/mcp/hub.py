"""The MCP client runtime of one process: the tool source (server/tools/runtime.py's ToolSource) that gives a
workspace's agents the tools of its MCP servers, as `mcp__<server>__<tool>`.

A workspace sees the operator's servers (ASTRA_MCP_SERVERS_FILE) and its own (mcp_servers rows, kept per process
and dropped on every replica by NOTIFY when they change). Live sessions are kept in `connections`: a stdio child per
operator server for the whole process, an HTTP session per server and workspace. Every replica runs its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.db.database import Database
from server.db.notified import NotifiedCache
from server.mcp import names, store
from server.mcp.connection import Connection, Limits
from server.mcp.targets import Target, workspace_target
from server.tools.catalog import ToolSpec
from server.tools.runtime import Handler, ToolContext

log = logging.getLogger(__name__)

# How long a listing of the servers waits for those it has just started to connect.
LIST_WAIT_S = 3.0


def mcp_server_cache() -> NotifiedCache:
    """A workspace's mcp_servers rows, grouped by workspace id (key None); migration 0017 fires the NOTIFY."""
    return NotifiedCache("astra_mcp_servers")


@dataclass(frozen=True)
class ServerView:
    """One server as a workspace sees it, with the health this process sees."""

    target: Target
    health: str
    last_error: str
    tools: tuple[str, ...]


class McpHub:
    def __init__(self, db: Database, operator: dict[str, Target], limits: Limits, cache: NotifiedCache):
        self.db = db
        self.operator = operator
        self.limits = limits
        self.cache = cache
        self.connections: dict[tuple[str, ...], Connection] = {}
        self.closed = False
        self._closing: set[asyncio.Task[None]] = set()  # sessions being ended, referenced until they are

    # ----------------------------------------------------------------------------------------- the tool source

    def claims(self, name: str) -> bool:
        return names.is_mcp(name)

    async def specs(self, workspace_id: str, wanted: Sequence[str], deny: Sequence[str]) -> list[ToolSpec]:
        if self.closed:
            return []
        targets = await self.targets(workspace_id)
        servers = {parts[0] for parts in map(names.split, wanted) if parts is not None and parts[0] in targets}
        connections = [self.connection(targets[server], workspace_id) for server in sorted(servers)]
        await self._settle(connections, self.limits.connect_timeout_s)
        tools = {name: tool for c in connections for name, tool in c.tools.items()}
        chosen: dict[str, ToolSpec] = {}
        for entry in wanted:
            for name, tool in tools.items():
                if names.matches(entry, name) and not any(names.matches(d, name) for d in deny):
                    chosen.setdefault(name, tool.spec)
        return list(chosen.values())

    async def find(self, workspace_id: str, name: str) -> tuple[ToolSpec, Handler] | None:
        parts = names.split(name)
        if parts is None or self.closed:
            return None
        target = (await self.targets(workspace_id)).get(parts[0])
        if target is None:
            return None
        connection = self.connection(target, workspace_id)
        if not connection.listed:
            await connection.settle(self.limits.connect_timeout_s)
        tool = connection.tools.get(name)
        if tool is None:
            return None
        remote = tool.remote

        async def run(arguments: dict[str, Any], context: ToolContext) -> str:
            return await connection.call(remote, arguments)

        return tool.spec, run

    # ------------------------------------------------------------------------------------------------ servers

    async def targets(self, workspace_id: str) -> dict[str, Target]:
        """The servers a workspace sees by name: the operator's, then its own (an operator's name wins)."""
        row = await self.cache.read(workspace_id, None, self.db, lambda conn: self._rows(conn, workspace_id))
        own = [workspace_target(r) for r in (row or {}).get("rows", [])]
        self._retire(workspace_id, {t.id for t in own})
        return {**{t.name: t for t in own}, **self.operator}

    @staticmethod
    async def _rows(conn: Any, workspace_id: str) -> dict[str, Any]:
        return {"rows": await store.list_servers(conn, workspace_id)}

    async def describe(self, workspace_id: str) -> list[ServerView]:
        """Every server the workspace sees, started if it was resting, after a short wait for those connecting."""
        targets = await self.targets(workspace_id)
        connections = {name: self.connection(t, workspace_id) for name, t in targets.items()}
        await self._settle(list(connections.values()), min(LIST_WAIT_S, self.limits.connect_timeout_s))
        return [self.view(t, connections[name]) for name, t in sorted(targets.items())]

    def view(self, target: Target, connection: Connection | None) -> ServerView:
        if connection is None:
            return ServerView(target, "idle", "", ())
        return ServerView(target, connection.state, connection.shown_error, tuple(sorted(connection.tools)))

    def forget(self, workspace_id: str, server_id: str) -> None:
        """A server this process deleted: its rows are read again, and its session ends."""
        self.cache.forget(workspace_id)
        self._retire(workspace_id, None, only=server_id)

    def _retire(self, workspace_id: str, keep: set[str] | None, only: str = "") -> None:
        for key, connection in list(self.connections.items()):
            target = connection.target
            if target.source != "workspace" or target.workspace_id != workspace_id:
                continue
            if (only and target.id == only) or (keep is not None and target.id not in keep):
                del self.connections[key]
                connection.retired = True
                task = asyncio.create_task(connection.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    def connection(self, target: Target, workspace_id: str) -> Connection:
        key = target.key(workspace_id)
        connection = self.connections.get(key)
        if connection is None or connection.target != target:
            if connection is not None:  # the operator's file changed under a running process: not reloaded
                log.warning("mcp server definition changed", extra={"server": target.name})
            connection = self.connections[key] = Connection(target, self.limits)
        return connection

    @staticmethod
    async def _settle(connections: list[Connection], timeout_s: float) -> None:
        if connections:
            await asyncio.gather(*(c.settle(timeout_s) for c in connections))

    async def close(self) -> None:
        """Ends every session (stdio children exit) at shutdown."""
        self.closed = True
        connections, self.connections = list(self.connections.values()), {}
        await asyncio.gather(*(c.close() for c in connections), *self._closing, return_exceptions=True)
