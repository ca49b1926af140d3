"""The handle domains use for SQL: pooled connections and transactions that fail fast while the database
is known to be down, instead of queueing for the pool's timeout."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from server.errors import Unavailable


class Database:
    def __init__(self, pool: AsyncConnectionPool, is_up: Callable[[], bool]):
        self.pool = pool
        self._is_up = is_up

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        if not self._is_up():
            raise Unavailable("database unavailable, retry shortly", retry_after=1)
        async with self.pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with self.connection() as conn, conn.transaction():
            yield conn
