"""A real gateway (gRPC core + edge) on loopback ports, run in a thread with its own event loop."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import replace
from typing import Any

from aiohttp import web

from edge.app import create_app
from edge.server import EdgeRunner
from server import telemetry
from server.app import Core, ServicerFactory
from server.cli import edge_config
from server.config import Settings
from server.logs import JsonFormatter

TEST_SECRET = "test-secret-0123456789-abcdefghijklmnop"
API_KEY = "test-admin-key-0123456789"
ALLOWED_ORIGIN = "https://app.example.com"


def test_settings(database_url: str, **overrides: Any) -> Settings:
    base = Settings(
        http_host="127.0.0.1",
        grpc_host="127.0.0.1",
        grpc_port=0,
        database_url=database_url,
        jwt_secret=TEST_SECRET,
        api_keys=(API_KEY,),
        cors_origins=(ALLOWED_ORIGIN,),
        health_interval_s=0.3,
        drain_delay_s=0.2,
        shutdown_grace_s=2.0,
        db_pool_min=1,
        db_pool_max=8,
        # Every test registers from 127.0.0.1; tests/test_auth_hardening.py sets a limit of its own.
        register_max_per_hour=0,
    )
    return replace(base, **overrides)


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test, despite its name


class LogCapture(logging.Handler):
    """Keeps every log line as the JSON object the gateway writes."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def with_request_id(self, request_id: str) -> list[dict[str, Any]]:
        return [line for line in list(self.lines) if line.get("request_id") == request_id]


class GatewayThread:
    def __init__(
        self,
        settings: Settings,
        servicers: dict[str, ServicerFactory] | None = None,
        sse_keepalive_s: float = 15.0,
        exporter: Any = None,
    ):
        """`exporter` (an OpenTelemetry SpanExporter, e.g. InMemorySpanExporter): trace this process while the
        gateway runs, as OTEL_EXPORTER_OTLP_ENDPOINT does for `astra serve`."""
        self.settings = settings
        self.exporter = exporter
        self.servicers = servicers
        self.sse_keepalive_s = sse_keepalive_s
        self.core: Core | None = None
        self.app: web.Application | None = None
        self.http_port = 0
        self.grpc_port = 0
        self.logs = LogCapture()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="gateway", daemon=True)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test thread by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.core = Core(self.settings, self.servicers)
        await self.core.start()
        self.grpc_port = self.core.port
        config = edge_config(replace(self.settings, sse_keepalive_s=self.sse_keepalive_s), "in-process")
        self.app = create_app(config, self.core.local_channel)  # as `astra serve` wires it
        runner = EdgeRunner(
            self.app,
            header_timeout_s=self.settings.http_header_timeout_s,
            keepalive_timeout=self.settings.http_keepalive_s,
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=1,
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.http_port = runner.addresses[0][1]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()
        await self.core.stop(0)

    def start(self) -> GatewayThread:
        root = logging.getLogger()
        root.addHandler(self.logs)
        root.setLevel(logging.INFO)
        if self.exporter is not None:
            telemetry.configure(self.settings, exporter=self.exporter)
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise RuntimeError("gateway failed to start") from self._error
        return self

    def run(self, coro: Any, timeout: float = 10) -> Any:
        """Runs a coroutine on the gateway's loop (e.g. to flip internal state) and returns its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        logging.getLogger().removeHandler(self.logs)
        if self.exporter is not None:
            telemetry.reset()
