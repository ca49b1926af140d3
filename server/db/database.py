"""The handle domains use for SQL: pooled connections and transactions that fail fast while the database
is known to be down, instead of queueing for the pool's timeout."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from server.db.lease import Lease
from server.errors import Unavailable


class Database:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        is_up: Callable[[], bool],
        lease: Lease | None = None,
        on_lost: Callable[[], None] = lambda: None,
    ):
        self.pool = pool
        self._is_up = is_up
        # This process's instance lease: work in flight is stamped with its id, so a crash can be cleaned up after
        # (server/chat/recovery.py). None: nothing is stamped.
        self.lease = lease
        # Called when a connection breaks under a call (health probes at once instead of at its next interval).
        self._on_lost = on_lost

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        if not self._is_up():
            raise Unavailable("database unavailable, retry shortly", retry_after=1)
        async with self.pool.connection() as conn:
            try:
                yield conn
            except psycopg.OperationalError:
                if conn.broken:
                    self._on_lost()
                raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with self.connection() as conn, conn.transaction():
            yield conn
