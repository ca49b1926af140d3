"""Every error the edge answers, rendered for each surface: the unary JSON body, the SSE/NDJSON stream error frame
and the /ws error frame.

An error is first a `Failure`, whatever its origin (a refusal of the edge's own, a failed call); its code and HTTP
status come from the contract's vocabulary (contract/errors.py), so the edge chooses no status itself. Each surface's
shape is one function of a Failure: the OpenAI dialect's error body (edge/openai_dialect.py) is one more function.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from aiohttp import web

from contract import metadata
from contract.errors import ErrorCode


@dataclass(frozen=True)
class Failure:
    code: ErrorCode
    message: str  # may be empty: each rendering says what stands in for it
    status: int | None = None  # the HTTP status when the core asked for a more precise one than the code's
    retry_after_ms: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # HTTP only (Allow, Retry-After)

    @property
    def http_status(self) -> int:
        return self.status or self.code.http


class EdgeError(Exception):
    """A request the edge refuses before it reaches the core."""

    def __init__(self, code: ErrorCode, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return self.code.http

    def failure(self) -> Failure:
        return Failure(self.code, self.message, headers=self.headers)


def method_not_allowed(method: str, path: str, allowed: Iterable[str]) -> EdgeError:
    return EdgeError(ErrorCode.METHOD_NOT_ALLOWED, f"{method} is not allowed on {path}", {"Allow": ", ".join(allowed)})


def from_rpc_error(error: grpc.aio.AioRpcError) -> Failure:
    """A failed call: its status's code, and the HTTP status and retry hint the core asked for."""
    code = ErrorCode.of_status(error.code())
    trailers = error.trailing_metadata()
    status = metadata.http_status(trailers)
    headers = {}
    seconds = metadata.retry_after_s(trailers)
    if seconds is not None:
        headers["Retry-After"] = str(seconds)
    elif (status or code.http) == 429:
        headers["Retry-After"] = "1"
    message = error.details() or ""
    if code is ErrorCode.UNAVAILABLE and "failed to connect" in message.lower():
        message = "the gateway core is unavailable"  # the channel's own text names internal addresses
    return Failure(code, message, status, metadata.retry_after_ms(trailers), headers)


# -- renderings ---------------------------------------------------------------------------------------------------


def json_response(failure: Failure, request_id: str) -> web.Response:
    """REST: `{"error": {"code": "NOT_FOUND", "message": …}, "requestId": …}` with the failure's HTTP status (401
    with WWW-Authenticate, 429 with Retry-After)."""
    headers = dict(failure.headers)
    if failure.http_status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="astra"')
    body = {
        "error": {"code": failure.code.wire, "message": failure.message or failure.code.wire.lower()},
        "requestId": request_id,
    }
    return web.Response(
        status=failure.http_status, body=json.dumps(body).encode(), content_type="application/json", headers=headers
    )


def stream_frame(failure: Failure) -> tuple[str, dict[str, Any]]:
    """SSE/NDJSON: the last frame of a stream whose call failed after it started (the HTTP status was sent)."""
    payload: dict[str, Any] = {"code": failure.code.wire, "message": failure.message}
    if failure.retry_after_ms is not None:
        payload["retryAfterMs"] = failure.retry_after_ms
    return "error", payload


def ws_frame(failure: Failure) -> dict[str, Any]:
    """/ws: `{"type": "error", "code": …, "message": …}`, codes in lower case; a rate limit is `rate_limited` and
    always says when to try again."""
    code, message, extra = failure.code, failure.message, {}
    if code in (ErrorCode.RESOURCE_EXHAUSTED, ErrorCode.RATE_LIMITED):
        code, message = ErrorCode.RATE_LIMITED, message or "rate limited"
        extra["retryAfterMs"] = failure.retry_after_ms or 1000
    return {"type": "error", "code": code.wire.lower(), "message": message, **extra}


# OpenAI's error type for each HTTP status its SDKs map to an exception class, and the codes it answers with.
_OPENAI_TYPES = {
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    409: "conflict_error",
    429: "rate_limit_error",
}
_OPENAI_CODES = {
    401: "invalid_api_key",
    402: "insufficient_quota",
    403: "permission_denied",
    429: "rate_limit_exceeded",
}


def openai_error(failure: Failure, code: str | None = None) -> dict[str, Any]:
    """The OpenAI dialect: `{"error": {"message", "type", "param", "code"}}`, the same as a response body and as a
    stream's last `data:` line. `code` when the dialect knows a better one than the status's (model_not_found);
    otherwise OpenAI's for the status, or the contract's code in lower case."""
    status = failure.http_status
    kind = _OPENAI_TYPES.get(status) or ("server_error" if status >= 500 else "invalid_request_error")
    return {
        "error": {
            "message": failure.message or failure.code.wire.lower(),
            "type": kind,
            "param": None,
            "code": code or _OPENAI_CODES.get(status) or _precise(failure).wire.lower(),
        }
    }


def _precise(failure: Failure) -> ErrorCode:
    """The code a call's HTTP status singles out among those of its gRPC status (502: provider_error)."""
    if failure.status is not None and failure.status != failure.code.http:
        for code in ErrorCode:
            if code.grpc is failure.code.grpc and code.http == failure.status:
                return code
    return failure.code


def openai_response(failure: Failure, code: str | None = None) -> web.Response:
    """The OpenAI dialect's error response: `openai_error` with the failure's HTTP status (401 with
    WWW-Authenticate, 429 with Retry-After); no Astra error body."""
    headers = dict(failure.headers)
    if failure.http_status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="astra"')
    body = json.dumps(openai_error(failure, code)).encode()
    return web.Response(status=failure.http_status, body=body, content_type="application/json", headers=headers)
