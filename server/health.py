"""Liveness of the parts the core needs, probed in the background, mirrored into grpc.health.v1."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

import psycopg
from grpc_health.v1 import health, health_pb2
from psycopg_pool import AsyncConnectionPool

from server.metrics import DB_UP

log = logging.getLogger(__name__)

FIRST_RETRY_S = 0.25
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthState:
    """Database reachability (probed every interval) and the draining flag set on SIGTERM."""

    def __init__(self, services: Iterable[str], interval_s: float = 2.0):
        self.servicer = health.aio.HealthServicer()
        self.services = ["", *services]
        self.interval_s = interval_s
        self.started_at = time.time()
        self.db_ok = False
        self.db_error = "not probed yet"
        self.draining = False
        self._task: asyncio.Task[None] | None = None
        # Set to probe now rather than at the next interval (the embedded supervisor saw the postmaster die or return).
        self._wake = asyncio.Event()
        self._check_pool = False
        # Set when the database is reachable; replaced by a fresh one when it is lost, so a waiter sees the return.
        self._reachable = asyncio.Event()

    @property
    def serving(self) -> bool:
        return self.db_ok and not self.draining

    async def _publish(self) -> None:
        status = SERVING if self.serving else NOT_SERVING
        for name in self.services:
            await self.servicer.set(name, status)

    async def probe(self, conninfo: str, pool: AsyncConnectionPool) -> None:
        """Checks the database on a connection of its own, so a pool full of broken (or busy) connections
        cannot hide whether the server itself is up."""
        timeout = max(1.0, self.interval_s)
        try:
            async with asyncio.timeout(timeout):
                async with await psycopg.AsyncConnection.connect(conninfo, connect_timeout=int(timeout) + 1) as conn:
                    await conn.execute("SELECT 1")
            ok, error = True, ""
        except Exception as exc:  # any failure means "not reachable"; the reason goes to the log
            ok, error = False, f"{type(exc).__name__}: {exc}".strip()
        if ok != self.db_ok:
            (log.info if ok else log.error)(
                "database " + ("reachable" if ok else "unreachable"), extra={"error": error}
            )
        if ok and (ok != self.db_ok or self._check_pool):
            # Drop connections that broke during the outage now, rather than on their next use; the pool opens
            # replacements at once (psycopg_pool), so calls find working connections when readiness says 200.
            await pool.check()
            self._check_pool = False
        self.db_ok, self.db_error = ok, error
        if ok:
            self._reachable.set()
        elif self._reachable.is_set():
            self._reachable = asyncio.Event()
        DB_UP.set(1 if ok else 0)
        await self._publish()

    def reachable(self) -> asyncio.Event:
        """An event set while (or as soon as) the database is reachable: one taken during an outage is set when the
        outage ends, so a worker backing off can wait on it as well as on its timer."""
        return self._reachable

    def poke(self) -> None:
        """Probe now instead of at the end of the interval, and check the pool's connections on the next success
        even if no probe saw the database down (a restart quicker than a probe). Call on the event loop."""
        self._check_pool = True
        self._wake.set()

    def start(self, conninfo: str, pool: AsyncConnectionPool) -> None:
        async def loop() -> None:
            # While the database is down, probe sooner (0.25 s, doubling up to the interval): a restart is usually
            # over in well under the interval, and readiness should say so as soon as it is.
            retry = FIRST_RETRY_S
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval_s if self.db_ok else retry)
                self._wake.clear()
                await self.probe(conninfo, pool)
                retry = FIRST_RETRY_S if self.db_ok else min(retry * 2, self.interval_s)

        self._task = asyncio.create_task(loop(), name="health-probe")

    async def start_draining(self) -> None:
        self.draining = True
        await self._publish()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.servicer.enter_graceful_shutdown()
