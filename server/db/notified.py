"""Rows kept per process and dropped on every replica when PostgreSQL says they changed.

A cache groups its rows under the id that a trigger names in `NOTIFY <channel>` at commit (a user, an agent, a
workspace), and `listen` drops that group on every replica. The replica that made a change also calls `forget`
once it has committed, because its own notice arrives asynchronously and its next answer must not be stale.
While the listener is not connected nothing is cached, since notices sent meanwhile are lost; `max_age_s` bounds
what a missed notice could cost anyway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection

from server.db.database import Database

log = logging.getLogger(__name__)

Row = dict[str, Any]


class NotifiedCache:
    def __init__(
        self,
        channel: str,
        keep: Callable[[Row], bool] = lambda row: True,
        max_age_s: float = 30.0,
        max_groups: int = 50_000,
    ):
        self.channel = channel
        # Only rows `keep` accepts are stored and served: a cache of rows that grant something can skip
        # notices for additions, and a row whose grant lapses with time stops being served when it lapses.
        self.keep = keep
        self.max_age_s = max_age_s
        self.max_groups = max_groups
        self.listening = False
        # Bumped by every drop: a row read from the database before a drop must not be stored after it.
        self.generation = 0
        self._rows: dict[str, dict[Hashable, tuple[float, Row]]] = {}

    def get(self, group: str, key: Hashable) -> Row | None:
        entries = self._rows.get(group)
        entry = entries.get(key) if entries else None
        if entry is None or not self.listening or time.monotonic() - entry[0] > self.max_age_s:
            return None
        return entry[1] if self.keep(entry[1]) else None

    def put(self, group: str, key: Hashable, row: Row, generation: int) -> None:
        if not self.listening or generation != self.generation or not self.keep(row):
            return
        if len(self._rows) >= self.max_groups and group not in self._rows:
            self._rows.clear()  # simplest bound: a full cache starts over
        self._rows.setdefault(group, {})[key] = (time.monotonic(), row)

    async def read(
        self,
        group: str,
        key: Hashable,
        source: Database | AsyncConnection,
        query: Callable[[AsyncConnection], Awaitable[Row | None]],
    ) -> Row | None:
        """The cached row, or `query`'s answer (stored when kept) on `source`: a pooled connection is taken only
        on a miss, and a caller already holding one passes it."""
        row = self.get(group, key)
        if row is None:
            generation = self.generation
            if isinstance(source, Database):
                async with source.connection() as conn:
                    row = await query(conn)
            else:
                row = await query(source)
            if row is not None:
                self.put(group, key, row, generation)
        return row

    def forget(self, group: str) -> None:
        self.generation += 1
        self._rows.pop(group, None)

    def reset(self, listening: bool) -> None:
        self.generation += 1
        self._rows.clear()
        self.listening = listening


async def listen(conninfo: str, caches: Sequence[NotifiedCache], retry_s: float = 1.0) -> None:
    """Runs until cancelled: LISTEN on every cache's channel on one connection, reconnecting after a failure."""
    by_channel = {cache.channel: cache for cache in caches}
    lost = False  # logged once per outage, not on every reconnection attempt
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                for channel in by_channel:
                    await conn.execute(f"LISTEN {channel}")
                for cache in caches:
                    cache.reset(listening=True)
                if lost:
                    log.info("cache listener back; caching resumed")
                    lost = False
                async for notice in conn.notifies():
                    by_channel[notice.channel].forget(notice.payload)
        except psycopg.Error as exc:
            if not lost:
                log.warning("cache listener lost; caching paused", extra={"error": str(exc)})
                lost = True
        finally:
            for cache in caches:
                cache.reset(listening=False)
        await asyncio.sleep(retry_s)
