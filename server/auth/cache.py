"""The membership row that authenticates a call, kept per process so most calls skip that query.

Only rows that grant a role are kept, so a new member or workspace is seen at once. Whatever takes access
away (logout, a role change, a removal) fires NOTIFY astra_auth from a trigger at commit (migration 0009), and
every replica's listener drops that user's rows; the replica that made the change also drops them itself before
it answers, so its own next call never sees the old row. While the listener is not connected nothing is cached,
because notices sent meanwhile are lost; `max_age_s` bounds what a missed notice could cost anyway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "astra_auth"


class MembershipCache:
    def __init__(self, max_age_s: float = 30.0, max_users: int = 50_000):
        self.max_age_s = max_age_s
        self.max_users = max_users
        self.listening = False
        # Bumped by every drop: a row read from the database before a drop must not be stored after it.
        self.generation = 0
        self._rows: dict[str, dict[str | None, tuple[float, dict[str, Any]]]] = {}

    def get(self, user_id: str, workspace_id: str | None) -> dict[str, Any] | None:
        entry = self._rows.get(user_id, {}).get(workspace_id)
        if entry is None or not self.listening or time.monotonic() - entry[0] > self.max_age_s:
            return None
        return entry[1]

    def put(self, user_id: str, workspace_id: str | None, row: dict[str, Any], generation: int) -> None:
        if not self.listening or generation != self.generation or row["role"] is None:
            return
        if len(self._rows) >= self.max_users and user_id not in self._rows:
            self._rows.clear()  # simplest bound: a full cache starts over
        self._rows.setdefault(user_id, {})[workspace_id] = (time.monotonic(), row)

    def forget(self, user_id: str) -> None:
        self.generation += 1
        self._rows.pop(user_id, None)

    def _reset(self, listening: bool) -> None:
        self.generation += 1
        self._rows.clear()
        self.listening = listening

    async def listen(self, conninfo: str, retry_s: float = 1.0) -> None:
        """Runs until cancelled: LISTEN on its own connection, reconnecting after a failure."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._reset(listening=True)
                    async for notice in conn.notifies():
                        self.forget(notice.payload)
            except psycopg.Error as exc:
                log.warning("auth cache listener lost; caching paused", extra={"error": str(exc)})
            finally:
                self._reset(listening=False)
            await asyncio.sleep(retry_s)
