"""Local stand-ins for the outside world of webhooks and heartbeats: a webhook receiver and a feed/status server,
real HTTP on loopback in a daemon thread (so one server can outlive a test's event loop).

Every request is recorded. Behaviour is scripted per path from any thread:
- `respond(path, *replies)`: each request pops the next Reply (the last one repeats);
- `feed(path, items)`: serves an RSS 2.0 document with the given items.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Received:
    path: str
    method: str
    headers: dict[str, str]
    body: bytes
    at: float


def rss(items: list[dict[str, str]], title: str = "Test feed") -> str:
    """An RSS 2.0 document; each item has guid, title, link and optionally description."""
    entries = "".join(
        "<item>"
        f"<guid>{escape(i['guid'])}</guid><title>{escape(i['title'])}</title><link>{escape(i.get('link', ''))}</link>"
        f"<description>{escape(i.get('description', ''))}</description>"
        "<pubDate>Sun, 29 Nov 2026 05:00:00 GMT</pubDate></item>"
        for i in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>http://example.com/</link><description>t</description>{entries}"
        "</channel></rss>"
    )


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="receiver", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def respond(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts[path] = list(replies)

    def feed(self, path: str, items: list[dict[str, str]]) -> None:
        self.respond(path, Reply(200, rss(items), {"Content-Type": "application/rss+xml"}))

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self.requests.append(Received(request.path, request.method, dict(request.headers), body, time.time()))
            script = self._scripts.get(request.path) or [Reply(404, "no such path")]
            reply = script.pop(0) if len(script) > 1 else script[0]
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return web.Response(status=reply.status, text=reply.body, headers=reply.headers)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = runner.addresses[0][1]
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

        asyncio.run(main())

    def start(self) -> Receiver:
        self._thread.start()
        self._ready.wait(10)
        assert self.port, "receiver failed to start"
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
