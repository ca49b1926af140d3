"""The edge application: the gateway's dispatcher behind every annotated path, /ws for the hub, /openapi.json, and
the middleware around them all.

`create_app` only assembles: routing, transcoding and relaying live in edge/gateway.py, the per-request middleware
in edge/middlewares.py, the WebSocket hub in edge/ws.py.
"""

from __future__ import annotations

import json

import grpc
from aiohttp import web

from contract.routes import load_routes
from edge.channel import CoreChannel
from edge.errors import json_response, method_not_allowed
from edge.gateway import EdgeConfig, Gateway
from edge.headers import REQUEST_ID, request_id_from
from edge.mcp_surface import mount as mount_mcp
from edge.middlewares import observe
from edge.openapi import OPENAPI_PATH, build_document
from edge.ws import WsHub

__all__ = ["GATEWAY", "EdgeConfig", "create_app"]

GATEWAY = web.AppKey("gateway", Gateway)


def create_app(config: EdgeConfig, channel: CoreChannel | None = None) -> web.Application:
    """The edge application; it owns a channel to `config.grpc_target` unless it is given one."""
    owned = None
    if channel is None:
        channel = owned = grpc.aio.insecure_channel(
            config.grpc_target,
            options=[
                ("grpc.max_receive_message_length", 16 * 1024 * 1024),
                # Spread calls over every core address the target resolves to (a headless Service in Kubernetes).
                ("grpc.lb_policy_name", "round_robin"),
            ],
        )
    routes = load_routes()
    gateway = Gateway(config, channel, routes)
    hub = WsHub(channel, gateway)
    app = web.Application(middlewares=[observe], client_max_size=config.max_body_bytes)
    app[GATEWAY] = gateway
    app.router.add_get("/ws", hub.handle)
    openapi = json.dumps(build_document(routes), separators=(",", ":")).encode()

    async def serve_openapi(request: web.Request) -> web.Response:
        if request.method not in ("GET", "HEAD"):
            refusal = method_not_allowed(request.method, request.path, ["GET", "HEAD"])
            return json_response(refusal.failure(), request[REQUEST_ID])
        return web.Response(body=openapi, content_type="application/json")

    app.router.add_route("*", OPENAPI_PATH, serve_openapi)
    mount_mcp(app, gateway)  # /mcp: the agents for MCP clients (edge/mcp_surface)
    app.router.add_route("*", "/{tail:.*}", gateway.dispatch)

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Request-ID"] = request.get(REQUEST_ID) or request_id_from(request)
        gateway.cors.decorate(request, response)

    async def on_shutdown(app: web.Application) -> None:
        await hub.close_all()

    async def on_cleanup(app: web.Application) -> None:
        if owned is not None:
            await owned.close()

    app.on_response_prepare.append(on_prepare)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app
