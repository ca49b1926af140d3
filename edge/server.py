"""The HTTP server the edge runs on: aiohttp's, with a deadline on reading each request's headers.

aiohttp has no such deadline of its own, so a client that sends its headers a byte at a time (slowloris) could
hold a connection, and its memory, for as long as it liked. Here a request's headers are due within
`header_timeout_s` of the connection opening, or of the first byte of the next request on a kept-alive one;
past that the connection is closed. Bodies, streams and WebSockets are not bound by it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler


class _HeaderDeadline(RequestHandler):
    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._header_timer: asyncio.TimerHandle | None = None
        self._awaiting_headers = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()  # a connection that never sends a whole request head is closed too

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers and self._header_timer is None:
            self._arm()
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:  # a request's head is complete
            self._disarm()
            self._awaiting_headers = False

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> Any:
        result = await super().finish_response(request, resp, start_time)
        # The next request's head is due from its first byte; an idle kept-alive connection is keepalive_timeout's.
        if not self._messages:
            self._awaiting_headers = True
        return result

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = asyncio.get_running_loop().call_later(self._header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        self.force_close()


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        kwargs = dict(self._kwargs)
        timeout = kwargs.pop("header_timeout_s")
        return _HeaderDeadline(self, loop=self._loop, header_timeout_s=timeout, **kwargs)


class EdgeRunner(web.AppRunner):
    """An AppRunner whose connections get the header deadline (`header_timeout_s`, seconds)."""

    def __init__(self, app: web.Application, *, header_timeout_s: float, **kwargs: Any):
        super().__init__(app, header_timeout_s=header_timeout_s, **kwargs)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The same server with our protocol factory: aiohttp builds it through the app, which has no hook for the
        # handler class, and the subclass adds no state of its own.
        server.__class__ = _Server
        return server
