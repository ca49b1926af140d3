"""The gateway: one dispatcher routes every annotated path to its RPC, transcodes the request, calls the core and
relays the answer (a JSON body, or a stream of SSE/NDJSON frames). A service the contract gives another HTTP dialect
(astra.v1.dialect) is spoken in that dialect's module instead, errors included."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import grpc
from aiohttp import web
from prometheus_client import generate_latest

from contract.errors import ErrorCode
from contract.metadata import http_status
from contract.routes import Route
from contract.services import DIALECT_OPENAI
from contract.stubs import stub
from edge.channel import CoreChannel
from edge.cors import Cors
from edge.errors import EdgeError, from_rpc_error, json_response, method_not_allowed, stream_frame
from edge.headers import REQUEST_ID, ROUTE, outgoing_metadata, response_headers
from edge.metrics import EDGE_REGISTRY
from edge.mux import MethodNotAllowed, NoRoute, Router
from edge.openai_dialect import OpenAIDialect
from edge.streaming import FrameWriter, frame, relay, wants_ndjson
from edge.transcode import build_request, render

PROMETHEUS_TEXT = "text/plain; version="
Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class EdgeConfig:
    """What the edge takes from the process's settings (server/config.py defines each default, once)."""

    grpc_target: str
    cors_origins: tuple[str, ...]
    max_body_bytes: int
    sse_keepalive_s: float
    call_timeout_s: float = 600.0


@dataclass(frozen=True)
class Binding:
    """A route with the gRPC callable that serves it and the dialect it is spoken in (None: Astra's own), built
    once at start-up."""

    route: Route
    call: Any
    dialect: OpenAIDialect | None = None


def _first_segment(path: str) -> str:
    return "/" + path.lstrip("/").split("/", 1)[0]


class Gateway:
    def __init__(self, config: EdgeConfig, channel: CoreChannel, routes: list[Route]):
        self.config = config
        self.channel = channel
        self.cors = Cors(config.cors_origins)
        self.router: Router[Binding] = Router()
        self.draining = False
        dialects = {DIALECT_OPENAI: OpenAIDialect(config.sse_keepalive_s, config.call_timeout_s)}
        by_segment: dict[str, set[OpenAIDialect | None]] = {}
        for route in routes:
            dialect = dialects.get(route.dialect)
            self.router.add(route.http_method, route.template, Binding(route, stub(channel, route.method), dialect))
            by_segment.setdefault(_first_segment(route.template), set()).add(dialect)
        # A first path segment only one dialect's routes use is that dialect's: its unknown paths and methods are
        # refused in that dialect too (no Astra error body under /v1).
        self.owners = {segment: found.pop() for segment, found in by_segment.items() if len(found) == 1}

    def metadata(self, request: web.Request) -> Metadata:
        metadata = outgoing_metadata(request, request[REQUEST_ID])
        # Tells the core's readiness check that this edge is shutting down.
        return (*metadata, ("x-edge-draining", "1")) if self.draining else metadata

    def _too_large(self) -> EdgeError:
        return EdgeError(ErrorCode.PAYLOAD_TOO_LARGE, f"request body is larger than {self.config.max_body_bytes} bytes")

    async def _read_body(self, request: web.Request, route: Route) -> bytes:
        if not route.body:
            return b""
        if (request.content_length or 0) > self.config.max_body_bytes:
            raise self._too_large()
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise self._too_large() from None

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        rid = request[REQUEST_ID]
        dialect = self.owners.get(_first_segment(request.path))
        try:
            if self.cors.is_preflight(request):
                return self._preflight(request)
            try:
                binding, bindings = self.router.match(request.method, request.rel_url.raw_path)
            except NoRoute:
                raise EdgeError(ErrorCode.NOT_FOUND, f"no route for {request.path}") from None
            except UnicodeDecodeError:
                raise EdgeError(
                    ErrorCode.INVALID_ARGUMENT, "the path has a percent-encoded value that is not UTF-8"
                ) from None
            except MethodNotAllowed as exc:
                raise method_not_allowed(request.method, request.path, exc.allowed) from None
            route, dialect = binding.route, binding.dialect
            request[ROUTE] = route.template
            message = (dialect.build_request if dialect is not None else build_request)(
                route,
                bindings,
                query_items(request),
                await self._read_body(request, route),
                request.content_type if request.body_exists else "",
            )
            metadata = self.metadata(request)
        except EdgeError as exc:
            return dialect.error(exc.failure()) if dialect is not None else json_response(exc.failure(), rid)
        if dialect is not None:
            return await dialect.serve(request, route, binding.call, message, metadata)
        if route.streaming:
            return await self._stream(request, binding, message, metadata)
        return await self._unary(request, binding, message, metadata)

    def _preflight(self, request: web.Request) -> web.Response:
        try:
            self.router.match(request.headers["Access-Control-Request-Method"], request.rel_url.raw_path)
            allowed = [request.headers["Access-Control-Request-Method"].upper()]
        except NoRoute:
            raise EdgeError(ErrorCode.NOT_FOUND, f"no route for {request.path}") from None
        except MethodNotAllowed as exc:
            allowed = exc.allowed
        try:
            return self.cors.preflight(request, allowed)
        except PermissionError:
            raise EdgeError(ErrorCode.PERMISSION_DENIED, "origin not allowed by ASTRA_CORS_ORIGINS") from None

    async def _unary(
        self, request: web.Request, binding: Binding, message: Any, metadata: Metadata
    ) -> web.StreamResponse:
        call = binding.call(message, metadata=metadata, timeout=self.config.call_timeout_s)
        try:
            response = await call
            trailers = await call.trailing_metadata()
        except grpc.aio.AioRpcError as exc:
            return json_response(from_rpc_error(exc), request[REQUEST_ID])
        body, content_type = render(binding.route, response)
        if content_type.startswith(PROMETHEUS_TEXT):
            body += generate_latest(EDGE_REGISTRY)
        status = http_status(trailers) or 200
        headers = {"Content-Type": content_type, **response_headers(await call.initial_metadata(), trailers)}
        return web.Response(status=status, body=body, headers=headers)

    async def _stream(
        self, request: web.Request, binding: Binding, message: Any, metadata: Metadata
    ) -> web.StreamResponse:
        call = binding.call(message, metadata=metadata, timeout=self.config.call_timeout_s)
        try:
            # Until the first message the HTTP status is still open: an early failure is a plain error response.
            try:
                first = await call.read()
            except grpc.aio.AioRpcError as exc:
                return json_response(from_rpc_error(exc), request[REQUEST_ID])
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
                await writer.send(*stream_frame(from_rpc_error(exc)))
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
        raise EdgeError(
            ErrorCode.INVALID_ARGUMENT, "the query string has a percent-encoded value that is not UTF-8"
        ) from None
