"""What a workspace's MCP server may be: a name of the naming rule (server/mcp/names.py) that no operator server
has, an http(s) URL that the outbound guard lets through now (every connection is checked again), and a few
headers that cannot break the protocol."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from server.errors import AlreadyExists, InvalidArgument
from server.mcp.names import server_name_rule, valid_server_name
from server.net import ssrf

MAX_URL, MAX_HEADERS, MAX_HEADER_VALUE = 2048, 20, 4096
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
# Set by the transport itself, or meaningless per request.
_RESERVED = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "accept",
        "connection",
        "transfer-encoding",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
        "proxy-authorization",
        "mcp-session-id",
        "mcp-protocol-version",
        "last-event-id",
    }
)


def check_name(name: str, operator_names: Mapping[str, object]) -> str:
    if not valid_server_name(name):
        raise InvalidArgument(f"name must be {server_name_rule()}, got {name!r}")
    if name in operator_names:
        raise AlreadyExists(f"{name!r} is the name of one of the operator's MCP servers")
    return name


async def check_url(url: str, allow_private: bool) -> str:
    url = url.strip()
    if not url:
        raise InvalidArgument("url is required")
    if len(url) > MAX_URL:
        raise InvalidArgument(f"url must be at most {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise InvalidArgument("url must not carry user:password@ (send credentials as a header)")
    if parts.fragment:
        raise InvalidArgument("url must not have a fragment")
    try:
        await ssrf.resolve_checked(url, allow_private)
    except ssrf.BlockedURL as exc:
        raise InvalidArgument(f"url is refused: {exc}") from None
    return url


def check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    if len(headers) > MAX_HEADERS:
        raise InvalidArgument(f"headers: at most {MAX_HEADERS}")
    seen: set[str] = set()
    for name, value in headers.items():
        lowered = name.lower()
        if not _TOKEN.match(name):
            raise InvalidArgument(f"headers: {name!r} is not a valid header name")
        if lowered in _RESERVED:
            raise InvalidArgument(f"headers: {name} is set by the gateway itself")
        if lowered in seen:
            raise InvalidArgument(f"headers: {name} is given twice")
        seen.add(lowered)
        if len(value) > MAX_HEADER_VALUE or any(c in value for c in "\r\n\0"):
            raise InvalidArgument(f"headers: the value of {name} must be one line of at most {MAX_HEADER_VALUE}")
    return dict(headers)
