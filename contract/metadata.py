"""What travels beside a call between the edge and the core: the request id, and the HTTP status and retry hints
the core asks the edge to answer with. The core writes them and the edge reads them through these functions only.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

REQUEST_ID = "x-request-id"
HTTP_STATUS = "x-http-status"
RETRY_AFTER = "retry-after"  # whole seconds, for HTTP's Retry-After
RETRY_AFTER_MS = "retry-after-ms"  # for clients that want precision (/ws and stream error frames)
# An edge's report of its open /ws sockets (edge/socket_report.py → server/system/sockets.py).
EDGE_INSTANCE = "x-astra-edge-instance"
WS_SOCKETS = "x-astra-ws-sockets"
# Sent by the edge on every call: it knows the request id it sent, so the core does not spend a round of initial
# metadata returning it early; a handler may send initial metadata of its own (a chat completion's session).
FROM_EDGE = "x-astra-edge"

# Checked on every call: a regex runs in C, a per-character loop in Python.
_VISIBLE_ID = re.compile(r"[!-~]{1,128}")


def valid_request_id(value: str) -> bool:
    """A caller's request id is kept when it is 1-128 visible ASCII characters."""
    return _VISIBLE_ID.fullmatch(value) is not None


def request_id(value: str | None) -> str:
    """The caller's request id when valid, a new UUID4 otherwise."""
    return value if value and valid_request_id(value) else str(uuid.uuid4())


def http_status_trailer(status: int) -> tuple[str, str]:
    """Asks the edge to answer with this HTTP status (a success status the method declares, or an error's more
    precise one)."""
    if not 200 <= status <= 599:
        raise ValueError(f"not an HTTP status: {status}")
    return HTTP_STATUS, str(status)


def retry_after_trailers(seconds: float) -> tuple[tuple[str, str], tuple[str, str]]:
    return (
        (RETRY_AFTER, str(max(1, math.ceil(seconds)))),
        (RETRY_AFTER_MS, str(max(1, math.ceil(seconds * 1000)))),
    )


def value(metadata: Mapping[str, Any] | Any, key: str) -> str | None:
    """One value of grpc.aio metadata (or anything with .get), as text."""
    if not metadata:
        return None
    found = metadata.get(key)
    if found is None:
        return None
    return found if isinstance(found, str) else found.decode("latin-1")


def http_status(metadata: Any) -> int | None:
    """The HTTP status the core asked for, if any."""
    raw = value(metadata, HTTP_STATUS)
    if raw and raw.isdigit() and 200 <= int(raw) <= 599:
        return int(raw)
    return None


def retry_after_s(metadata: Any) -> int | None:
    """The core's retry hint in whole seconds, if it gave one."""
    raw = value(metadata, RETRY_AFTER) or ""
    return int(raw) if raw.isdigit() else None


def retry_after_ms(metadata: Any) -> int | None:
    """The core's retry hint in milliseconds (retry-after-ms, else retry-after seconds), if it gave one."""
    raw = value(metadata, RETRY_AFTER_MS) or ""
    if raw.isdigit():
        return int(raw)
    seconds = retry_after_s(metadata)
    return None if seconds is None else seconds * 1000
