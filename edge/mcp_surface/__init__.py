"""`/mcp`: Astra's agents for any MCP client, over the protocol's streamable HTTP transport.

The protocol is the official `mcp` SDK's (its low-level `Server` behind its `StreamableHTTPSessionManager`, an ASGI
application served from aiohttp by `asgi.py`); the tools (`tools.py`) and the conversations as resources
(`resources.py`) are calls of the contract's RPCs on the edge's channel, so they run in the core like every other
surface's calls, as the caller.

- Every request must carry `Authorization: Bearer` with an access token or a personal API key (`ak_…`), checked by
  AuthService.Introspect before the SDK sees the request: none or a bad one is a 401 with `WWW-Authenticate`, and
  no MCP exchange. `X-Workspace-ID` picks the workspace for a token, as on REST.
- Stateless: each POST is served on its own, nothing is kept between requests, so any edge replica can answer any
  request (no sticky sessions) and both protocol eras work (the initialize handshake and the 2026-07-28 per-request
  envelope). A tool call's progress notifications go out on the SSE response of the POST that asked for it. There
  is no standalone stream and no session to end, so GET and DELETE answer 405, as the transport's spec says.
- An `Origin` not allowed by ASTRA_CORS_ORIGINS is refused with 403 (the spec's guard against DNS rebinding).

This package and edge/ws.py are the edge's only modules that name the contract's methods; the rest stays generic.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from importlib import metadata as distribution
from typing import Any

import grpc
import mcp_types as types
from aiohttp import web
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError

from contract.errors import ErrorCode
from contract.services import find_method
from contract.stubs import message_class, stub
from edge.errors import EdgeError, Failure, from_rpc_error, json_response, method_not_allowed
from edge.gateway import Gateway
from edge.headers import REQUEST_ID, ROUTE
from edge.mcp_surface import asgi
from edge.mcp_surface.resources import TEMPLATE, Resources
from edge.mcp_surface.tools import INPUT_SCHEMAS, TOOLS, Tools

__all__ = ["MCP_PATH", "McpSurface", "mount"]

MCP_PATH = "/mcp"
INTROSPECT = "astra.v1.AuthService.Introspect"
# Where the caller's metadata travels, in the ASGI scope, from the HTTP handler to the tool handlers.
SCOPE_METADATA = "astra.metadata"
ALLOWED = ("POST", "OPTIONS")
# Headers an MCP client in a browser sends besides the gateway's own.
MCP_HEADERS = "Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID"
INSTRUCTIONS = (
    "Astra is a gateway for AI agents. list_agents shows the agents you can talk to; chat sends one a message "
    "(pass the returned sessionId to continue a conversation); search_sessions and memory_search look through your "
    "past conversations and what Astra remembers. Your recent conversations are resources, astra://sessions/{id}."
)


def _version() -> str:
    try:
        return distribution.version("astra-gateway")
    except distribution.PackageNotFoundError:
        return "0"


class McpSurface:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.tools = Tools(gateway.channel, gateway.config.call_timeout_s)
        self.resources = Resources(gateway.channel, gateway.config.call_timeout_s)
        method = find_method(INTROSPECT)
        self.introspect, self.introspect_request = stub(gateway.channel, method), message_class(method.input_type)
        server: Server[Any] = Server(
            "astra",
            version=_version(),
            title="Astra",
            instructions=INSTRUCTIONS,
            get_tool_input_schema=INPUT_SCHEMAS.get,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_resource_templates,
            on_read_resource=self._read_resource,
        )
        self.manager = StreamableHTTPSessionManager(server, stateless=True)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle: the manager's task group lives in a task of its own, entered and left there (anyio's rule) ---

    async def start(self, app: web.Application) -> None:
        started = asyncio.Event()

        async def run() -> None:
            async with self.manager.run():
                started.set()
                await self._stop.wait()

        self._task = asyncio.create_task(run(), name="mcp-session-manager")
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._task.done():
            self._task.result()  # raises what stopped it

    async def stop(self, app: web.Application) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- HTTP --------------------------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request[ROUTE] = MCP_PATH
        rid = request[REQUEST_ID]
        cors = self.gateway.cors
        try:
            if cors.is_preflight(request):
                return self._preflight(request)
            if request.method not in ALLOWED:
                raise method_not_allowed(request.method, request.path, ["POST"])
            origin = request.headers.get("Origin")
            if origin and not cors.allows(origin):
                raise EdgeError(ErrorCode.PERMISSION_DENIED, "origin not allowed by ASTRA_CORS_ORIGINS")
            if request.method == "OPTIONS":
                return web.Response(status=204, headers={"Allow": "POST, OPTIONS"})
            metadata = self.gateway.metadata(request)
        except EdgeError as exc:
            return json_response(exc.failure(), rid)
        try:
            await self.introspect(self.introspect_request(), metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as exc:
            return json_response(self._refusal(request, from_rpc_error(exc)), rid)
        return await asgi.serve(self.manager.handle_request, request, **{SCOPE_METADATA: metadata})

    @staticmethod
    def _refusal(request: web.Request, failure: Failure) -> Failure:
        if failure.http_status == 401 and request.headers.get("Authorization"):
            # RFC 6750: a credential was sent and is not good (a missing one gets the bare challenge).
            challenge = 'Bearer realm="astra", error="invalid_token"'
            return dataclasses.replace(failure, headers={**failure.headers, "WWW-Authenticate": challenge})
        return failure

    def _preflight(self, request: web.Request) -> web.Response:
        if not self.gateway.cors.allows(request.headers["Origin"]):
            raise EdgeError(ErrorCode.PERMISSION_DENIED, "origin not allowed by ASTRA_CORS_ORIGINS")
        response = self.gateway.cors.preflight(request, ["POST"])
        response.headers["Access-Control-Allow-Headers"] += f", {MCP_HEADERS}"
        return response

    # -- MCP ---------------------------------------------------------------------------------------------------------

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=TOOLS)

    async def _call_tool(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> Any:
        if params.name not in INPUT_SCHEMAS:
            raise MCPError(types.INVALID_PARAMS, f"unknown tool {params.name!r}")
        metadata = _metadata(ctx)

        async def progress(step: float, message: str) -> None:
            # A no-op unless the client sent a progressToken with the call.
            await ctx.session.report_progress(step, None, message)

        return await self.tools.call(params.name, params.arguments, metadata, progress)

    async def _list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return await self.resources.list(_metadata(ctx))

    async def _list_resource_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[TEMPLATE])

    async def _read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        return await self.resources.read(params.uri, _metadata(ctx))


def _metadata(ctx: ServerRequestContext[Any]) -> tuple[tuple[str, str], ...]:
    """The caller's metadata, put in the request's scope by McpSurface.handle (none: the core refuses the call)."""
    return ctx.request.scope.get(SCOPE_METADATA, ()) if ctx.request is not None else ()


def mount(app: web.Application, gateway: Gateway) -> None:
    """Serves `/mcp` on `app` (before its catch-all route), with the session manager running while the app does."""
    # The SDK logs every stateless request's end at INFO; the edge's access log already has a line per request.
    for name in ("mcp.server.streamable_http", "mcp.server.streamable_http_manager"):
        logging.getLogger(name).setLevel(logging.WARNING)
    surface = McpSurface(gateway)
    app.router.add_route("*", MCP_PATH, surface.handle)
    app.on_startup.append(surface.start)
    app.on_cleanup.append(surface.stop)
