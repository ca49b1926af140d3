"""The HTTP client an MCP session uses. A workspace's server is the workspace's choice of URL, so every connection
to it goes through the outbound guard (server/net/ssrf.py) when it is opened: the host is resolved and checked then,
and the socket connects to the checked address (a DNS answer that changes later cannot steer it). The MCP SDK
talks through httpx2, so the guard sits in its network backend; TLS still verifies the URL's own host name."""

from __future__ import annotations

from collections.abc import Iterable

import httpcore2
import httpx2
from opentelemetry import propagate

from server import telemetry
from server.net import ssrf


class GuardRefused(httpcore2.ConnectError):
    """The outbound guard refused the address a connection was about to reach (httpx2 reports it as a
    ConnectError, like any other connection that could not be made)."""


class _GuardedBackend(httpcore2.AsyncNetworkBackend):
    def __init__(self, allow_private: bool):
        self._inner = httpcore2.AnyIOBackend()
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        literal = f"[{host}]" if ":" in host else host
        try:
            _, _, ip = await ssrf.resolve_checked(f"http://{literal}:{port}/", self._allow_private)
        except ssrf.BlockedURL as exc:
            raise GuardRefused(f"refused: {exc}") from None
        return await self._inner.connect_tcp(ip, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise GuardRefused("unix sockets are not reachable from a workspace's MCP server")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx2.AsyncHTTPTransport):
    def __init__(self, allow_private: bool):
        super().__init__(trust_env=False)
        # The same pool httpx2 builds, with the guarded backend under it (no proxy: a proxy would connect for us).
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            max_connections=20,
            max_keepalive_connections=5,
            keepalive_expiry=30.0,
            network_backend=_GuardedBackend(allow_private),
        )


def http_client(
    headers: dict[str, str], connect_timeout_s: float, guarded: bool, allow_private: bool
) -> httpx2.AsyncClient:
    """A client for one MCP session: its headers on every request; calls are timed by the caller (the SSE read
    timeout only bounds a silent stream)."""
    timeout = httpx2.Timeout(connect_timeout_s, read=300.0)
    # The SDK posts each message in its sender's context, where the call's span is current.
    hooks = {"request": [_propagate]} if telemetry.tracing() else None
    if not guarded:
        return httpx2.AsyncClient(headers=headers, timeout=timeout, trust_env=False, event_hooks=hooks)
    return httpx2.AsyncClient(
        headers=headers, timeout=timeout, trust_env=False, event_hooks=hooks, transport=_GuardedTransport(allow_private)
    )


async def _propagate(request: httpx2.Request) -> None:
    """The W3C traceparent (and tracestate) of the current span in the request's headers."""
    propagate.inject(request.headers)
