"""The edge's middleware: every request gets its request id, an access-log line and per-route metrics, and a bug
answers a JSON 500 carrying the request id, never a traceback."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from opentelemetry import trace

from contract.errors import ErrorCode
from edge.errors import Failure, json_response
from edge.headers import REQUEST_ID, ROUTE, request_id_from
from edge.metrics import HTTP_IN_FLIGHT, http_latency, http_requests

log = logging.getLogger("astra.edge")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, access log, per-route metrics, and a JSON 500 (never a traceback) for a bug."""
    request[REQUEST_ID] = rid = request_id_from(request)
    # With tracing on, aiohttp's instrumentation has made the request's span (server/telemetry.py); off, this is the
    # API's no-op span and nothing is recorded.
    span = trace.get_current_span()
    traced = span.is_recording()
    if traced:
        span.set_attribute("astra.request_id", rid)
        if request.query_string:
            _unquery(span, request)
    started = time.perf_counter()
    HTTP_IN_FLIGHT.inc()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # aiohttp's own refusals (e.g. a bad upgrade), with aiohttp's status
        status = exc.status
        code = ErrorCode.INVALID_ARGUMENT if exc.status < 500 else ErrorCode.INTERNAL
        return json_response(Failure(code, exc.reason, exc.status), rid)
    except Exception:
        log.exception("unhandled edge error", extra={"request_id": rid, "path": request.path})
        return json_response(Failure(ErrorCode.INTERNAL, f"internal error (request id {rid})"), rid)
    finally:
        HTTP_IN_FLIGHT.dec()
        route = request.get(ROUTE, "unmatched")
        seconds = time.perf_counter() - started
        if traced and route != "unmatched":
            # Every annotated path is served by one catch-all route: name the span by the contract's template.
            span.update_name(f"{request.method} {route}")
            span.set_attribute("http.route", route)
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


def _unquery(span: trace.Span, request: web.Request) -> None:
    """The request's span without its query string, which may carry a credential (`/ws?token=`): the instrumentation
    redacts only cloud storage signatures."""
    recorded = getattr(span, "attributes", None) or {}
    span.set_attribute("http.target", request.path)
    span.set_attribute("http.url", str(request.url.with_query(None)))
    if "url.query" in recorded:
        span.set_attribute("url.query", "")
