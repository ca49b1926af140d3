"""McpServersService: a workspace's own streamable-HTTP MCP servers (owners and admins add and remove them; every
member lists them, with the operator's), each with the health this replica sees."""

from __future__ import annotations

from typing import Any

import grpc

from astra.v1 import mcp_pb2, mcp_pb2_grpc
from server.audit.log import record
from server.context import current_principal
from server.deps import Deps
from server.errors import FailedPrecondition, NotFound
from server.mcp import store
from server.mcp.hub import LIST_WAIT_S, McpHub, ServerView
from server.mcp.targets import workspace_target
from server.mcp.validate import check_headers, check_name, check_url
from server.timestamps import to_timestamp
from server.workspaces.access import require_writer


def server_message(view: ServerView, headers: dict[str, str] | None = None) -> mcp_pb2.McpServer:
    target = view.target
    return mcp_pb2.McpServer(
        id=target.id,
        name=target.name,
        source=target.source,
        transport=target.transport,
        # The operator's URL and command stay the operator's: they may name internal hosts.
        url=target.url if target.source == "workspace" else "",
        header_names=[name for name, _ in target.headers] if target.source == "workspace" else [],
        headers=headers or {},
        health=view.health,
        last_error=view.last_error,
        tool_count=len(view.tools),
        tools=list(view.tools),
        created_at=to_timestamp(target.created_at),
    )


class McpServersService(mcp_pb2_grpc.McpServersServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    @property
    def hub(self) -> McpHub:
        if self.deps.mcp is None:
            raise FailedPrecondition("MCP servers are not available in this process")
        return self.deps.mcp

    async def _audit(self, conn: Any, action: str, row: dict[str, Any]) -> None:
        """The change goes to the audit log in its transaction; header values never do."""
        principal = current_principal()
        await record(
            conn,
            actor=principal.user_id,
            action=action,
            target_user_id=principal.user_id,
            workspace_id=principal.workspace_id,
            details={"name": row["name"], "url": row["url"], "headerNames": sorted(row["headers"] or {})},
            target=row["id"],
        )

    async def CreateMcpServer(
        self, request: mcp_pb2.CreateMcpServerRequest, context: grpc.aio.ServicerContext
    ) -> mcp_pb2.CreateMcpServerResponse:
        principal = current_principal()
        require_writer(principal.role, "add MCP servers")
        hub = self.hub
        name = check_name(request.name, hub.operator)
        headers = check_headers(dict(request.headers))
        url = await check_url(request.url, self.deps.settings.allow_private_urls)  # resolves: before a connection
        async with self.deps.db.transaction() as conn:
            row = await store.create(conn, principal.workspace_id, name, url, headers, principal.user_id)
            if row is None:
                raise FailedPrecondition(f"a workspace may have at most {store.MAX_PER_WORKSPACE} MCP servers")
            await self._audit(conn, "mcp_server.create", row)
        hub.cache.forget(principal.workspace_id)
        target = workspace_target(row)
        connection = hub.connection(target, principal.workspace_id)
        await connection.settle(min(LIST_WAIT_S, self.deps.settings.mcp_connect_timeout_s))
        return mcp_pb2.CreateMcpServerResponse(server=server_message(hub.view(target, connection), headers))

    async def ListMcpServers(
        self, request: mcp_pb2.ListMcpServersRequest, context: grpc.aio.ServicerContext
    ) -> mcp_pb2.ListMcpServersResponse:
        principal = current_principal()
        views = await self.hub.describe(principal.workspace_id)
        return mcp_pb2.ListMcpServersResponse(servers=[server_message(v) for v in views])

    async def DeleteMcpServer(
        self, request: mcp_pb2.DeleteMcpServerRequest, context: grpc.aio.ServicerContext
    ) -> mcp_pb2.DeleteMcpServerResponse:
        principal = current_principal()
        require_writer(principal.role, "remove MCP servers")
        hub = self.hub
        async with self.deps.db.transaction() as conn:
            row = await store.delete(conn, principal.workspace_id, request.server_id)
            if row is None:
                raise NotFound(f"MCP server {request.server_id} not found")
            await self._audit(conn, "mcp_server.delete", row)
        hub.forget(principal.workspace_id, request.server_id)
        return mcp_pb2.DeleteMcpServerResponse()
