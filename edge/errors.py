"""gRPC status -> HTTP status (google/rpc/code.proto's canonical table) and the JSON error body."""

from __future__ import annotations

import json

import grpc
from aiohttp import web

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

# Codes the edge itself answers with, before or without a gRPC call.
HTTP_CODE_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class EdgeError(Exception):
    """A request the edge refuses before it reaches the core."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_body(code: str, message: str, request_id: str) -> dict:
    return {"error": {"code": code, "message": message}, "requestId": request_id}


def error_response(
    status: int, code: str, message: str, request_id: str, headers: dict[str, str] | None = None
) -> web.Response:
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="astra"')
    return web.Response(
        status=status,
        body=json.dumps(error_body(code, message, request_id)).encode(),
        content_type="application/json",
        headers=headers,
    )


def from_edge_error(error: EdgeError, request_id: str) -> web.Response:
    code = HTTP_CODE_NAMES.get(error.status, "UNKNOWN")
    return error_response(error.status, code, error.message, request_id, error.headers)


def trailer(metadata: grpc.aio.Metadata | None, key: str) -> str | None:
    if not metadata:
        return None
    value = metadata.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else value.decode("latin-1")


def http_status_override(metadata: grpc.aio.Metadata | None) -> int | None:
    """The status the core asked for in x-http-status, when the canonical table cannot express it."""
    raw = trailer(metadata, "x-http-status")
    if raw and raw.isdigit() and 200 <= int(raw) <= 599:
        return int(raw)
    return None


def retry_after_ms(metadata: grpc.aio.Metadata | None) -> int | None:
    """The core's retry hint in milliseconds (retry-after-ms, else retry-after seconds), if it gave one."""
    ms, seconds = trailer(metadata, "retry-after-ms") or "", trailer(metadata, "retry-after") or ""
    if ms.isdigit():
        return int(ms)
    if seconds.isdigit():
        return int(seconds) * 1000
    return None


def from_rpc_error(error: grpc.aio.AioRpcError, request_id: str) -> web.Response:
    code = error.code()
    trailers = error.trailing_metadata()
    status = http_status_override(trailers) or HTTP_STATUS.get(code, 500)
    headers = {}
    retry_after = trailer(trailers, "retry-after")
    if retry_after and retry_after.isdigit():
        headers["Retry-After"] = retry_after
    elif status == 429:
        headers["Retry-After"] = "1"
    message = error.details() or code.name.lower()
    if code == grpc.StatusCode.UNAVAILABLE and "failed to connect" in message.lower():
        message = "the gateway core is unavailable"  # the channel's own text names internal addresses
    return error_response(status, code.name, message, request_id, headers)
