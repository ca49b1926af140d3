"""One aiohttp request served by an ASGI application (the MCP SDK's transport is ASGI).

Only what a streamed HTTP response needs: the request body is read whole (aiohttp bounds it by the app's
client_max_size), the response is streamed as the application sends it, and a client that goes away is reported as
`http.disconnect`. No lifespan and no WebSocket: whoever mounts the application runs its lifespan.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import web

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

# Hop-by-hop headers are the HTTP server's business, not the application's.
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding"})


def scope_of(request: web.Request, body: bytes, **extra: Any) -> Scope:
    """The ASGI HTTP scope of an aiohttp request; `extra` keys are added for the application to read."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": f"{request.version.major}.{request.version.minor}",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.raw_path.split("?", 1)[0].encode("latin-1"),
        "query_string": request.query_string.encode("latin-1"),
        "root_path": "",
        "headers": [(name.lower(), value) for name, value in request.raw_headers],
        "client": tuple(peer[:2]) if isinstance(peer, tuple) else None,
        "server": tuple(sock[:2]) if isinstance(sock, tuple) else None,
        "state": {},
        **extra,
    }


async def serve(app: ASGIApp, request: web.Request, **extra: Any) -> web.StreamResponse:
    """Runs `app` for `request` and answers with what it sent; `extra` goes into the scope."""
    body = await request.read()
    finished = asyncio.Event()
    delivered = False
    response: web.StreamResponse | None = None
    start: Message | None = None

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        # Nothing more will come: an application listening for the disconnect waits until the response is over
        # (or the client went away, which a failed write reports).
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal response, start
        if finished.is_set():
            return  # the client is gone; the application learns it from receive()
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            return
        try:
            if response is None:
                response = web.StreamResponse(status=start["status"])
                for name, value in start.get("headers", ()):
                    if name.lower() not in _HOP_BY_HOP:
                        response.headers.add(name.decode("latin-1"), value.decode("latin-1"))
                await response.prepare(request)
            if message.get("body"):
                await response.write(message["body"])
            if not message.get("more_body", False):
                await response.write_eof()
                finished.set()
        except (ConnectionResetError, ConnectionError):
            finished.set()

    try:
        await app(scope_of(request, body, **extra), receive, send)
    finally:
        finished.set()
    if response is None:
        # The application answered nothing at all (a bug): the edge's middleware turns this into a JSON 500.
        raise RuntimeError("the MCP transport sent no response")
    return response
