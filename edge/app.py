"""The aiohttp application: one dispatcher routes every annotated path to its RPC; /ws goes to the hub."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import grpc
from aiohttp import web
from prometheus_client import generate_latest

from edge.channel import CoreChannel
from edge.contract import Route, load_routes
from edge.cors import Cors
from edge.errors import (
    EdgeError,
    error_response,
    from_edge_error,
    from_rpc_error,
    http_status_override,
    retry_after_ms,
)
from edge.headers import REQUEST_ID, ROUTE, outgoing_metadata, request_id_from, response_headers
from edge.metrics import EDGE_REGISTRY, HTTP_IN_FLIGHT, http_latency, http_requests
from edge.mux import MethodNotAllowed, NoRoute, Router
from edge.openapi import OPENAPI_PATH, build_document
from edge.streaming import FrameWriter, frame, relay, wants_ndjson
from edge.transcode import build_request, render
from edge.ws import WsHub

log = logging.getLogger("astra.edge")

PROMETHEUS_TEXT = "text/plain; version="
Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class EdgeConfig:
    grpc_target: str
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1024 * 1024
    sse_keepalive_s: float = 15.0
    call_timeout_s: float = 600.0


@dataclass(frozen=True)
class Binding:
    """A route with the gRPC callable that serves it, built once at start-up."""

    route: Route
    call: Any


class Gateway:
    def __init__(self, config: EdgeConfig, channel: CoreChannel, routes: list[Route]):
        self.config = config
        self.channel = channel
        self.cors = Cors(config.cors_origins)
        self.router: Router[Binding] = Router()
        self.draining = False
        for route in routes:
            factory = channel.unary_stream if route.streaming else channel.unary_unary
            call = factory(
                route.grpc_path,
                request_serializer=route.request_class.SerializeToString,
                response_deserializer=route.response_class.FromString,
            )
            self.router.add(route.http_method, route.template, Binding(route, call))

    def metadata(self, request: web.Request) -> Metadata:
        metadata = outgoing_metadata(request, request[REQUEST_ID])
        # Tells the core's readiness check that this edge is shutting down.
        return (*metadata, ("x-edge-draining", "1")) if self.draining else metadata

    async def _read_body(self, request: web.Request, route: Route) -> bytes:
        if not route.body:
            return b""
        if (request.content_length or 0) > self.config.max_body_bytes:
            raise EdgeError(413, f"request body is larger than {self.config.max_body_bytes} bytes")
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise EdgeError(413, f"request body is larger than {self.config.max_body_bytes} bytes") from None

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        rid = request[REQUEST_ID]
        try:
            if self.cors.is_preflight(request):
                return self._preflight(request)
            try:
                binding, bindings = self.router.match(request.method, request.rel_url.raw_path)
            except NoRoute:
                raise EdgeError(404, f"no route for {request.path}") from None
            except UnicodeDecodeError:
                raise EdgeError(400, "the path has a percent-encoded value that is not UTF-8") from None
            except MethodNotAllowed as exc:
                raise EdgeError(
                    405,
                    f"{request.method} is not allowed on {request.path}",
                    {"Allow": ", ".join(exc.allowed)},
                ) from None
            route = binding.route
            request[ROUTE] = route.template
            message = build_request(
                route,
                bindings,
                query_items(request),
                await self._read_body(request, route),
                request.content_type if request.body_exists else "",
            )
            metadata = self.metadata(request)
        except EdgeError as exc:
            return from_edge_error(exc, rid)
        if route.streaming:
            return await self._stream(request, binding, message, metadata)
        return await self._unary(request, binding, message, metadata)

    def _preflight(self, request: web.Request) -> web.Response:
        try:
            self.router.match(request.headers["Access-Control-Request-Method"], request.rel_url.raw_path)
            allowed = [request.headers["Access-Control-Request-Method"].upper()]
        except NoRoute:
            raise EdgeError(404, f"no route for {request.path}") from None
        except MethodNotAllowed as exc:
            allowed = exc.allowed
        try:
            return self.cors.preflight(request, allowed)
        except PermissionError:
            raise EdgeError(403, "origin not allowed by ASTRA_CORS_ORIGINS") from None

    async def _unary(
        self, request: web.Request, binding: Binding, message: Any, metadata: Metadata
    ) -> web.StreamResponse:
        rid = request[REQUEST_ID]
        call = binding.call(message, metadata=metadata, timeout=self.config.call_timeout_s)
        try:
            response = await call
            trailers = await call.trailing_metadata()
        except grpc.aio.AioRpcError as exc:
            return from_rpc_error(exc, rid)
        body, content_type = render(binding.route, response)
        if content_type.startswith(PROMETHEUS_TEXT):
            body += generate_latest(EDGE_REGISTRY)
        status = http_status_override(trailers) or 200
        headers = {"Content-Type": content_type, **response_headers(await call.initial_metadata(), trailers)}
        return web.Response(status=status, body=body, headers=headers)

    async def _stream(
        self, request: web.Request, binding: Binding, message: Any, metadata: Metadata
    ) -> web.StreamResponse:
        rid = request[REQUEST_ID]
        call = binding.call(message, metadata=metadata, timeout=self.config.call_timeout_s)
        try:
            # Until the first message the HTTP status is still open: an early failure is a plain error response.
            try:
                first = await call.read()
            except grpc.aio.AioRpcError as exc:
                return from_rpc_error(exc, rid)
            ndjson = wants_ndjson(request)
            response = web.StreamResponse(
                status=200,
                headers={
                    "Content-Type": FrameWriter.content_type(ndjson),
                    "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
                },
            )
            await response.prepare(request)
            writer = FrameWriter(response, ndjson)
            if first is grpc.aio.EOF:
                return response
            await writer.send(*frame(first))
            try:
                await relay(call, writer, self.config.sse_keepalive_s)
            except grpc.aio.AioRpcError as exc:
                payload = {"code": exc.code().name, "message": exc.details() or ""}
                wait = retry_after_ms(exc.trailing_metadata())
                if wait is not None:
                    payload["retryAfterMs"] = wait
                await writer.send("error", payload)
            await response.write_eof()
            return response
        finally:
            # A client that went away cancels the turn behind the stream.
            if not call.done():
                call.cancel()


def query_items(request: web.Request) -> list[tuple[str, str]]:
    """The query string's pairs, refusing percent-escapes that are not UTF-8 (which would otherwise arrive as
    replacement characters)."""
    raw = request.rel_url.raw_query_string
    try:
        return parse_qsl(raw, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise EdgeError(400, "the query string has a percent-encoded value that is not UTF-8") from None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GATEWAY = web.AppKey("gateway", Gateway)


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, access log, per-route metrics, and a JSON 500 (never a traceback) for a bug."""
    request[REQUEST_ID] = rid = request_id_from(request)
    started = time.perf_counter()
    HTTP_IN_FLIGHT.inc()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # aiohttp's own refusals (e.g. a bad upgrade)
        status = exc.status
        return error_response(exc.status, "INVALID_ARGUMENT" if exc.status < 500 else "INTERNAL", exc.reason, rid)
    except Exception:
        log.exception("unhandled edge error", extra={"request_id": rid, "path": request.path})
        return error_response(500, "INTERNAL", f"internal error (request id {rid})", rid)
    finally:
        HTTP_IN_FLIGHT.dec()
        route = request.get(ROUTE, "unmatched")
        seconds = time.perf_counter() - started
        http_latency(route, request.method).observe(seconds)
        http_requests(route, request.method, status).inc()
        if log.isEnabledFor(logging.INFO):  # the record's fields cost more than the check
            log.info(
                "http",
                extra={
                    "request_id": rid,
                    "method": request.method,
                    "path": request.path,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "remote": request.remote,
                },
            )


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
            refusal = EdgeError(405, f"{request.method} is not allowed on {request.path}", {"Allow": "GET, HEAD"})
            return from_edge_error(refusal, request[REQUEST_ID])
        return web.Response(body=openapi, content_type="application/json")

    app.router.add_route("*", OPENAPI_PATH, serve_openapi)
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
