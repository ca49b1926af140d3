"""SystemService: deep health, readiness (503 while draining or without a database) and /metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import grpc
from google.api import httpbody_pb2
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from astra.v1 import system_pb2, system_pb2_grpc
from contract.errors import ErrorCode
from contract.metadata import http_status_trailer
from server import __version__
from server.db.migrate import pending
from server.deps import Deps
from server.interceptors.base import add_trailers, metadata_value
from server.system.sockets import SocketReports

Check = Callable[[], Awaitable[str]]  # returns a failure detail, or "" when fine


def _unavailable(context: grpc.aio.ServicerContext) -> None:
    # The body stays a normal response (what is down, and why); the edge answers with UNAVAILABLE's HTTP status.
    add_trailers(context, http_status_trailer(ErrorCode.UNAVAILABLE.http))


class SystemService(system_pb2_grpc.SystemServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps
        self.socket_reports = SocketReports(deps.db, deps.settings.trusted_proxies)

    async def _query(self, sql: str) -> object:
        async with self.deps.db.connection() as conn:
            cur = await conn.execute(sql)
            row = await cur.fetchone()
            return next(iter(row.values())) if row else None

    async def _database(self) -> str:
        return "" if await self._query("SELECT 1") == 1 else "unexpected answer"

    async def _pgvector(self) -> str:
        version = await self._query("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        return "" if version else "extension vector is not installed"

    async def _search(self) -> str:
        matched = await self._query("SELECT to_tsvector('english', 'ready') @@ plainto_tsquery('english', 'ready')")
        return "" if matched else "full-text search does not match"

    async def _migrations(self) -> str:
        async with self.deps.db.connection() as conn:
            missing = await pending(conn)
        return f"pending: {', '.join(missing)}" if missing else ""

    async def _run(self, name: str, check: Check, required: bool) -> system_pb2.HealthCheck:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(3):
                detail = await check()
        except TimeoutError:
            detail = "timed out after 3s"
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}".strip()
        return system_pb2.HealthCheck(
            name=name,
            status="down" if detail else "ok",
            required=required,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            detail=detail,
        )

    async def Health(
        self, request: system_pb2.HealthRequest, context: grpc.aio.ServicerContext
    ) -> system_pb2.HealthResponse:
        checks = await asyncio.gather(
            self._run("database", self._database, True),
            self._run("pgvector", self._pgvector, True),
            self._run("search", self._search, True),
            self._run("migrations", self._migrations, True),
        )
        down = [c for c in checks if c.status != "ok"]
        status = "down" if any(c.required for c in down) else "degraded" if down else "ok"
        if status == "down":
            _unavailable(context)
        return system_pb2.HealthResponse(
            status=status,
            checks=checks,
            version=__version__,
            uptime_seconds=round(time.time() - self.deps.health.started_at, 3),
        )

    async def Readiness(
        self, request: system_pb2.ReadinessRequest, context: grpc.aio.ServicerContext
    ) -> system_pb2.ReadinessResponse:
        health = self.deps.health
        # The edge in front says x-edge-draining while it shuts down on its own (edge role).
        draining = health.draining or metadata_value(context, "x-edge-draining") == "1"
        reason = "draining" if draining else "" if health.db_ok else "database unavailable"
        if reason:
            _unavailable(context)
        if health.db_ok:
            # Edges report their open /ws sockets on this call every few seconds (server/system/sockets.py).
            await self.socket_reports.note(context)
        return system_pb2.ReadinessResponse(ready=not reason, reason=reason)

    async def Metrics(
        self, request: system_pb2.MetricsRequest, context: grpc.aio.ServicerContext
    ) -> httpbody_pb2.HttpBody:
        return httpbody_pb2.HttpBody(content_type=CONTENT_TYPE_LATEST, data=generate_latest(REGISTRY))
