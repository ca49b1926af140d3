"""Request id and the headers the edge forwards to the core as gRPC metadata."""

from __future__ import annotations

import re

from aiohttp import web

from contract import metadata
from contract.errors import ErrorCode
from edge.errors import EdgeError

# Per-request state the edge keeps: the request id, and the matched route template (the metrics label).
REQUEST_ID = web.RequestKey("request_id", str)
ROUTE = web.RequestKey("route", str)

# HTTP header -> metadata key. The core decides what each means; the edge only carries them.
FORWARDED = {
    "Authorization": "authorization",
    "X-Api-Key": "x-api-key",
    "X-Workspace-Id": "x-workspace-id",
    "Idempotency-Key": "idempotency-key",
    "X-Idempotency-Key": "idempotency-key",
    "If-Match": "if-match",
    "User-Agent": "user-agent",
    "X-Astra-Session-Id": "x-astra-session-id",
}


# Checked per request on every header the edge forwards: a regex runs in C, a per-character loop in Python.
_PRINTABLE = re.compile(r"[ -~]*")


def request_id_from(request: web.BaseRequest) -> str:
    """The caller's X-Request-ID when the contract's rule keeps it, a new UUID4 otherwise."""
    return metadata.request_id(request.headers.get("X-Request-ID"))


# Informational headers that are dropped, rather than refused, when gRPC metadata cannot carry their value.
DROPPABLE = frozenset({"user-agent"})


def _printable(value: str) -> bool:
    return _PRINTABLE.fullmatch(value) is not None


def outgoing_metadata(request: web.Request, request_id: str) -> tuple[tuple[str, str], ...]:
    """Raises EdgeError(INVALID_ARGUMENT) for a header the core needs whose value gRPC metadata cannot carry (e.g.
    a TAB)."""
    forwarded = [(metadata.REQUEST_ID, request_id), (metadata.FROM_EDGE, "1")]
    seen = set()
    for header, key in FORWARDED.items():
        value = request.headers.get(header)
        if not value or key in seen:
            continue
        if not _printable(value):
            if key in DROPPABLE:
                continue
            raise EdgeError(ErrorCode.INVALID_ARGUMENT, f"header {header} contains characters that are not allowed")
        forwarded.append((key, value))
        seen.add(key)
    # The address the edge saw, not one a client claims: a client-supplied X-Forwarded-For is not trusted.
    if request.remote:
        forwarded.append(("x-forwarded-for", request.remote))
    return tuple(forwarded)


# Metadata the core may send back that the edge returns as response headers (values are the core's).
RESPONSE_HEADERS = {
    "etag": "ETag",
    "idempotent-replayed": "Idempotent-Replayed",
    "x-astra-overhead-ms": "X-Astra-Overhead-Ms",
    "x-astra-session-id": "X-Astra-Session-Id",
}


def response_headers(*sources: object) -> dict[str, str]:
    """Headers from the call's initial and trailing metadata, for the keys in RESPONSE_HEADERS."""
    headers = {}
    for md in sources:
        for key, value in md or ():  # type: ignore[attr-defined]
            header = RESPONSE_HEADERS.get(key)
            if header and isinstance(value, str):
                headers[header] = value
    return headers
